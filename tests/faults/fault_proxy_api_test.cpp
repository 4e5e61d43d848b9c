// The Toxiproxy-shaped API over a real HttpServer: proxies and toxics created, listed and
// deleted over HTTP take effect on the wire; bad parameters get 400 with a specific message.
#include "scenarios/faults/fault_proxy_api.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "core/http/http_client.hpp"
#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "scenarios/faults/fault_network.hpp"
#include "tests/faults/loopback_peers.hpp"

namespace gatedrill {
namespace {

using test_peers::Client;
using test_peers::EchoServer;
using test_peers::pattern;

class FaultProxyApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_.register_faults(faults_);
    api_.add_metrics(metrics_);
    api_.install(server_);
    auto started = server_.start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    base_ = "http://127.0.0.1:" + std::to_string(server_.port());
  }

  HttpResponse call(const char* method, const std::string& path, const std::string& body = "") {
    auto r = http_request(method, base_ + path, {{"content-type", "application/json"}}, body);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : HttpResponse{};
  }

  std::string create_echo_proxy() {
    auto r = call("POST", "/proxies",
                  R"({"name":"echo","listen":"127.0.0.1:0","upstream":"127.0.0.1:)" +
                      std::to_string(echo_.port()) + R"(","enabled":true})");
    EXPECT_EQ(r.status, 201) << r.body;
    return r.body;
  }

  static std::string error_message(const HttpResponse& r) {
    auto body = parse_json_object(r.body);
    if (!body || !body->contains("error")) return "";
    return std::string(body->at("error").at("message").as_string());
  }

  EchoServer echo_;
  FaultProxy proxy_;
  FaultProxyApi api_{proxy_};
  SystemTimeSource time_;
  MetricsRegistry metrics_;
  FaultRegistry faults_{time_};
  AdminServer server_{time_, metrics_, faults_, HttpServerOptions{}};
  std::string base_;
};

TEST_F(FaultProxyApiTest, CreatedProxyForwardsAndToxicsApplyOverHttp) {
  auto created = parse_json_object(create_echo_proxy());
  ASSERT_TRUE(created.ok());
  const std::string listen(created->at("listen").as_string());
  auto hp = split_host_port(listen);
  ASSERT_TRUE(hp.ok()) << listen;
  ASSERT_NE(hp->second, 0);

  Client client(hp->second);
  client.send_all("ping");
  EXPECT_EQ(client.receive(4, 5000).data, "ping");

  auto added = call(
      "POST", "/proxies/echo/toxics",
      R"({"name":"cut","type":"limit_data","stream":"downstream","toxicity":1.0,"attributes":{"bytes":6}})");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(boost::json::parse(added.body).at("attributes").at("bytes").as_int64(), 6);
  client.send_all("0123456789");
  auto r = client.receive(10, 5000);
  EXPECT_EQ(r.data, "01");  // 4 bytes went through before the toxic, 2 more fit
  EXPECT_EQ(r.end, Client::End::kEof);

  auto listed = call("GET", "/proxies");
  ASSERT_EQ(listed.status, 200);
  auto all = boost::json::parse(listed.body);
  EXPECT_EQ(all.at("echo").at("toxics").as_array().size(), 1u);
  EXPECT_EQ(call("GET", "/proxies/echo/toxics/cut").status, 200);
  EXPECT_EQ(call("DELETE", "/proxies/echo/toxics/cut").status, 204);
  EXPECT_EQ(call("GET", "/proxies/echo/toxics").body, "[]");
  EXPECT_EQ(call("DELETE", "/proxies/echo").status, 204);
  EXPECT_EQ(call("GET", "/proxies/echo").status, 404);
}

TEST_F(FaultProxyApiTest, BadParametersAre400WithASpecificMessage) {
  create_echo_proxy();
  auto unknown = call("POST", "/proxies/echo/toxics", R"({"type":"packet_loss"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(error_message(unknown).find("unknown toxic type 'packet_loss'"), std::string::npos);
  auto negative =
      call("POST", "/proxies/echo/toxics", R"({"type":"latency","attributes":{"latency":-1}})");
  EXPECT_EQ(negative.status, 400);
  EXPECT_NE(error_message(negative).find("attributes.latency must be >= 0"), std::string::npos);
  auto not_json = call("POST", "/proxies/echo/toxics", "{type:");
  EXPECT_EQ(not_json.status, 400);
  auto bad_listen =
      call("POST", "/proxies", R"({"name":"x","listen":"127.0.0.1","upstream":"127.0.0.1:1"})");
  EXPECT_EQ(bad_listen.status, 400);
  EXPECT_NE(error_message(bad_listen).find("listen:"), std::string::npos);
  auto missing = call("POST", "/proxies", R"({"name":"x","listen":"127.0.0.1:0"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(error_message(missing).find("\"upstream\""), std::string::npos);
  auto bad_netns = call("POST", "/proxies",
                        R"({"name":"x","listen":"127.0.0.1:0","upstream":"127.0.0.1:1",)"
                        R"("listen_netns":5})");
  EXPECT_EQ(bad_netns.status, 400);
  auto no_netns = call("POST", "/proxies",
                       R"({"name":"x","listen":"127.0.0.1:0","upstream":"127.0.0.1:1",)"
                       R"("listen_netns":"gatedrill-no-such-netns"})");
  EXPECT_GE(no_netns.status, 400);
  EXPECT_NE(error_message(no_netns).find("gatedrill-no-such-netns"), std::string::npos);
}

TEST_F(FaultProxyApiTest, ProxiesCanLiveInNetworkNamespaces) {
  auto net = FaultNetwork::create();
  if (!net) GTEST_SKIP() << "no network namespaces here: " << net.error().message;
  const std::string inside = std::string(FaultNetwork::server_address()) + ":7000";
  auto out =
      call("POST", "/proxies",
           R"({"name":"out","listen":")" + inside + R"(","listen_netns":")" + (*net)->server_ns() +
               R"(","upstream":"127.0.0.1:)" + std::to_string(echo_.port()) + R"("})");
  ASSERT_EQ(out.status, 201) << out.body;
  EXPECT_NE(out.body.find("\"listen_netns\":\"" + (*net)->server_ns()), std::string::npos);
  auto in = call("POST", "/proxies",
                 R"({"name":"in","listen":"127.0.0.1:0","upstream":")" + inside +
                     R"(","upstream_netns":")" + (*net)->client_ns() + R"("})");
  ASSERT_EQ(in.status, 201) << in.body;
  auto info = proxy_.proxy("in");
  ASSERT_TRUE(info);
  // Host -> client namespace -> router -> server namespace -> host, and back.
  Client client(info->port);
  client.send_all(pattern(200));
  EXPECT_EQ(client.receive(200, 3000).data, pattern(200));
}

TEST_F(FaultProxyApiTest, UnknownNamesAre404AndDuplicates409) {
  create_echo_proxy();
  EXPECT_EQ(call("GET", "/proxies/nope").status, 404);
  EXPECT_EQ(call("POST", "/proxies/nope/toxics", R"({"type":"latency"})").status, 404);
  EXPECT_EQ(call("DELETE", "/proxies/echo/toxics/nope").status, 404);
  EXPECT_EQ(
      call("POST", "/proxies", R"({"name":"echo","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"})")
          .status,
      409);
  EXPECT_EQ(call("POST", "/proxies/echo/toxics", R"({"type":"latency"})").status, 200);
  EXPECT_EQ(call("POST", "/proxies/echo/toxics", R"({"type":"latency"})").status, 409);
  EXPECT_EQ(call("PUT", "/proxies/echo").status, 405);
}

TEST_F(FaultProxyApiTest, ToxicsThroughTheCommonFaultsApiAndMetrics) {
  auto created = parse_json_object(create_echo_proxy());
  ASSERT_TRUE(created.ok());
  auto port = split_host_port(std::string(created->at("listen").as_string()));
  ASSERT_TRUE(port.ok());
  auto fault = call(
      "POST", "/admin/faults",
      R"({"type":"toxic","params":{"proxy":"echo","type":"limit_data","attributes":{"bytes":2}}})");
  ASSERT_EQ(fault.status, 200) << fault.body;
  const std::string id(boost::json::parse(fault.body).at("id").as_string());
  {
    Client client(port->second);
    client.send_all("hello");
    EXPECT_EQ(client.receive(5, 5000).data, "he");
  }
  auto metrics = call("GET", "/metrics");
  EXPECT_NE(metrics.body.find("gatedrill_fault_proxy_connections_total{proxy=\"echo\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("gatedrill_fault_proxy_toxics{proxy=\"echo\"} 1"), std::string::npos);
  ASSERT_EQ(call("DELETE", "/admin/faults/" + id).status, 200);
  EXPECT_EQ(call("GET", "/proxies/echo/toxics").body, "[]");
  {
    Client client(port->second);
    client.send_all("hello");
    EXPECT_EQ(client.receive(5, 5000).data, "hello");
  }
  auto bad = call("POST", "/admin/faults", R"({"type":"toxic","params":{"type":"latency"}})");
  EXPECT_EQ(bad.status, 400);
  auto unknown =
      call("POST", "/admin/faults", R"({"type":"toxic","params":{"proxy":"echo","type":"jam"}})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown toxic type 'jam'"), std::string::npos);
}

}  // namespace
}  // namespace gatedrill

// gRPC to the upstream over multiplexed h2 connections, in-process against the fake IdP and an
// nghttp2 upstream on 127.0.0.1: concurrent calls share one upstream connection up to the
// stream cap, h2 over TLS with ALPN (wrong CA, an HTTP/1.1-only upstream -> 502 and
// UNAVAILABLE), a reset stream or a deadline fails one call only, a GOAWAY's unprocessed calls
// go again on a fresh connection, a lost connection fails the calls on it.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/policy/registry_server.hpp"
#include "grpc_fixture.hpp"

namespace gatedrill::gateway::test {
namespace {

class GrpcUpstreamTest : public GrpcGatewayTest {};

TEST_F(GrpcUpstreamTest, ConcurrentCallsShareOneUpstreamConnection) {
  GrpcEchoUpstream upstream({.hold = 8, .tls = {}});  // answers only once 8 are open
  start_cluster(upstream.url());
  auto replies = calls(std::vector<std::string>(8, "/pkg.Svc/Hold"));
  for (size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(grpc_status(replies[i]), "0") << i << " " << replies[i].headers["grpc-message"];
    EXPECT_EQ(replies[i].body, grpc_frame("m" + std::to_string(i)));
  }
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_EQ(cluster_metric("connections"), 1);
  // The streams were counted, and let go (each as its upstream stream ended, which can be
  // just after the client saw the end).
  EXPECT_TRUE(eventually([&] { return cluster_metric("active_requests") == 0; }));
}

TEST_F(GrpcUpstreamTest, AFullConnectionOpensAnother) {
  // Held until all 4 are open (on both connections), so none finishes and frees a stream for
  // a later one, however the gateway reads them.
  GrpcEchoUpstream upstream({.hold = 4, .tls = {}, .require_client_cert = false});
  start_cluster(upstream.url(), R"(, "max_concurrent_streams": 2)");
  auto replies = calls(std::vector<std::string>(4, "/pkg.Svc/Hold"));
  for (auto& reply : replies) EXPECT_EQ(grpc_status(reply), "0");
  EXPECT_EQ(upstream.connections(), 2);
}

TEST_F(GrpcUpstreamTest, OpenStreamsCountAgainstMaxRequests) {
  GrpcEchoUpstream upstream({.hold = 2, .tls = {}, .require_client_cert = false});
  start_cluster(upstream.url(), R"(, "max_requests": 2)");
  auto replies = calls(std::vector<std::string>(3, "/pkg.Svc/Hold"));
  int ok = 0, overflow = 0;
  for (auto& reply : replies) {
    if (grpc_status(reply) == "0") ++ok;
    if (reply.headers["x-gatedrill-reason"] == "max_requests") ++overflow;
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(overflow, 1);
  EXPECT_EQ(upstream.connections(), 1);
}

TEST_F(GrpcUpstreamTest, MessagesPastTheFlowControlWindowsGoBothWays) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url());
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  // 600 KB each way, two calls at once: far past the 64 KB initial stream and connection windows.
  const std::string big(600 * 1000, 'x');
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"content-type", "application/grpc"}, {"te", "trailers"}, bearer()};
  const int32_t a = client.submit("POST", "/pkg.Svc/Echo", headers, "a" + big);
  const int32_t b = client.submit("POST", "/pkg.Svc/Echo", headers, "b" + big);
  ASSERT_TRUE(client.run_all());
  EXPECT_EQ(grpc_status(client.replies()[a]), "0");
  EXPECT_EQ(client.replies()[a].body, "a" + big);
  EXPECT_EQ(client.replies()[b].body, "b" + big);
  EXPECT_EQ(upstream.connections(), 1);
}

TEST_F(GrpcUpstreamTest, AResetStreamFailsOnlyItsCall) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url());
  auto replies = calls({"/pkg.Svc/Echo", "/pkg.Svc/Reset", "/pkg.Svc/Echo", "/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(replies[1]), "13");  // RST_STREAM INTERNAL_ERROR -> INTERNAL
  EXPECT_NE(replies[1].headers["grpc-message"].find("upstream_reset"), std::string::npos);
  EXPECT_NE(replies[1].headers["grpc-message"].find("INTERNAL_ERROR"), std::string::npos);
  for (size_t i : {0u, 2u, 3u}) EXPECT_EQ(grpc_status(replies[i]), "0") << i;
  auto again = calls({"/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(again[0]), "0");
  EXPECT_EQ(upstream.connections(), 1);
}

TEST_F(GrpcUpstreamTest, ARefusedStreamGoesOnceMoreThenUnavailable) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url());
  auto replies = calls({"/pkg.Svc/Refuse"});
  EXPECT_EQ(replies[0].status, 200);
  EXPECT_EQ(grpc_status(replies[0]), "14");
  EXPECT_NE(replies[0].headers["grpc-message"].find("upstream_refused"), std::string::npos);
  EXPECT_EQ(upstream.seen("/pkg.Svc/Refuse"), 2u);
  EXPECT_EQ(
      metric_value(
          R"(gatedrill_gateway_cluster_errors_total{cluster="grpc",reason="upstream_refused"})"),
      1);
}

TEST_F(GrpcUpstreamTest, GoawayDrainsAndUnprocessedCallsGoToAFreshConnection) {
  GrpcEchoUpstream upstream({.hold = 4, .tls = {}, .require_client_cert = false});
  start_cluster(upstream.url());
  // The upstream's GOAWAY names the first of the 4 as the last it processes.
  auto replies = calls(std::vector<std::string>(4, "/pkg.Svc/Drain"));
  for (size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(grpc_status(replies[i]), "0") << i << " " << replies[i].headers["grpc-message"];
    EXPECT_EQ(replies[i].body, grpc_frame("m" + std::to_string(i)));
  }
  EXPECT_EQ(upstream.seen("/pkg.Svc/Drain"), 4u);  // each processed once
  EXPECT_EQ(upstream.connections(), 2);
  // The drained connection closed; new calls take the fresh one.
  auto again = calls({"/pkg.Svc/Echo", "/pkg.Svc/Echo"});
  for (auto& reply : again) EXPECT_EQ(grpc_status(reply), "0");
  EXPECT_EQ(upstream.connections(), 2);
  EXPECT_TRUE(eventually([&] { return cluster_metric("connections") == 1; }));
}

TEST_F(GrpcUpstreamTest, ALostConnectionFailsItsCallsWithoutSendingThemAgain) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url());
  auto replies = calls({"/pkg.Svc/Slow", "/pkg.Svc/Drop"});
  for (auto& reply : replies) {
    EXPECT_EQ(grpc_status(reply), "14");
    EXPECT_NE(reply.headers["grpc-message"].find("upstream_reset"), std::string::npos);
  }
  EXPECT_EQ(upstream.seen("/pkg.Svc/Drop"), 1u);  // the upstream may have acted on it
  auto again = calls({"/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(again[0]), "0");
  EXPECT_EQ(upstream.connections(), 2);
}

TEST_F(GrpcUpstreamTest, ADeadlineFailsOnlyItsCallAndResetsItsStream) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url(), R"(, "timeout": "300ms")");
  auto replies = calls({"/pkg.Svc/Slow", "/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(replies[0]), "4");  // DEADLINE_EXCEEDED
  EXPECT_NE(replies[0].headers["grpc-message"].find("upstream_timeout"), std::string::npos);
  EXPECT_EQ(grpc_status(replies[1]), "0");
  EXPECT_TRUE(eventually([&] { return upstream.cancelled() == 1; }));  // RST_STREAM CANCEL
  auto again = calls({"/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(again[0]), "0");
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_EQ(
      metric_value(R"(gatedrill_gateway_requests_total{status="504",reason="upstream_timeout"})"),
      1);
}

TEST_F(GrpcUpstreamTest, ASlowCallOnALiveConnectionKeepsIt) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url(), R"(, "timeout": "300ms", "connect_timeout": "300ms")");
  EXPECT_EQ(grpc_status(calls({"/pkg.Svc/Echo"})[0]), "0");
  // Nothing came back during the call, but the PING that follows is answered.
  EXPECT_EQ(grpc_status(calls({"/pkg.Svc/Slow"})[0]), "4");
  EXPECT_EQ(grpc_status(calls({"/pkg.Svc/Echo"})[0]), "0");
  EXPECT_EQ(upstream.connections(), 1);
}

TEST_F(GrpcUpstreamTest, ABlackHoledConnectionIsReplaced) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url(), R"(, "timeout": "300ms", "connect_timeout": "300ms")");
  EXPECT_EQ(grpc_status(calls({"/pkg.Svc/Echo"})[0]), "0");
  EXPECT_EQ(grpc_status(calls({"/pkg.Svc/Freeze"})[0]), "4");
  // Once the PING went unanswered, calls open a fresh connection.
  EXPECT_TRUE(eventually([&] { return grpc_status(calls({"/pkg.Svc/Echo"})[0]) == "0"; }));
  EXPECT_EQ(upstream.connections(), 2);
  EXPECT_TRUE(eventually([&] { return cluster_metric("connections") == 1; }));
}

TEST_F(GrpcUpstreamTest, GrpcTimeoutShortensTheDeadline) {
  GrpcEchoUpstream upstream;
  start_cluster(upstream.url(), R"(, "timeout": "60s")");
  // Without the client's 200 ms the call would outlast the client's 3 s wait.
  auto replies =
      calls({"/pkg.Svc/Slow"}, {{"grpc-timeout", "200m"}}, std::chrono::milliseconds(3000));
  EXPECT_EQ(grpc_status(replies[0]), "4");
}

TEST_F(GrpcUpstreamTest, CallsGoOverTlsWithAlpnH2) {
  GrpcEchoUpstream upstream(
      {.hold = 3, .tls = write_localhost_certificate(time_, dir_), .require_client_cert = false});
  start_cluster(upstream.url(), R"(, "tls": {"ca": ")" + dir_.path("cert.pem") + "\"}");
  auto replies = calls(std::vector<std::string>(3, "/pkg.Svc/Hold"));
  for (auto& reply : replies) EXPECT_EQ(grpc_status(reply), "0") << reply.headers["grpc-message"];
  EXPECT_EQ(upstream.connections(), 1);
  auto seen = upstream.seen();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0][":scheme"], "https");
}

TEST_F(GrpcUpstreamTest, AnUpstreamCertificateFromAnotherCaIsATlsError) {
  TestDir other("gw-grpc-other-");
  GrpcEchoUpstream upstream(
      {.hold = 0, .tls = write_localhost_certificate(time_, dir_), .require_client_cert = false});
  write_localhost_certificate(time_, other);  // a different self-signed certificate
  start_cluster(upstream.url(), R"(, "tls": {"ca": ")" + other.path("cert.pem") + "\"}");
  auto replies = calls({"/pkg.Svc/Echo"});
  EXPECT_EQ(replies[0].status, 200);
  EXPECT_EQ(grpc_status(replies[0]), "14");
  const std::string message = replies[0].headers["grpc-message"];
  EXPECT_NE(message.find("upstream_tls_error"), std::string::npos) << message;
  EXPECT_NE(message.find("certificate verification failed"), std::string::npos) << message;
  EXPECT_TRUE(upstream.seen().empty());
  EXPECT_EQ(metric_value(R"(gatedrill_gateway_upstream_errors_total{kind="tls"})"), 1);
}

TEST_F(GrpcUpstreamTest, AnUpstreamRefusingTheGatewaysCertificateIsATlsError) {
  // TLS 1.3: the gateway's handshake completes before the upstream judges its (missing) client
  // certificate; the refusal is an alert on the first read.
  GrpcEchoUpstream upstream(
      {.hold = 0, .tls = write_localhost_certificate(time_, dir_), .require_client_cert = true});
  start_cluster(upstream.url(), R"(, "tls": {"ca": ")" + dir_.path("cert.pem") + "\"}");
  auto replies = calls({"/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(replies[0]), "14");
  const std::string message = replies[0].headers["grpc-message"];
  EXPECT_NE(message.find("upstream_tls_error"), std::string::npos) << message;
  EXPECT_NE(message.find("refused the TLS session"), std::string::npos) << message;
  EXPECT_TRUE(upstream.seen().empty());
}

TEST_F(GrpcUpstreamTest, ASilentTlsUpstreamIsAHandshakeTimeout) {
  uint16_t port = 0;
  const int silent = listen_loopback(port);  // the kernel accepts; nobody ever answers
  write_localhost_certificate(time_, dir_);
  start_cluster("https://127.0.0.1:" + std::to_string(port),
                R"(, "connect_timeout": "300ms", "tls": {"ca": ")" + dir_.path("cert.pem") + "\"}");
  auto replies = calls({"/pkg.Svc/Echo"});
  ::close(silent);
  EXPECT_EQ(grpc_status(replies[0]), "14");
  const std::string message = replies[0].headers["grpc-message"];
  EXPECT_NE(message.find("upstream_timeout"), std::string::npos) << message;
  EXPECT_NE(message.find("TLS handshake timed out"), std::string::npos) << message;
  EXPECT_EQ(
      metric_value(R"(gatedrill_gateway_requests_total{status="504",reason="upstream_timeout"})"),
      1);
}

TEST_F(GrpcUpstreamTest, AnHttp11OnlyTlsUpstreamIsATlsErrorNamingAlpn) {
  write_localhost_certificate(time_, dir_);
  TlsUpstream upstream(dir_.path("cert.pem"), dir_.path("key.pem"));
  start_cluster(upstream.url(), R"(, "tls": {"ca": ")" + dir_.path("cert.pem") + "\"}");
  auto replies = calls({"/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(replies[0]), "14");
  const std::string message = replies[0].headers["grpc-message"];
  EXPECT_NE(message.find("upstream_tls_error"), std::string::npos) << message;
  EXPECT_NE(message.find("did not select h2 by ALPN"), std::string::npos) << message;
  EXPECT_EQ(upstream.seen(), 0);
}

TEST_F(GrpcUpstreamTest, ADiscoveryClusterIsPooledPerDiscoveredEndpoint) {
  auto server = RegistryServer::start(time_, {});
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto registry = std::move(*server);
  const std::string base = "http://127.0.0.1:" + std::to_string(registry->port());
  GrpcEchoUpstream upstream;
  auto registered = http_request("POST", base + "/v1/discovery/echo", {},
                                 R"({"address":")" + upstream.url() + R"(","ttl_ms":60000})");
  ASSERT_TRUE(registered && registered->status == 200);
  auto config = base_config(idp_, upstream_.url());
  config.discovery_url = base;
  config.discovery_poll = std::chrono::milliseconds(50);
  config.routes = *RouteTable::from_json(
      R"([{"name": "svc", "prefix": "/pkg.Svc", "service": "echo", "cluster": "grpc"}])");
  config.data.clusters =
      *parse_clusters_json(R"([{"name": "grpc", "service": "echo"}])", ClusterOptions{});
  start(std::move(config));
  ASSERT_TRUE(eventually([&] {
    auto first = calls({"/pkg.Svc/Echo"});
    return grpc_status(first[0]) == "0";
  }));
  for (int i = 0; i < 3; ++i) {
    auto replies = calls({"/pkg.Svc/Echo", "/pkg.Svc/Echo"});
    for (auto& reply : replies) EXPECT_EQ(grpc_status(reply), "0");
  }
  EXPECT_EQ(upstream.connections(), 1);  // not a connection per call
  gateway_.reset();
  registry->stop();
}

}  // namespace
}  // namespace gatedrill::gateway::test

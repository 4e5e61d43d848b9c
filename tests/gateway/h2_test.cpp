// HTTP/2 on the gateway's listeners, in-process against the fake IdP and upstream: h2c with
// prior knowledge on the plaintext listener, h2 by ALPN beside HTTP/1.1 on the TLS one. Every
// stream goes through the same filter chain as HTTP/1.1 (same statuses and reasons); gRPC calls
// get grpc-status answers; a rapid-reset flood gets GOAWAY and the gateway keeps serving.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/crypto/x509.hpp"
#include "gateway/server/tls13_records.hpp"
#include "h2_fixture.hpp"
#include "h2_test_upstream.hpp"

namespace gatedrill::gateway::test {
namespace {

class H2Test : public H2GatewayTest {
 protected:
  void start_tls() {
    auto config = base_config(idp_, upstream_.url());
    config.data.tls = write_localhost_certificate(time_, dir_);
    start(std::move(config));
  }
  void TearDown() override {
    if (gateway_) gateway_->stop();
  }

  TestDir dir_{"gw-h2-"};
};

TEST_F(H2Test, ValidTokenIsProxiedOverH2c) {
  start();
  auto reply =
      get_once({bearer(), {"x-gatedrill-sub", "mallory"}, {"cookie", "a=1"}, {"cookie", "b=2"}});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "hello /api/items");
  EXPECT_EQ(reply.headers["x-app"], "yes");
  EXPECT_EQ(reply.headers.count("server"), 0u);
  EXPECT_EQ(reply.headers["x-request-id"].size(), 32u);
  auto seen = upstream_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("x-gatedrill-sub"), "alice");  // the token's, not the client's
  EXPECT_EQ(seen[0].header("x-forwarded-proto"), "http");
  EXPECT_EQ(seen[0].header("cookie"), "a=1; b=2");  // split h2 cookies joined for HTTP/1.1
}

TEST_F(H2Test, MissingAndBadTokensGetTheSame401AsHttp1) {
  start();
  auto missing = get_once({});
  EXPECT_EQ(missing.status, 401);
  EXPECT_NE(missing.headers["www-authenticate"].find("Bearer error=\"invalid_token\""),
            std::string::npos);
  EXPECT_NE(missing.body.find("\"missing_token\""), std::string::npos) << missing.body;
  auto bad = get_once({{"authorization", "Bearer not.a.token"}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_NE(bad.headers["www-authenticate"].find("error_description="), std::string::npos);
  EXPECT_NE(bad.body.find("\"malformed\""), std::string::npos) << bad.body;
  EXPECT_TRUE(upstream_.seen().empty());
  EXPECT_EQ(metric_value("gatedrill_gateway_requests_by_protocol_total{protocol=\"h2\"}"), 2);
}

TEST_F(H2Test, AlpnPicksH2OnTheTlsListenerAndHttp11StillWorks) {
  start_tls();
  const uint64_t own_before = tls_record_counts().own;
  H2TestClient client(gateway_->port(), true);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.alpn(), "h2");
  const int32_t ok = client.submit("GET", "/api/items", {bearer()});
  const int32_t denied = client.submit("GET", "/api/items");
  ASSERT_TRUE(client.run_all());
  EXPECT_EQ(client.replies()[ok].status, 200);
  EXPECT_EQ(client.replies()[denied].status, 401);
  ASSERT_EQ(upstream_.seen().size(), 1u);
  EXPECT_EQ(upstream_.seen()[0].header("x-forwarded-proto"), "https");

  auto h1 =
      http_request("GET", "https://127.0.0.1:" + std::to_string(gateway_->port()) + "/x",
                   {{"Authorization", "Bearer " + idp_.token(time_.wall_seconds())}}, {}, quick());
  ASSERT_TRUE(h1) << h1.error().message;
  EXPECT_EQ(h1->status, 200);
  // Both connections (TLS 1.3) ran on the gateway's own record layer.
  EXPECT_EQ(tls_record_counts().own - own_before, 2u);
}

TEST_F(H2Test, H2OnTheMtlsListenerCarriesTheClientsSpiffeId) {
  const int64_t now = time_.wall_seconds();
  const std::string dir = ::testing::TempDir() + "gw-h2-mtls-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "'").c_str()), 0);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  auto ca_key = *Key::generate(KeyType::kEcP256);
  CertRequest ca;
  ca.common_name = "test CA";
  ca.is_ca = true;
  ca.server_auth = false;
  ca.not_before_s = now - 3600;
  ca.not_after_s = now + 3600;
  auto ca_cert = *issue_certificate(ca, ca_key, "", ca_key);
  auto issue = [&](CertRequest request, const std::string& name) {
    auto key = *Key::generate(KeyType::kEcP256);
    request.common_name = name;
    request.not_before_s = now - 3600;
    request.not_after_s = now + 3600;
    write(name + ".key", key.private_pem());
    return write(name + ".pem", issue_certificate(request, key, ca_cert.pem, ca_key)->pem);
  };
  CertRequest server;
  server.ip_addresses = {"127.0.0.1"};
  CertRequest client;
  const std::string spiffe = "spiffe://gatedrill.test/ns/default/sa/loadgen";
  client.uris = {spiffe};
  client.server_auth = false;
  client.client_auth = true;
  auto config = base_config(idp_, upstream_.url());
  MtlsListenerOptions m;
  m.cert_chain_file = issue(server, "server");
  m.key_file = dir + "/server.key";
  m.client_ca_file = write("ca.pem", ca_cert.pem);
  m.trust_domain = "gatedrill.test";
  config.data.mtls = m;
  issue(client, "client");
  start(std::move(config));

  const uint64_t own_before = tls_record_counts().own;
  H2TestClient h2(gateway_->mtls_port(), true, dir + "/client.pem", dir + "/client.key");
  ASSERT_TRUE(h2.connected());
  EXPECT_EQ(h2.alpn(), "h2");
  const int32_t id = h2.submit("GET", "/m", {bearer(), {"x-gatedrill-spiffe-id", "spiffe://x/y"}});
  ASSERT_TRUE(h2.run_all());
  EXPECT_EQ(h2.replies()[id].status, 200);
  auto seen = upstream_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("x-gatedrill-spiffe-id"),
            spiffe);                                    // the certificate's, not the header's
  EXPECT_EQ(tls_record_counts().own - own_before, 1u);  // the identity taken before SSL_free
  (void)std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_F(H2Test, ManyConcurrentStreamsBeyondTheAdvertisedLimitAllComplete) {
  auto config = base_config(idp_, upstream_.url());
  config.data.h2_max_concurrent_streams = 8;  // the client queues the rest (SETTINGS)
  start(std::move(config));
  upstream_.set_delay(std::chrono::milliseconds(5));
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  // Streams past a limit the client does not know yet are refused (REFUSED_STREAM, retryable).
  ASSERT_TRUE(client.run_until([&] { return client.settings_received(); }));
  std::vector<int32_t> ids;
  for (int i = 0; i < 64; ++i)
    ids.push_back(client.submit("GET", "/api/items/" + std::to_string(i), {bearer()}));
  ASSERT_TRUE(client.run_all(std::chrono::seconds(10)));
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(client.replies()[ids[i]].status, 200) << "stream " << ids[i];
    EXPECT_EQ(client.replies()[ids[i]].body, "hello /api/items/" + std::to_string(i));
  }
  EXPECT_EQ(upstream_.seen().size(), 64u);
}

TEST_F(H2Test, RapidResetFloodGetsGoawayAndTheGatewayKeepsServing) {
  auto config = base_config(idp_, upstream_.url());
  config.data.h2_max_resets_per_second = 50;
  start(std::move(config));
  H2TestClient flood(gateway_->port(), false);
  ASSERT_TRUE(flood.connected());
  // Streams opened and cancelled at once (CVE-2023-44487): far more than 50 within a second.
  const auto token = bearer();
  for (int i = 0; i < 400 && !flood.goaway() && !flood.peer_closed(); ++i) {
    const int32_t id = flood.submit("GET", "/api/items", {token});
    flood.send();  // HEADERS on the wire, then the reset right behind it
    flood.reset(id);
    flood.send();
    if (i % 20 == 19) flood.run_until([&] { return flood.goaway(); }, std::chrono::milliseconds(1));
  }
  flood.run_until([&] { return flood.goaway(); });
  EXPECT_TRUE(flood.goaway());
  EXPECT_EQ(flood.goaway_error(), static_cast<uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_TRUE(flood.run_until([&] { return flood.peer_closed(); }));
  EXPECT_EQ(metric_value("gatedrill_gateway_h2_events_total{kind=\"goaway_flood\"}"), 1);

  auto after = get_once({bearer()});
  EXPECT_EQ(after.status, 200);
}

TEST_F(H2Test, GrpcCallsRefusedByTheGatewayGetGrpcStatus) {
  start();
  auto unauthenticated = get_once({{"content-type", "application/grpc"}, {"te", "trailers"}});
  EXPECT_EQ(unauthenticated.status, 200);
  EXPECT_EQ(unauthenticated.headers["grpc-status"], "16");
  EXPECT_NE(unauthenticated.headers["grpc-message"].find("missing_token"), std::string::npos);
  EXPECT_EQ(unauthenticated.headers["content-type"], "application/grpc");
  EXPECT_NE(unauthenticated.headers["www-authenticate"].find("Bearer"), std::string::npos);
  EXPECT_TRUE(unauthenticated.body.empty());
  EXPECT_EQ(
      metric_value("gatedrill_gateway_requests_total{status=\"401\",reason=\"missing_token\"}"), 1);
}

TEST_F(H2Test, GrpcCallsAreProxiedOverH2cWithTrailers) {
  GrpcEchoUpstream grpc_upstream;
  auto config = base_config(idp_, upstream_.url());
  config.data.grpc_upstream = *Url::parse(grpc_upstream.url());
  start(std::move(config));
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  const std::vector<std::pair<std::string, std::string>> grpc = {
      {"content-type", "application/grpc"}, {"te", "trailers"}};
  auto with_token = grpc;
  with_token.push_back(bearer());
  const int32_t echo = client.submit("POST", "/pkg.Svc/Echo", with_token, grpc_frame("hello grpc"));
  const int32_t missing = client.submit("POST", "/pkg.Svc/Missing", with_token, grpc_frame("x"));
  const int32_t refused = client.submit("POST", "/pkg.Svc/Echo", grpc, grpc_frame("x"));
  ASSERT_TRUE(client.run_all());

  auto& ok = client.replies()[echo];
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers["content-type"], "application/grpc");
  EXPECT_EQ(ok.body, grpc_frame("hello grpc"));
  EXPECT_EQ(ok.trailers["grpc-status"], "0");
  EXPECT_EQ(ok.trailers["x-trailer"], "yes");

  auto& not_found = client.replies()[missing];  // the upstream's own trailers-only answer
  EXPECT_EQ(not_found.status, 200);
  EXPECT_EQ(not_found.headers["grpc-status"], "5");

  auto& unauthenticated = client.replies()[refused];  // never reached the upstream
  EXPECT_EQ(unauthenticated.headers["grpc-status"], "16");

  auto seen = grpc_upstream.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]["te"], "trailers");
  EXPECT_EQ(seen[0]["x-gatedrill-sub"], "alice");
  EXPECT_EQ(seen[0]["content-type"], "application/grpc");
  // A streamed call is counted when the upstream's stream ended, which can be just after the
  // client saw its end.
  EXPECT_TRUE(eventually([&] {
    return metric_value("gatedrill_gateway_requests_by_protocol_total{protocol=\"grpc\"}") == 3;
  }));

  // Later calls ride the pooled upstream connections: no new ones.
  const int connections = grpc_upstream.connections();
  EXPECT_GE(connections, 1);
  for (int i = 0; i < 3; ++i) {
    const int32_t again = client.submit("POST", "/pkg.Svc/Echo", with_token,
                                        grpc_frame("again " + std::to_string(i)));
    ASSERT_TRUE(client.run_all());
    EXPECT_EQ(client.replies()[again].trailers["grpc-status"], "0");
    EXPECT_EQ(client.replies()[again].body, grpc_frame("again " + std::to_string(i)));
  }
  EXPECT_EQ(grpc_upstream.connections(), connections);
}

TEST_F(H2Test, AnHttpsGrpcUpstreamIsReachedOverTlsWithAlpnH2) {
  TestDir dir("gw-grpc-tls-");
  GrpcEchoUpstream grpc_upstream(
      {.hold = 0, .tls = write_localhost_certificate(time_, dir), .require_client_cert = false});
  auto config = base_config(idp_, upstream_.url());  // the HTTP/1.1 upstream stays plaintext
  config.data.grpc_upstream = *Url::parse(grpc_upstream.url());
  config.data.upstream_tls = UpstreamTlsOptions{dir.path("cert.pem"), "", "", ""};
  start(std::move(config));
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  const int32_t id = client.submit(
      "POST", "/pkg.Svc/Echo", {{"content-type", "application/grpc"}, {"te", "trailers"}, bearer()},
      grpc_frame("over tls"));
  ASSERT_TRUE(client.run_all());
  EXPECT_EQ(client.replies()[id].trailers["grpc-status"], "0")
      << client.replies()[id].headers["grpc-message"];
  EXPECT_EQ(client.replies()[id].body, grpc_frame("over tls"));
  auto seen = grpc_upstream.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0][":scheme"], "https");
  EXPECT_EQ(get_once({bearer()}).status, 200);  // plain HTTP still goes to --upstream
}

TEST_F(H2Test, GrpcOnARouteWithANamedClusterGoesToItsEndpointPooled) {
  GrpcEchoUpstream grpc_upstream;
  auto config = base_config(idp_, upstream_.url());  // the default cluster speaks no h2c
  config.routes =
      *RouteTable::from_json(R"([{"name": "svc", "prefix": "/pkg.Svc", "cluster": "grpc"}])");
  config.data.clusters = *parse_clusters_json(
      R"([{"name": "grpc", "endpoints": [")" + grpc_upstream.url() + R"("]}])", ClusterOptions{});
  start(std::move(config));
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"content-type", "application/grpc"}, {"te", "trailers"}, bearer()};
  for (int i = 0; i < 3; ++i) {
    const int32_t id =
        client.submit("POST", "/pkg.Svc/Echo", headers, grpc_frame("call " + std::to_string(i)));
    ASSERT_TRUE(client.run_all());
    EXPECT_EQ(client.replies()[id].trailers["grpc-status"], "0");
    EXPECT_EQ(client.replies()[id].body, grpc_frame("call " + std::to_string(i)));
  }
  EXPECT_EQ(grpc_upstream.seen().size(), 3u);
  EXPECT_EQ(grpc_upstream.connections(), 1);  // the cluster's per-worker pool
  EXPECT_TRUE(upstream_.seen().empty());
}

TEST_F(H2Test, GrpcUpstreamDownIsUnavailable) {
  auto config = base_config(idp_, upstream_.url());
  config.data.grpc_upstream = *Url::parse("http://127.0.0.1:1");  // nothing listens there
  start(std::move(config));
  auto reply = get_once({{"content-type", "application/grpc"}, bearer()});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["grpc-status"], "14");
  EXPECT_NE(reply.headers["grpc-message"].find("upstream_connect_error"), std::string::npos);
}

// The frame types in a server's byte stream (after no preface: servers send none).
std::vector<int> frame_types(const std::string& bytes) {
  std::vector<int> types;
  size_t at = 0;
  while (at + 9 <= bytes.size()) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const size_t length = (size_t{b[0]} << 16) | (size_t{b[1]} << 8) | b[2];
    types.push_back(b[3]);
    at += 9 + length;
  }
  return types;
}

TEST_F(H2Test, BrokenPrefaceAndBrokenFramesCloseOnlyThatConnection) {
  start();
  {
    // Not the preface after all: read as HTTP/1.1, which refuses it and closes.
    RawConnection raw(gateway_->port());
    ASSERT_TRUE(raw.send_all("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
    EXPECT_EQ(raw.read_until_close().rfind("HTTP/1.1 400", 0), 0u);
  }
  {
    // A GOAWAY frame 4 bytes long (at least 8 are required): FRAME_SIZE_ERROR, GOAWAY, close.
    RawConnection raw(gateway_->port());
    ASSERT_TRUE(raw.send_all("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                             std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9) +
                             std::string("\x00\x00\x04\x07\x00\x00\x00\x00\x00", 9) + "abcd"));
    auto types = frame_types(raw.read_until_close());
    EXPECT_NE(std::find(types.begin(), types.end(), NGHTTP2_GOAWAY), types.end());
  }
  auto after = get_once({bearer()});
  EXPECT_EQ(after.status, 200);
}

TEST_F(H2Test, IdleConnectionsAreClosed) {
  auto config = base_config(idp_, upstream_.url());
  config.data.idle_timeout = std::chrono::milliseconds(300);
  start(std::move(config));
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  const int32_t id = client.submit("GET", "/api/items", {bearer()});
  ASSERT_TRUE(client.run_all());
  EXPECT_EQ(client.replies()[id].status, 200);
  EXPECT_TRUE(client.run_until([&] { return client.peer_closed(); }, std::chrono::seconds(3)));
}

TEST_F(H2Test, MemoryPressureDrainsH2ConnectionsThenSheds) {
  auto memory = std::make_shared<std::atomic<int64_t>>(850);  // past the keep-alive-off mark
  auto config = base_config(idp_, upstream_.url());
  config.overload.memory_budget_bytes = 1000;
  config.overload.interval = std::chrono::hours(1);  // sampled by the test only
  config.overload.memory_probe = [memory] { return memory->load(); };
  start(std::move(config));
  gateway_->sample_overload();
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  const int32_t id = client.submit("GET", "/api/items", {bearer()});
  ASSERT_TRUE(client.run_all());
  EXPECT_EQ(client.replies()[id].status, 200);
  EXPECT_TRUE(client.run_until([&] { return client.peer_closed(); }));
  EXPECT_TRUE(client.goaway());
  EXPECT_EQ(client.goaway_error(), static_cast<uint32_t>(NGHTTP2_NO_ERROR));

  memory->store(990);
  gateway_->sample_overload();
  auto shed = get_once({bearer()});
  EXPECT_EQ(shed.status, 503);
  EXPECT_NE(shed.body.find("\"overloaded\""), std::string::npos) << shed.body;
  EXPECT_EQ(shed.headers["x-gatedrill-reason"], "overloaded");
}

TEST_F(H2Test, OversizedHeadersAndBodiesAreRefusedPerStream) {
  auto config = base_config(idp_, upstream_.url());
  config.data.max_header_bytes = 2048;
  config.data.max_body_bytes = 1024;
  start(std::move(config));
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  const int32_t big_header =
      client.submit("GET", "/api/items", {bearer(), {"x-big", std::string(12000, 'a')}});
  const int32_t long_path = client.submit("GET", "/" + std::string(9000, 'p'), {bearer()});
  const int32_t big_body = client.submit("POST", "/api/items", {bearer()}, std::string(4096, 'b'));
  const int32_t fine = client.submit("GET", "/api/items", {bearer()});
  ASSERT_TRUE(client.run_all());
  EXPECT_EQ(client.replies()[big_header].status, 431);
  EXPECT_EQ(client.replies()[long_path].status, 414);
  EXPECT_EQ(client.replies()[big_body].status, 413);
  EXPECT_EQ(client.replies()[fine].status, 200);
  EXPECT_FALSE(client.goaway());
}

}  // namespace
}  // namespace gatedrill::gateway::test

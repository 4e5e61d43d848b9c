// WebSockets over HTTP/2 (RFC 8441, extended CONNECT) through a real `gatedrill gateway`
// process: the h2 client opens `:method CONNECT, :protocol websocket`, the handshake passes the
// filter chain, the gateway opens an HTTP/1.1 Upgrade to the upstream (the echo service of the
// HTTP/1.1 tunnel tests) and relays DATA frames both ways. Every wait is bounded by a deadline.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "core/supervisor/free_port.hpp"
#include "h2_test_client.hpp"
#include "websocket_support.hpp"

namespace gatedrill::gateway::test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

class WebSocketH2Test : public ::testing::Test {
 protected:
  // The gateway process in front of the echo upstream (or `upstream`), plaintext (h2c with
  // prior knowledge) unless `tls_dir` is given.
  void start(const std::vector<std::string>& extra = {}, const std::string& upstream = "",
             const TestDir* tls_dir = nullptr) {
    std::vector<std::string> args;
    if (std::find(extra.begin(), extra.end(), "--upstream-timeout") == extra.end())
      args = {"--upstream-timeout", "3s"};
    if (tls_dir != nullptr) {
      const TlsServerConfig tls = write_localhost_certificate(clock_, *tls_dir);
      args.insert(args.end(), {"--tls-cert", tls.cert_chain_file, "--tls-key", tls.key_file});
    } else {
      args.push_back("--plaintext");
    }
    args.insert(args.end(), extra.begin(), extra.end());
    gateway_ =
        std::make_unique<GatewayChild>(idp_, upstream.empty() ? upstream_.url() : upstream, args);
    port_ = gateway_->port();
    admin_port_ = gateway_->admin_port();
    ASSERT_GT(port_, 0) << "ready line: " << gateway_->ready();
  }

  // The gateway in front of an https:// echo upstream (its certificate written in `dir`).
  std::unique_ptr<WebSocketEchoUpstream> start_with_tls_upstream(const TestDir& dir) {
    const TlsServerConfig cert = write_localhost_certificate(clock_, dir);
    auto upstream = std::make_unique<WebSocketEchoUpstream>(&cert);
    start({"--upstream-ca", cert.cert_chain_file}, upstream->url());
    return upstream;
  }

  std::pair<std::string, std::string> bearer() const {
    return {"authorization", "Bearer " + idp_.token(clock_.wall_seconds())};
  }

  // An RFC 8441 WebSocket on `client` (once the server's SETTINGS allowed it), its answer's
  // head read.
  int32_t open_ws(H2TestClient& client, const std::string& path, Headers headers) {
    EXPECT_TRUE(client.run_until([&] { return client.settings_received(); }));
    headers.emplace_back("sec-websocket-version", "13");
    const int32_t id = client.open_connect("websocket", path, std::move(headers));
    EXPECT_GT(id, 0);
    auto& reply = client.replies()[id];
    EXPECT_TRUE(client.run_until([&] { return reply.status != 0 || reply.closed; }));
    return id;
  }

  // Sends one masked frame on the stream; reads the next whole frame the stream brings.
  static std::pair<int, std::string> exchange(H2TestClient& client, int32_t id, uint8_t opcode,
                                              const std::string& payload) {
    client.send_data(id, frame(opcode, payload, true));
    return next_frame(client, id);
  }
  static std::pair<int, std::string> next_frame(
      H2TestClient& client, int32_t id, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto& reply = client.replies()[id];
    std::pair<int, std::string> got{-1, ""};
    client.run_until(
        [&] {
          got = take_frame(reply.body);
          return got.first >= 0 || reply.closed;
        },
        limit);
    return got;
  }

  double metric_value(const std::string& sample) const { return metric(admin_port_, sample); }
  // The decision log's records in `file` once there are `count` of them (the gateway's writer
  // thread appends them), or what is there after the wait.
  static std::vector<boost::json::object> audit_records(const std::string& file, size_t count) {
    std::vector<boost::json::object> records;
    eventually([&] {
      records.clear();
      std::ifstream in(file);
      for (std::string line; std::getline(in, line);)
        if (auto doc = parse_json_object(line)) records.push_back(*doc);
      return records.size() >= count;
    });
    return records;
  }
  int64_t now_ms() const { return clock_.monotonic_ms(); }

  SystemTimeSource clock_;
  FakeIdp idp_;
  WebSocketEchoUpstream upstream_;
  std::unique_ptr<GatewayChild> gateway_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
};

TEST_F(WebSocketH2Test, FramesAreEchoedThroughAnExtendedConnect) {
  start();
  H2TestClient client(port_, false);
  ASSERT_TRUE(client.connected());
  const int32_t id =
      open_ws(client, "/chat?room=1", {bearer(), {"sec-websocket-protocol", "chat"}});
  EXPECT_EQ(client.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
  auto& reply = client.replies()[id];
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_FALSE(reply.closed);
  EXPECT_EQ(reply.headers.count("sec-websocket-accept"), 0u);  // h2 has no accept (RFC 8441)
  EXPECT_EQ(reply.headers.count("upgrade"), 0u);
  EXPECT_EQ(reply.headers.count("x-request-id"), 1u);
  // The upstream saw an HTTP/1.1 WebSocket handshake, with the identity the gateway vouches for
  // and a key the gateway made (the 101's accept matched it, or the stream would be a 502).
  const std::string head = upstream_.last_head();
  EXPECT_EQ(head.rfind("GET /chat?room=1 HTTP/1.1\r\n", 0), 0u) << head;
  for (const char* field : {"Upgrade: websocket", "Connection: Upgrade",
                            "Sec-WebSocket-Key: ", "sec-websocket-version: 13",
                            "sec-websocket-protocol: chat", "x-gatedrill-sub: alice"})
    EXPECT_NE(head.find(field), std::string::npos) << field << " in " << head;

  EXPECT_EQ(exchange(client, id, 0x1, "hello over h2"),
            std::make_pair(0x1, std::string("hello over h2")));
  const std::string binary("\x00\x01\x02\xff", 4);
  EXPECT_EQ(exchange(client, id, 0x2, binary), std::make_pair(0x2, binary));
  // The close handshake: the upstream answers and closes, the stream ends cleanly.
  EXPECT_EQ(exchange(client, id, 0x8, "").first, 0x8);
  EXPECT_TRUE(client.run_until([&] { return reply.closed; }));
  EXPECT_EQ(reply.error_code, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_TRUE(eventually([&] { return upstream_.closed() == 1; }));
  EXPECT_EQ(metric_value("gatedrill_gateway_requests_by_protocol_total{protocol=\"websocket\"}"),
            1);
}

TEST_F(WebSocketH2Test, TheDecisionLogAndMetricsRecordThe200TheClientSaw) {
  // The upstream switched with a 101; the h2 client's stream got 200 (RFC 8441), and that is
  // what the request was answered with, in the log and in the metrics (as Envoy's access log).
  TestDir dir("gw-ws-h2-audit-");
  start({"--audit-log", dir.path("audit.log")});
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  ASSERT_EQ(client.replies()[id].status, 200);
  EXPECT_EQ(exchange(client, id, 0x1, "logged").second, "logged");
  const auto records = audit_records(dir.path("audit.log"), 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].at("status").as_int64(), 200);
  EXPECT_EQ(records[0].at("decision_id").as_string(), client.replies()[id].headers["x-request-id"]);
  EXPECT_EQ(metric_value("gatedrill_gateway_requests_total{status=\"200\",reason=\"ok\"}"), 1);
  // Absent (-1): no request was counted as a 101.
  EXPECT_LT(metric_value("gatedrill_gateway_requests_total{status=\"101\",reason=\"ok\"}"), 1);
}

TEST_F(WebSocketH2Test, WithoutATokenTheStreamIs401AndTheSessionGoesOn) {
  start();
  H2TestClient client(port_, false);
  const int32_t refused = open_ws(client, "/chat", {});
  auto& reply = client.replies()[refused];
  EXPECT_EQ(reply.status, 401);
  EXPECT_NE(reply.headers["www-authenticate"].find("Bearer"), std::string::npos);
  EXPECT_TRUE(client.run_until([&] { return reply.closed; }));
  EXPECT_EQ(upstream_.connections(), 0);  // nothing reached the service
  // The same connection opens a tunnel with a token.
  const int32_t id = open_ws(client, "/chat", {bearer()});
  EXPECT_EQ(client.replies()[id].status, 200);
  EXPECT_EQ(exchange(client, id, 0x1, "after 401").second, "after 401");
  EXPECT_FALSE(client.goaway());
}

TEST_F(WebSocketH2Test, PlainConnectAndOtherProtocolsAre501OnTheirStream) {
  start();
  H2TestClient client(port_, false);
  ASSERT_TRUE(client.run_until([&] { return client.settings_received(); }));
  const int32_t plain = client.open_connect("", "", {bearer()});
  const int32_t udp =
      client.open_connect("connect-udp", "/.well-known/masque/udp/h/53/", {bearer()});
  ASSERT_TRUE(client.run_until(
      [&] { return client.replies()[plain].closed && client.replies()[udp].closed; }));
  EXPECT_EQ(client.replies()[plain].status, 501);
  EXPECT_NE(client.replies()[plain].body.find("connect_not_supported"), std::string::npos)
      << client.replies()[plain].body;
  EXPECT_EQ(client.replies()[udp].status, 501);
  EXPECT_NE(client.replies()[udp].body.find("unsupported_protocol"), std::string::npos)
      << client.replies()[udp].body;
  EXPECT_EQ(upstream_.connections(), 0);
  // The session and its other streams go on.
  const int32_t id = open_ws(client, "/chat", {bearer()});
  EXPECT_EQ(exchange(client, id, 0x1, "still here").second, "still here");
  EXPECT_FALSE(client.goaway());
}

TEST_F(WebSocketH2Test, ALargeMessageCrossesTheFlowControlWindowsBothWays) {
  start();
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  ASSERT_EQ(client.replies()[id].status, 200);
  // 1 MiB: four of the gateway's 256 KB stream windows, sixteen of the client's 64 KB.
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  auto [opcode, payload] = exchange(client, id, 0x2, big);
  EXPECT_EQ(opcode, 0x2);
  EXPECT_EQ(payload.size(), big.size());
  EXPECT_TRUE(payload == big);
  EXPECT_EQ(exchange(client, id, 0x1, "and after it").second, "and after it");
}

TEST_F(WebSocketH2Test, AQuietTunnelGivesBackItsBuffersAndGoesOn) {
  // After a burst (a 1 MiB message each way grew the pipe's buffers), a second without a frame
  // either way: the tunnel gives back what is drained, once, and still carries what follows.
  start();
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  ASSERT_EQ(client.replies()[id].status, 200);
  const std::string big(1 << 20, 'q');
  EXPECT_EQ(exchange(client, id, 0x2, big).second.size(), big.size());
  const std::string trims = "gatedrill_gateway_h2_events_total{kind=\"tunnel_trim\"}";
  EXPECT_TRUE(eventually([&] { return metric_value(trims) == 1; }));
  EXPECT_EQ(exchange(client, id, 0x1, "after the trim").second, "after the trim");
}

TEST_F(WebSocketH2Test, AClientThatStopsReadingStallsTheUpstreamNotTheGatewaysMemory) {
  start();
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  client.keep_bodies(false);
  // 32 MiB from the upstream while the client reads nothing (its 64 KB stream window closes).
  constexpr int kFrames = 512;
  constexpr uint64_t kFrameBytes = 65536 + 10;  // payload and a 64-bit length head
  client.send_data(id, frame(0x1, "flood 512 65536", true));
  ASSERT_TRUE(client.send());
  // Wait until the upstream's writes stop moving (blocked: every buffer on the way is full).
  uint64_t last = 0;
  int still = 0;
  EXPECT_TRUE(eventually(
      [&] {
        const uint64_t now = upstream_.flooded();
        still = now > 0 && now == last ? still + 1 : 0;
        last = now;
        return still >= 20;  // unchanged for 20 polls in a row (~200 ms)
      },
      std::chrono::seconds(10)));
  // The gateway holds about one stream window; what else went is in the kernels' socket
  // buffers. A gateway reading the upstream regardless would have let it write all 32 MiB.
  EXPECT_LT(upstream_.flooded(), kFrames * kFrameBytes / 2) << upstream_.flooded();
  // Reading again, the client gets every byte.
  auto& reply = client.replies()[id];
  EXPECT_TRUE(client.run_until([&] { return reply.body_bytes >= kFrames * kFrameBytes; },
                               std::chrono::seconds(15)));
  EXPECT_EQ(reply.body_bytes, kFrames * kFrameBytes);
  EXPECT_EQ(upstream_.flooded(), kFrames * kFrameBytes);
}

TEST_F(WebSocketH2Test, AnUpstreamThatStopsReadingStallsTheClient) {
  start();
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  client.keep_bodies(false);
  // The upstream reads nothing until released while the client offers 16 MiB.
  client.send_data(id, frame(0x1, "hold", true));
  const std::string big = frame(0x2, std::string(65536, 'c'), true);
  constexpr int kFrames = 256;
  for (int i = 0; i < kFrames; ++i) client.send_data(id, big);
  const uint64_t offered = client.unsent(id);
  // Until the client's stream window stays shut (nothing more leaves for ~200 ms), or 2 s: on
  // a busy machine the socket buffers towards the upstream may still be growing slowly then. A
  // gateway taking the client's bytes regardless would have taken all of them by then.
  uint64_t last = 0;
  int still = 0;
  client.run_until(
      [&] {
        const uint64_t now = client.unsent(id);
        still = now == last ? still + 1 : 0;
        last = now;
        return still >= 4;  // run_until polls every 50 ms while nothing arrives
      },
      std::chrono::seconds(2));
  // The gateway takes about one stream window, the socket buffers a few MB (2.2-4.2 seen); the
  // rest waits in the client.
  EXPECT_GT(client.unsent(id), offered / 4) << "sent " << offered - client.unsent(id);
  // Once the upstream reads again, all of it goes.
  upstream_.release();
  EXPECT_TRUE(client.run_until([&] { return upstream_.drained() == kFrames * 65536ull; },
                               std::chrono::seconds(10)))
      << upstream_.drained();
  EXPECT_EQ(client.unsent(id), 0u);
}

TEST_F(WebSocketH2Test, TheClientsEndStreamClosesTheUpstreamWhoseCloseEndsTheStream) {
  start();
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  EXPECT_EQ(exchange(client, id, 0x1, "one").second, "one");
  client.send_data(id, "", true);  // END_STREAM: the upstream reads its end and closes
  auto& reply = client.replies()[id];
  EXPECT_TRUE(client.run_until([&] { return reply.closed; }));
  EXPECT_EQ(reply.error_code, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_TRUE(eventually([&] { return upstream_.closed() == 1; }));
}

TEST_F(WebSocketH2Test, AResetStreamClosesTheUpstreamConnection) {
  start();
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  EXPECT_EQ(exchange(client, id, 0x1, "one").second, "one");
  client.reset(id);
  ASSERT_TRUE(client.send());
  EXPECT_TRUE(eventually([&] { return upstream_.closed() == 1; }));
  // The connection itself goes on.
  const int32_t again = open_ws(client, "/chat", {bearer()});
  EXPECT_EQ(exchange(client, again, 0x1, "two").second, "two");
}

TEST_F(WebSocketH2Test, UpstreamRefusalsReachTheStream) {
  start();
  H2TestClient client(port_, false);
  const int32_t refused = open_ws(client, "/refuse", {bearer()});
  const int32_t not_switched = open_ws(client, "/no-upgrade", {bearer()});
  const int32_t bad_accept = open_ws(client, "/bad-accept", {bearer()});
  ASSERT_TRUE(client.run_until([&] {
    return client.replies()[refused].closed && client.replies()[not_switched].closed &&
           client.replies()[bad_accept].closed;
  }));
  EXPECT_EQ(client.replies()[refused].status, 403);
  EXPECT_EQ(client.replies()[refused].body, "no chat");
  // A 200 would tell the client its tunnel is open: the gateway says the upstream failed.
  EXPECT_EQ(client.replies()[not_switched].status, 502);
  EXPECT_NE(client.replies()[not_switched].body.find("upstream_bad_upgrade"), std::string::npos)
      << client.replies()[not_switched].body;
  // The gateway is the upstream's WebSocket client: an accept not made from its key is refused.
  EXPECT_EQ(client.replies()[bad_accept].status, 502);
  EXPECT_NE(client.replies()[bad_accept].body.find("Sec-WebSocket-Accept"), std::string::npos)
      << client.replies()[bad_accept].body;
}

TEST_F(WebSocketH2Test, AnUpstreamThatIsDownIs503) {
  // Reserved, nothing listens there (a port bound and closed could be taken by a parallel test's
  // server and answer, as one did with 401).
  auto closed_port = allocate_port();
  ASSERT_TRUE(closed_port);
  start({}, "http://127.0.0.1:" + std::to_string(*closed_port));
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  EXPECT_EQ(client.replies()[id].status, 503);
}

TEST_F(WebSocketH2Test, AnUpstreamThatNeverAnswersTheHandshakeIs504) {
  start({"--upstream-timeout", "300ms"});
  H2TestClient client(port_, false);
  const int64_t began = now_ms();
  const int32_t id = open_ws(client, "/silent", {bearer()});
  EXPECT_EQ(client.replies()[id].status, 504);
  EXPECT_NE(client.replies()[id].body.find("upstream_timeout"), std::string::npos);
  EXPECT_GE(now_ms() - began, 250);
}

TEST_F(WebSocketH2Test, TunnelsCountAgainstTheRateLimitLikeAnyRequest) {
  // BAD-INPUTS.md: 429 is per identity across connections and h2 streams. A bucket of 2 that
  // refills one token a minute: the third handshake of the identity is refused.
  start({"--rate-limit", "0.0167", "--burst", "2"});
  H2TestClient first(port_, false);
  H2TestClient second(port_, false);
  const int32_t open = open_ws(first, "/chat", {bearer()});
  EXPECT_EQ(first.replies()[open].status, 200);
  first.reset(open);  // the upstream serves one connection at a time: free it
  ASSERT_TRUE(first.send());
  EXPECT_TRUE(eventually([&] { return upstream_.closed() == 1; }));
  EXPECT_EQ(second.replies()[open_ws(second, "/refuse", {bearer()})].status, 403);
  const int32_t limited = open_ws(second, "/chat", {bearer()});
  EXPECT_EQ(second.replies()[limited].status, 429);
  EXPECT_EQ(second.replies()[limited].headers.count("retry-after"), 1u);
  EXPECT_EQ(upstream_.connections(), 2);  // the third never reached the service
}

TEST_F(WebSocketH2Test, AQuietTunnelEndsAfterTheStreamIdleTimeout) {
  start({"--stream-idle-timeout", "300ms"});
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  EXPECT_EQ(exchange(client, id, 0x1, "one").second, "one");
  const int64_t silent_from = now_ms();
  auto& reply = client.replies()[id];
  EXPECT_TRUE(client.run_until([&] { return reply.closed; }));
  EXPECT_GE(now_ms() - silent_from, 250);
  EXPECT_EQ(reply.error_code, static_cast<uint32_t>(NGHTTP2_CANCEL));
  EXPECT_TRUE(eventually([&] { return upstream_.closed() == 1; }));
  EXPECT_EQ(metric_value("gatedrill_gateway_h2_events_total{kind=\"stream_idle_timeout\"}"), 1);
  EXPECT_FALSE(client.goaway());
}

TEST_F(WebSocketH2Test, AServerPushingKeepsATunnelPastTheIdleTimeoutOfHttp1Tunnels) {
  // --idle-timeout is what ends a quiet HTTP/1.1 tunnel; it ends a quiet h2 one alike.
  // 600 ms: past each 200 ms gap with room for a loaded machine, short of the 800 ms in all.
  start({"--idle-timeout", "600ms"});
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  const int64_t began = now_ms();
  // The client says nothing more; the server pushes 4 frames 200 ms apart (800 ms in all).
  client.send_data(id, frame(0x1, "push 4 200", true));
  for (int i = 1; i <= 4; ++i)
    EXPECT_EQ(next_frame(client, id).second, "pushed " + std::to_string(i));
  EXPECT_GE(now_ms() - began, 750);
  auto& reply = client.replies()[id];
  EXPECT_FALSE(reply.closed);
  // Then silence both ways: reset after the idle timeout.
  EXPECT_TRUE(client.run_until([&] { return reply.closed; }));
  EXPECT_EQ(reply.error_code, static_cast<uint32_t>(NGHTTP2_CANCEL));
}

TEST_F(WebSocketH2Test, ToAnHttpsUpstreamTheTunnelRunsOverTls) {
  TestDir dir("gw-ws-h2-up-tls-");
  auto tls_upstream = start_with_tls_upstream(dir);
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  ASSERT_EQ(client.replies()[id].status, 200) << client.replies()[id].body;
  EXPECT_EQ(tls_upstream->last_head().rfind("GET /chat HTTP/1.1", 0), 0u);
  EXPECT_EQ(exchange(client, id, 0x1, "over tls").second, "over tls");
  std::string big(300 * 1024, 'b');  // past the stream window, in many TLS records
  EXPECT_EQ(exchange(client, id, 0x2, big).second.size(), big.size());
  EXPECT_EQ(exchange(client, id, 0x8, "").first, 0x8);
  auto& reply = client.replies()[id];
  EXPECT_TRUE(client.run_until([&] { return reply.closed; }));
  EXPECT_EQ(reply.error_code, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(upstream_.connections(), 0);
}

TEST_F(WebSocketH2Test, TheClientsEndStreamIsACloseNotifyToAnHttpsUpstream) {
  // The client half-closes: the TLS upstream reads a close_notify (a clean end of its input,
  // SSL_ERROR_ZERO_RETURN), not a TCP FIN that could be a truncation; it may still answer.
  TestDir dir("gw-ws-h2-up-notify-");
  auto tls_upstream = start_with_tls_upstream(dir);
  H2TestClient client(port_, false);
  const int32_t id = open_ws(client, "/chat", {bearer()});
  ASSERT_EQ(client.replies()[id].status, 200) << client.replies()[id].body;
  EXPECT_EQ(exchange(client, id, 0x1, "before the end").second, "before the end");
  client.send_data(id, "", true);
  auto& reply = client.replies()[id];
  EXPECT_TRUE(client.run_until([&] { return reply.closed; }));
  EXPECT_EQ(reply.error_code, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_TRUE(eventually([&] { return tls_upstream->closed() == 1; }));
  EXPECT_EQ(tls_upstream->tls_clean_ends(), 1);
}

TEST_F(WebSocketH2Test, OverTlsWithAlpnH2) {
  TestDir dir("gw-ws-h2-tls-");
  start({}, "", &dir);
  H2TestClient client(port_, true);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.alpn(), "h2");
  const int32_t id = open_ws(client, "/chat", {bearer()});
  ASSERT_EQ(client.replies()[id].status, 200);
  for (int i = 0; i < 10; ++i) {
    const std::string text = "message " + std::to_string(i);
    EXPECT_EQ(exchange(client, id, 0x1, text).second, text);
  }
  EXPECT_EQ(exchange(client, id, 0x8, "").first, 0x8);
}

}  // namespace
}  // namespace gatedrill::gateway::test

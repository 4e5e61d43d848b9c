// WebSockets through the gateway (HTTP/1.1 Upgrade): the handshake passes the filter chain, then
// the gateway tunnels bytes both ways to the upstream. An upstream that echoes frames stands in
// for a WebSocket service; the client is a raw socket speaking RFC 6455 by hand.
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "gateway/server/tls13_records.hpp"
#include "websocket_support.hpp"

namespace gatedrill::gateway::test {
namespace {

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override { start(base_config(idp_, upstream_.url())); }
  void start(GatewayConfig config) {
    if (gateway_) gateway_->stop();
    gateway_ = std::make_unique<Gateway>(time_, std::move(config));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  std::string handshake(const std::string& token) const {
    std::string out =
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!token.empty()) out += "Authorization: Bearer " + token + "\r\n";
    return out + "\r\n";
  }

  // A gateway with this idle timeout, and a tunnel through it (the 101 read); -1 on failure.
  int open_tunnel(std::chrono::milliseconds idle_timeout, std::string& pending) {
    auto config = base_config(idp_, upstream_.url());
    config.data.idle_timeout = idle_timeout;
    start(std::move(config));
    int fd = connect_loopback(gateway_->port());
    if (fd < 0) return -1;
    if (!send_all(fd, handshake(idp_.token(time_.wall_seconds()))) ||
        read_head(fd, pending).rfind("HTTP/1.1 101", 0) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  WebSocketEchoUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(WebSocketTest, HandshakeThroughTheGatewayThenFramesAreEchoed) {
  int fd = connect_loopback(gateway_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, handshake(idp_.token(time_.wall_seconds()))));
  std::string pending;
  std::string head = read_head(fd, pending);
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  // The RFC 6455 example key's accept value: the upstream's answer reached the client intact.
  EXPECT_NE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << head;
  EXPECT_NE(head.find("Upgrade: websocket"), std::string::npos) << head;
  // The upstream saw the upgrade with the identity the gateway vouches for.
  const std::string upstream_head = upstream_.last_head();
  EXPECT_NE(upstream_head.find("Upgrade: websocket"), std::string::npos) << upstream_head;
  EXPECT_NE(upstream_head.find("x-gatedrill-sub: alice"), std::string::npos) << upstream_head;

  ASSERT_TRUE(send_all(fd, frame(0x1, "hello ws", true)));
  auto [opcode, payload] = read_frame(fd, pending);
  EXPECT_EQ(opcode, 0x1);
  EXPECT_EQ(payload, "hello ws");
  ASSERT_TRUE(send_all(fd, frame(0x2, std::string("\x00\x01\x02", 3), true)));
  auto [binary_opcode, binary] = read_frame(fd, pending);
  EXPECT_EQ(binary_opcode, 0x2);
  EXPECT_EQ(binary, std::string("\x00\x01\x02", 3));
  ASSERT_TRUE(send_all(fd, frame(0x8, "", true)));
  EXPECT_EQ(read_frame(fd, pending).first, 0x8);
  ::close(fd);
  EXPECT_GE(metric(gateway_->admin_port(),
                   "gatedrill_gateway_requests_by_protocol_total{protocol=\"websocket\"}"),
            1);
}

TEST_F(WebSocketTest, TheDecisionLogAndMetricsRecordThe101) {
  // What the HTTP/1.1 client saw: the upstream's 101 (an h2 client's tunnel is a 200).
  TestDir dir("gw-ws-audit-");
  auto config = base_config(idp_, upstream_.url());
  config.audit = AuditLogOptions{dir.path("audit.log"), 1 << 20, 1, 1000};
  start(std::move(config));
  int fd = connect_loopback(gateway_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, handshake(idp_.token(time_.wall_seconds()))));
  std::string pending;
  EXPECT_EQ(read_head(fd, pending).rfind("HTTP/1.1 101", 0), 0u);
  ASSERT_TRUE(send_all(fd, frame(0x1, "logged", true)));
  EXPECT_EQ(read_frame(fd, pending).second, "logged");
  ::close(fd);
  gateway_->flush_audit();
  std::ifstream in(dir.path("audit.log"));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  auto record = parse_json_object(line);
  ASSERT_TRUE(record) << line;
  EXPECT_EQ(record->at("status").as_int64(), 101);
  EXPECT_EQ(metric(gateway_->admin_port(),
                   "gatedrill_gateway_requests_total{status=\"101\",reason=\"ok\"}"),
            1);
}

TEST_F(WebSocketTest, TunnelOverTlsRunsOnTheOwnRecordLayer) {
  // Reads and writes outstanding at once on the gateway's side, TLS 1.3 records of its own.
  TestDir dir("gw-ws-tls-");
  auto config = base_config(idp_, upstream_.url());
  config.data.tls = write_localhost_certificate(time_, dir);
  start(std::move(config));
  const uint64_t own_before = tls_record_counts().own;
  TlsClient client(gateway_->port());
  ASSERT_TRUE(client.handshaken());
  Io io(client.raw().fd(), client.ssl());
  ASSERT_TRUE(send_all(io, handshake(idp_.token(time_.wall_seconds()))));
  std::string pending;
  std::string head = read_head(io, pending);
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  for (int i = 0; i < 20; ++i) {
    const std::string text = "message " + std::to_string(i);
    ASSERT_TRUE(send_all(io, frame(0x1, text, true)));
    auto [opcode, payload] = read_frame(io, pending);
    EXPECT_EQ(opcode, 0x1);
    EXPECT_EQ(payload, text);
  }
  ASSERT_TRUE(send_all(io, frame(0x8, "", true)));
  EXPECT_EQ(read_frame(io, pending).first, 0x8);
  EXPECT_EQ(tls_record_counts().own - own_before, 1u);
}

TEST_F(WebSocketTest, NoTokenIs401BeforeTheUpgrade) {
  int fd = connect_loopback(gateway_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, handshake("")));
  std::string pending;
  std::string head = read_head(fd, pending);
  EXPECT_EQ(head.rfind("HTTP/1.1 401", 0), 0u) << head;
  EXPECT_NE(head.find("WWW-Authenticate: Bearer"), std::string::npos) << head;
  ::close(fd);
  EXPECT_EQ(upstream_.connections(), 0);  // nothing reached the service
}

TEST_F(WebSocketTest, ATunnelSilentBothWaysPastTheIdleTimeoutIsClosed) {
  std::string pending;
  int fd = open_tunnel(std::chrono::milliseconds(300), pending);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, frame(0x1, "one", true)));
  EXPECT_EQ(read_frame(fd, pending).second, "one");
  SystemTimeSource clock;
  const int64_t silent_from = clock.monotonic_ms();
  char byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);  // the gateway closed it (the receive timeout is 5 s)
  EXPECT_GE(clock.monotonic_ms() - silent_from, 250);
  ::close(fd);
}

TEST_F(WebSocketTest, AServerPushingToAQuietClientKeepsTheTunnelOpenPastTheIdleTimeout) {
  std::string pending;
  // 600 ms: past each 200 ms gap with room for a loaded machine, short of the 800 ms in all.
  int fd = open_tunnel(std::chrono::milliseconds(600), pending);
  ASSERT_GE(fd, 0);
  SystemTimeSource clock;
  const int64_t began = clock.monotonic_ms();
  // The client says nothing more; the server pushes 4 frames 200 ms apart (800 ms in all).
  ASSERT_TRUE(send_all(fd, frame(0x1, "push 4 200", true)));
  for (int i = 1; i <= 4; ++i)
    EXPECT_EQ(read_frame(fd, pending).second, "pushed " + std::to_string(i));
  EXPECT_GE(clock.monotonic_ms() - began, 750);
  // Then silence both ways: closed after the idle timeout.
  char byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
}

}  // namespace
}  // namespace gatedrill::gateway::test

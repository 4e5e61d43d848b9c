// WebSockets through the gateway (HTTP/1.1 Upgrade): the handshake passes the filter chain, then
// the gateway tunnels bytes both ways to the upstream. An upstream that echoes frames stands in
// for a WebSocket service; the client is a raw socket speaking RFC 6455 by hand.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "gateway/server/tls13_records.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

// The byte stream of one side: a blocking socket, or TLS over it (OpenSSL's client).
struct Io {
  Io(int socket_fd, SSL* tls = nullptr) : fd(socket_fd), ssl(tls) {}  // NOLINT: an fd is an Io
  ssize_t recv(char* data, size_t size) const {
    if (ssl == nullptr) return ::recv(fd, data, size, 0);
    const int n = SSL_read(ssl, data, static_cast<int>(size));
    return n > 0 ? n : -1;
  }
  int fd;
  SSL* ssl;
};

// Blocking loopback socket helpers with a receive timeout.
int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
bool send_all(Io io, const std::string& data) {
  if (io.ssl != nullptr)
    return SSL_write(io.ssl, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  return ::send(io.fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}
// Reads up to the end of an HTTP head; `rest` gets what came after it.
std::string read_head(Io io, std::string& rest) {
  std::string all;
  char buffer[4096];
  for (;;) {
    if (auto end = all.find("\r\n\r\n"); end != std::string::npos) {
      rest = all.substr(end + 4);
      return all.substr(0, end + 4);
    }
    ssize_t n = io.recv(buffer, sizeof buffer);
    if (n <= 0) return all;
    all.append(buffer, static_cast<size_t>(n));
  }
}
bool read_exact(Io io, std::string& pending, size_t count) {
  char buffer[4096];
  while (pending.size() < count) {
    ssize_t n = io.recv(buffer, sizeof buffer);
    if (n <= 0) return false;
    pending.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

// One frame (payload < 126 bytes). Clients mask (RFC 6455 section 5.3), servers do not.
std::string frame(uint8_t opcode, const std::string& payload, bool masked) {
  std::string out;
  out += static_cast<char>(0x80 | opcode);
  out += static_cast<char>((masked ? 0x80 : 0) | payload.size());
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) out.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i)
    out += masked ? static_cast<char>(payload[i] ^ mask[i % 4]) : payload[i];
  return out;
}
// Reads one frame; returns {opcode, unmasked payload}.
std::pair<int, std::string> read_frame(Io io, std::string& pending) {
  if (!read_exact(io, pending, 2)) return {-1, ""};
  const int opcode = pending[0] & 0x0f;
  const bool masked = (pending[1] & 0x80) != 0;
  const size_t length = pending[1] & 0x7f;
  const size_t head = 2 + (masked ? 4 : 0);
  if (!read_exact(io, pending, head + length)) return {-1, ""};
  std::string payload = pending.substr(head, length);
  if (masked)
    for (size_t i = 0; i < length; ++i) payload[i] ^= pending[2 + i % 4];
  pending.erase(0, head + length);
  return {opcode, payload};
}

std::string accept_key(const std::string& key) {
  const std::string joined = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
  unsigned char encoded[64];
  const int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(n));
}

// A WebSocket echo service: one connection at a time, 101 for a handshake, then every frame
// echoed back (a close frame is answered and ends the connection). A text frame "push N MS" is
// answered instead by N text frames "pushed <i>", one every MS ms (a server pushing on its own).
class WebSocketEchoUpstream {
 public:
  WebSocketEchoUpstream() : fd_(listen_loopback(port_)) {
    thread_ = std::thread([this] { run(); });
  }
  ~WebSocketEchoUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  std::string last_head() const {
    std::lock_guard lock(mutex_);
    return last_head_;
  }

 private:
  void run() {
    serve_until_stopped(fd_, stop_, [this](int conn) {
      ++connections_;
      timeval tv{5, 0};
      ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      serve(conn);
    });
  }
  void serve(int conn) {
    std::string pending;
    std::string head = read_head(conn, pending);
    {
      std::lock_guard lock(mutex_);
      last_head_ = head;
    }
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto pos = lower.find("sec-websocket-key:");
    if (pos == std::string::npos) return;
    auto start = head.find_first_not_of(' ', pos + 18);
    std::string key = head.substr(start, head.find("\r\n", start) - start);
    send_all(conn,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " +
                 accept_key(key) + "\r\n\r\n");
    for (;;) {
      auto [opcode, payload] = read_frame(conn, pending);
      if (opcode < 0) return;
      int count = 0, ms = 0;
      if (opcode == 0x1 && std::sscanf(payload.c_str(), "push %d %d", &count, &ms) == 2) {
        for (int i = 1; i <= count; ++i) {
          pollfd none{-1, 0, 0};
          ::poll(&none, 1, ms);  // the pacing of the pushes
          send_all(conn, frame(0x1, "pushed " + std::to_string(i), false));
        }
        continue;
      }
      send_all(conn, frame(static_cast<uint8_t>(opcode), payload, false));
      if (opcode == 0x8) return;  // close
    }
  }

  uint16_t port_ = 0;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::string last_head_;
  std::thread thread_;
};

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
  int fd = open_tunnel(std::chrono::milliseconds(300), pending);
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

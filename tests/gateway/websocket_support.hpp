#pragma once
// WebSocket test pieces shared by the HTTP/1.1 and HTTP/2 (RFC 8441) tunnel tests: RFC 6455
// frames by hand, blocking loopback socket helpers, and an upstream echoing frames.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "gateway/server/websocket_key.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {

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

// Blocking loopback socket helpers.
inline bool send_all(Io io, const std::string& data) {
  if (io.ssl != nullptr)
    return SSL_write(io.ssl, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  return ::send(io.fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}
// Reads up to the end of an HTTP head; `rest` gets what came after it.
inline std::string read_head(Io io, std::string& rest) {
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
inline bool read_exact(Io io, std::string& pending, size_t count) {
  char buffer[4096];
  while (pending.size() < count) {
    ssize_t n = io.recv(buffer, sizeof buffer);
    if (n <= 0) return false;
    pending.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

// One frame, any payload size (7-bit, 16-bit or 64-bit length). Clients mask (RFC 6455
// section 5.3), servers do not.
inline std::string frame(uint8_t opcode, const std::string& payload, bool masked) {
  std::string out;
  out += static_cast<char>(0x80 | opcode);
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  const size_t size = payload.size();
  if (size < 126) {
    out += static_cast<char>(mask_bit | static_cast<char>(size));
  } else if (size <= 0xffff) {
    out += static_cast<char>(mask_bit | 126);
    for (int shift = 8; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xff);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xff);
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) out.append(mask, 4);
  for (size_t i = 0; i < size; ++i)
    out += masked ? static_cast<char>(payload[i] ^ mask[i % 4]) : payload[i];
  return out;
}
// Takes one whole frame off the front of `pending`: {opcode, unmasked payload}; {-1, ""} while
// it is not all there.
inline std::pair<int, std::string> take_frame(std::string& pending) {
  if (pending.size() < 2) return {-1, ""};
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(pending[i]); };
  const int opcode = byte(0) & 0x0f;
  const bool masked = (byte(1) & 0x80) != 0;
  size_t length = byte(1) & 0x7f;
  size_t head = 2;
  if (length >= 126) {
    const size_t bytes = length == 126 ? 2 : 8;
    if (pending.size() < 2 + bytes) return {-1, ""};
    length = 0;
    for (size_t i = 0; i < bytes; ++i) length = (length << 8) | byte(2 + i);
    head += bytes;
  }
  const size_t mask_at = head;
  if (masked) head += 4;
  if (pending.size() < head + length) return {-1, ""};
  std::string payload = pending.substr(head, length);
  if (masked)
    for (size_t i = 0; i < length; ++i) payload[i] ^= pending[mask_at + i % 4];
  pending.erase(0, head + length);
  return {opcode, payload};
}
// Reads one frame; returns {opcode, unmasked payload}, or {-1, ""} when the stream ended.
inline std::pair<int, std::string> read_frame(Io io, std::string& pending) {
  char buffer[16384];
  for (;;) {
    auto taken = take_frame(pending);
    if (taken.first >= 0) return taken;
    ssize_t n = io.recv(buffer, sizeof buffer);
    if (n <= 0) return {-1, ""};
    pending.append(buffer, static_cast<size_t>(n));
  }
}

// A WebSocket echo service: one connection at a time, 101 for a handshake, then every frame
// echoed back (a close frame is answered and ends the connection; so does the client's FIN). A
// text frame "push N MS" is answered instead by N text frames "pushed <i>", one every MS ms (a
// server pushing on its own); "flood N SIZE" by N binary frames of SIZE bytes, as fast as the
// connection takes them (blocking writes); "hold" by reading nothing until release(), then taking
// frames without answering (drained() counts their payload). A handshake for /refuse is answered
// 403, for /no-upgrade 200 (a server that does not switch), for /bad-accept 101 with an accept made
// from another key.
class WebSocketEchoUpstream {
 public:
  // `tls`: the service speaks TLS with this certificate (an https:// upstream).
  explicit WebSocketEchoUpstream(const TlsServerConfig* tls = nullptr)
      : fd_(listen_loopback(port_)) {
    if (tls != nullptr) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      SSL_CTX_use_certificate_chain_file(ctx_, tls->cert_chain_file.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, tls->key_file.c_str(), SSL_FILETYPE_PEM);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~WebSocketEchoUpstream() {
    stop_ = true;
    release();  // a connection on "hold" goes on
    thread_.join();
    ::close(fd_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }
  WebSocketEchoUpstream(const WebSocketEchoUpstream&) = delete;
  WebSocketEchoUpstream& operator=(const WebSocketEchoUpstream&) = delete;
  std::string url() const {
    return (ctx_ != nullptr ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
  }
  int connections() const { return connections_.load(); }
  int closed() const { return closed_.load(); }  // connections it has closed
  // TLS connections whose client ended its side with a close_notify.
  int tls_clean_ends() const { return tls_clean_ends_.load(); }
  uint64_t flooded() const { return flooded_.load(); }  // bytes "flood" got written so far
  uint64_t drained() const { return drained_.load(); }
  void release() {
    std::lock_guard lock(mutex_);
    release_ = true;
    released_.notify_all();
  }
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
      SSL* ssl = nullptr;
      if (ctx_ != nullptr) {
        ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, conn);
        if (SSL_accept(ssl) == 1) {
          serve(Io(conn, ssl));
          // The client's close_notify was read (its SSL_read returned 0, SSL_ERROR_ZERO_RETURN):
          // its side ended cleanly, not with a TCP FIN alone (SSL_ERROR_SSL, unexpected EOF).
          if ((SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0) ++tls_clean_ends_;
        }
        SSL_free(ssl);
      } else {
        serve(conn);
      }
      ++closed_;  // serve_until_stopped closes it next
    });
  }
  void serve(Io conn) {
    std::string pending;
    std::string head = read_head(conn, pending);
    {
      std::lock_guard lock(mutex_);
      last_head_ = head;
    }
    if (head.rfind("GET /refuse ", 0) == 0) {
      send_all(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nno chat");
      return;
    }
    if (head.rfind("GET /silent ", 0) == 0) {
      char byte;
      while (conn.recv(&byte, 1) > 0) {
      }  // never answers; until the gateway gives up and closes
      return;
    }
    if (head.rfind("GET /no-upgrade ", 0) == 0) {
      send_all(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      return;
    }
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto pos = lower.find("sec-websocket-key:");
    if (pos == std::string::npos) return;
    auto start = head.find_first_not_of(' ', pos + 18);
    std::string key = head.substr(start, head.find("\r\n", start) - start);
    if (head.rfind("GET /bad-accept ", 0) == 0) key += "x";
    send_all(conn,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " +
                 websocket_accept(key) + "\r\n\r\n");
    bool sink = false;
    for (;;) {
      auto [opcode, payload] = read_frame(conn, pending);
      if (opcode < 0) return;
      if (sink) {
        drained_ += payload.size();
        continue;
      }
      int count = 0, ms = 0, size = 0;
      if (opcode == 0x1 && std::sscanf(payload.c_str(), "flood %d %d", &count, &size) == 2) {
        const std::string big = frame(0x2, std::string(static_cast<size_t>(size), 'f'), false);
        for (int i = 0; i < count && send_all(conn, big); ++i) flooded_ += big.size();
        continue;
      }
      if (opcode == 0x1 && payload == "hold") {
        // A service that stops reading, until the test releases it (10 s at most).
        std::unique_lock lock(mutex_);
        released_.wait_for(lock, std::chrono::seconds(10), [this] { return release_; });
        sink = true;
        continue;
      }
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
  SSL_CTX* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> closed_{0};
  std::atomic<int> tls_clean_ends_{0};
  std::atomic<uint64_t> flooded_{0};
  std::atomic<uint64_t> drained_{0};
  mutable std::mutex mutex_;
  std::string last_head_;
  std::condition_variable released_;
  bool release_ = false;
  std::thread thread_;
};

}  // namespace gatedrill::gateway::test

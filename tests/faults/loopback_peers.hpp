#pragma once
// Loopback peers for the fault proxy tests: an echo server and a client with bounded reads.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace gatedrill::test_peers {

// Echoes every byte back on each connection; one thread per connection.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~EchoServer() {
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int c : connections_) ::shutdown(c, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    for (int c : connections_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void accept_loop() {
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::lock_guard<std::mutex> lock(mutex_);
      connections_.push_back(c);
      workers_.emplace_back([c] {
        char buf[65536];
        for (;;) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) {
            ::shutdown(c, SHUT_WR);
            return;
          }
          for (ssize_t sent = 0; sent < n;) {
            ssize_t w = ::send(c, buf + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
            if (w <= 0) return;
            sent += w;
          }
        }
      });
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> workers_;
};

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Client() { ::close(fd_); }

  void send_all(const std::string& data) {
    for (size_t sent = 0; sent < data.size();) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      sent += static_cast<size_t>(n);
    }
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  enum class End { kComplete, kTimeout, kEof, kReset };
  struct Received {
    std::string data;
    End end;
  };
  // Reads until `want` bytes, EOF, an error, or `timeout` without progress.
  Received receive(size_t want, int timeout_ms) {
    Received r{{}, End::kComplete};
    char buf[65536];
    while (r.data.size() < want) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) == 0) {
        r.end = End::kTimeout;
        return r;
      }
      ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, want - r.data.size()), 0);
      if (n == 0) {
        r.end = End::kEof;
        return r;
      }
      if (n < 0) {
        r.end = errno == ECONNRESET ? End::kReset : End::kEof;
        return r;
      }
      r.data.append(buf, static_cast<size_t>(n));
    }
    return r;
  }

 private:
  int fd_ = -1;
};

inline std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

}  // namespace gatedrill::test_peers

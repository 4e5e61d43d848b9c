#pragma once
// Helpers for the networking tests: a scratch directory, a throwaway self-signed certificate,
// a raw loopback socket (to speak HTTP by hand), and bounded waits.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/http/http_client.hpp"

namespace gatedrill::test {

inline HttpClientOptions with_timeout(std::chrono::milliseconds timeout) {
  HttpClientOptions options;
  options.timeout = timeout;
  return options;
}

// A fresh directory under the test temp dir, removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "gatedrill-net-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Self-signed EC certificate for CN=localhost with SANs localhost and 127.0.0.1.
// Returns false (and the reason) if the openssl CLI failed.
inline ::testing::AssertionResult make_self_signed(const ScratchDir& dir, std::string& cert,
                                                   std::string& key) {
  cert = dir.file("cert.pem");
  key = dir.file("key.pem");
  std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
      " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
      " -keyout '" +
      key + "' -out '" + cert + "' >'" + dir.file("openssl.log") + "' 2>&1";
  if (std::system(command.c_str()) != 0) {
    return ::testing::AssertionFailure()
           << "openssl failed: " << read_file(dir.file("openssl.log"));
  }
  return ::testing::AssertionSuccess();
}

// A blocking loopback TCP connection with a receive timeout, for hand-written HTTP.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool send_all(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // One response with a Content-Length body (what our server always sends). Empty on
  // timeout or close before a complete response.
  std::string read_response() {
    for (;;) {
      auto header_end = pending_.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        size_t length = 0;
        auto lower = pending_.substr(0, header_end);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto pos = lower.find("content-length:");
        if (pos != std::string::npos) length = std::stoul(lower.substr(pos + 15));
        size_t total = header_end + 4 + length;
        if (pending_.size() >= total) {
          std::string response = pending_.substr(0, total);
          pending_.erase(0, total);
          return response;
        }
      }
      if (!receive()) return {};
    }
  }
  // True when the peer closes the connection (EOF) before the receive timeout.
  bool closed_by_peer() {
    char buffer[256];
    for (;;) {
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) return true;
      if (n < 0) return false;
    }
  }

 private:
  bool receive() {
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    pending_.append(buffer, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

// A listening socket on 127.0.0.1 that accepts nothing and never answers (the kernel completes
// the TCP handshake into the backlog), for client timeout tests.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Accepts one connection, reads what arrives, answers `reply` (not HTTP) and closes.
class GarbageServer {
 public:
  explicit GarbageServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};  // bounds accept() and recv() if no client comes
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 4);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      timeval client_tv{5, 0};
      ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &client_tv, sizeof client_tv);
      char buffer[1024];
      (void)::recv(client, buffer, sizeof buffer, 0);
      (void)::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      ::close(client);
    });
  }
  ~GarbageServer() {
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  std::string reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Blocks until pred() holds or timeout passes; returns pred(). The predicate is re-checked
// whenever notify() is called (and, as a fallback, every few milliseconds).
class Signal {
 public:
  void notify() {
    { std::lock_guard lock(mutex_); }
    cv_.notify_all();
  }
  bool wait_for(std::chrono::milliseconds timeout, const std::function<bool()>& pred) {
    std::unique_lock lock(mutex_);
    auto step = std::chrono::milliseconds(5);
    for (auto waited = std::chrono::milliseconds(0); waited < timeout; waited += step) {
      if (pred()) return true;
      cv_.wait_for(lock, step);
    }
    return pred();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace gatedrill::test

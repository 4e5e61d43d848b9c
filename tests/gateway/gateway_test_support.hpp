#pragma once
// A gateway in-process between a fake IdP (JWKS over the core HttpServer) and a fake upstream
// that records what reached it, plus a raw loopback socket for hand-written HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <boost/json/object.hpp>

#include "core/crypto/jwt.hpp"
#include "core/crypto/x509.hpp"
#include "core/http/http_client.hpp"
#include "core/http/http_server.hpp"
#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/gateway.hpp"
#include "tests/eventually.hpp"
#include "tests/programs_on_path.hpp"

namespace gatedrill::gateway::test {

inline HttpClientOptions quick(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  HttpClientOptions o;
  o.timeout = timeout;
  o.verify_peer = false;
  return o;
}

using ::gatedrill::test::eventually;

// The "reason" of a gateway's JSON error body.
inline std::string reason_of(const HttpResponse& r) {
  auto doc = parse_json_object(r.body);
  if (!doc) return "<not json: " + r.body + ">";
  auto reason = json_string(*doc, "reason");
  return reason && *reason ? **reason : "<no reason>";
}

// The value of a sample (name with labels, as printed) on a node's /metrics, or -1.
inline double metric(uint16_t admin_port, const std::string& sample) {
  auto r = http_get("http://127.0.0.1:" + std::to_string(admin_port) + "/metrics", quick());
  if (!r) return -1;
  auto pos = r->body.find("\n" + sample + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(r->body.substr(pos + sample.size() + 2));
}

using ::gatedrill::test::redis_installed;  // redis-server on PATH (tests skip otherwise)

// The IdP's signing key and its JWKS endpoint.
class FakeIdp {
 public:
  FakeIdp() : server_(HttpServerOptions{}) {
    key_ = *Key::generate(KeyType::kEcP256);
    jwks_.add(kid_, JwsAlg::kES256, key_);
    server_.route("GET", "/jwks.json", [this](const HttpRequest&) {
      std::lock_guard lock(mutex_);
      ++fetches_;
      if (down_) return json_error(503, "down", "IdP down");
      return json_ok(document_.empty() ? jwks_.to_json() : document_);
    });
    auto started = server_.start();
    if (!started) throw std::runtime_error(started.error().message);
  }

  std::string issuer() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  std::string jwks_uri() const { return issuer() + "/jwks.json"; }
  const std::string& kid() const { return kid_; }
  const Key& key() const { return key_; }
  int fetches() const {
    std::lock_guard lock(mutex_);
    return fetches_;
  }
  // Serves this JWKS document instead of the real one (empty: back to the real one).
  void set_document(std::string document) {
    std::lock_guard lock(mutex_);
    document_ = std::move(document);
  }
  void set_down(bool down) {
    std::lock_guard lock(mutex_);
    down_ = down;
  }

  // Claims: iss/aud/sub/iat/nbf/exp around `now_s`, with `overrides` applied (null removes).
  std::string token(int64_t now_s, boost::json::object overrides = {}, std::string kid = "",
                    const Key* key = nullptr) const {
    boost::json::object claims{{"iss", issuer()}, {"aud", "gatedrill"}, {"sub", "alice"},
                               {"iat", now_s},    {"nbf", now_s},       {"exp", now_s + 120}};
    for (auto& [name, value] : overrides) {
      if (value.is_null())
        claims.erase(name);  // null: leave the claim out
      else
        claims[name] = value;
    }
    auto signed_token =
        sign_jwt(JwsAlg::kES256, key ? *key : key_, kid.empty() ? kid_ : kid, claims);
    return *signed_token;
  }

 private:
  HttpServer server_;
  Key key_;
  std::string kid_ = "k1";
  Jwks jwks_;
  mutable std::mutex mutex_;
  int fetches_ = 0;
  bool down_ = false;
  std::string document_;
};

// Answers 200 "hello" with fingerprinting headers, and records each request's headers.
class FakeUpstream {
 public:
  FakeUpstream() : server_(HttpServerOptions{}) {
    server_.route("*", "/*", [this](const HttpRequest& request) {
      HttpResponse response;
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(request);
        response.delay = delay_;
      }
      response.content_type = "text/plain";
      response.body = "hello " + request.path;
      response.headers = {
          {"Server", "secret-backend/1.0"}, {"X-Powered-By", "php"}, {"x-app", "yes"}};
      return response;
    });
    auto started = server_.start();
    if (!started) throw std::runtime_error(started.error().message);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  std::vector<HttpRequest> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  void set_delay(std::chrono::microseconds d) {
    std::lock_guard lock(mutex_);
    delay_ = d;
  }

 private:
  HttpServer server_;
  mutable std::mutex mutex_;
  std::vector<HttpRequest> seen_;
  std::chrono::microseconds delay_{0};
};

// An https:// upstream speaking HTTP/1.1 only (the core HttpServer with the given certificate)
// that counts requests.
class TlsUpstream {
 public:
  TlsUpstream(const std::string& cert_file, const std::string& key_file)
      : server_([&] {
          HttpServerOptions o;
          o.tls = TlsServerConfig{cert_file, key_file};
          return o;
        }()) {
    server_.route("*", "/*", [this](const HttpRequest& request) {
      std::lock_guard lock(mutex_);
      ++seen_;
      HttpResponse response;
      response.content_type = "text/plain";
      response.body = "tls " + request.path;
      return response;
    });
    auto started = server_.start();
    if (!started) throw std::runtime_error(started.error().message);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_.port()); }
  int seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  HttpServer server_;
  mutable std::mutex mutex_;
  int seen_ = 0;
};

inline GatewayConfig base_config(const FakeIdp& idp, const std::string& upstream) {
  GatewayConfig c;
  c.issuer = idp.issuer();
  c.audiences = {"gatedrill"};
  c.jwks.jwks_uri = idp.jwks_uri();
  c.jwks.retry_interval = std::chrono::milliseconds(50);
  c.data.upstream = *Url::parse(upstream);
  c.data.upstream_timeout = std::chrono::milliseconds(1500);
  return c;
}

// A socket of `type` (SOCK_STREAM, SOCK_DGRAM) bound to 127.0.0.1 at a free port.
inline int bind_loopback(int type, uint16_t& port) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// A listening socket on 127.0.0.1 at a free port (for hand-written test upstreams).
inline int listen_loopback(uint16_t& port) {
  int fd = bind_loopback(SOCK_STREAM, port);
  ::listen(fd, 16);
  return fd;
}

// A hand-written test upstream's accept loop: one connection at a time, each handed to `serve`
// and closed after it; `stop` is looked at every 50 ms.
inline void serve_until_stopped(int listen_fd, const std::atomic<bool>& stop,
                                const std::function<void(int)>& serve) {
  while (!stop) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int conn = ::accept(listen_fd, nullptr, nullptr);
    if (conn < 0) continue;
    serve(conn);
    ::close(conn);
  }
}

// A scratch folder for one test (certificates, config files), removed with it.
class TestDir {
 public:
  explicit TestDir(const std::string& prefix)
      : dir_(::testing::TempDir() + prefix + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()) {
    std::filesystem::create_directories(dir_);
  }
  ~TestDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
  }

 private:
  std::string dir_;
};

// A self-signed P-256 certificate for localhost and 127.0.0.1, valid an hour either side of
// `time`'s now, written into `dir`; the listener configuration that serves it.
inline TlsServerConfig write_localhost_certificate(const TimeSource& time, const TestDir& dir) {
  auto key = Key::generate(KeyType::kEcP256);
  EXPECT_TRUE(key);
  CertRequest request;
  request.common_name = "localhost";
  request.ip_addresses = {"127.0.0.1"};
  request.not_before_s = time.wall_seconds() - 60;
  request.not_after_s = time.wall_seconds() + 3600;
  auto cert = issue_certificate(request, *key, "", *key);
  EXPECT_TRUE(cert) << cert.error().message;
  dir.write("cert.pem", cert->pem);
  dir.write("key.pem", key->private_pem());
  return TlsServerConfig{dir.path("cert.pem"), dir.path("key.pem")};
}

// A blocking TCP connection to 127.0.0.1:port with a 5 s receive timeout; -1 if refused.
inline int connect_loopback(uint16_t port) {
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

// A blocking loopback TCP connection with a receive timeout, for hand-written HTTP.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : fd_(connect_loopback(port)), connected_(fd_ >= 0) {}
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }  // e.g. for a TLS client over it (closed here)
  bool send_all(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // Everything until the peer closes (or the receive timeout).
  std::string read_until_close() {
    std::string all;
    char buffer[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return all;
      all.append(buffer, static_cast<size_t>(n));
    }
  }
  // Reads until `count` complete responses (each with Content-Length) arrived.
  std::vector<std::string> read_responses(size_t count) {
    std::vector<std::string> out;
    std::string pending;
    char buffer[4096];
    while (out.size() < count) {
      auto end = pending.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = pending.substr(0, end);
        for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t length = 0;
        if (auto pos = head.find("content-length:"); pos != std::string::npos)
          length = std::stoul(head.substr(pos + 15));
        if (pending.size() >= end + 4 + length) {
          out.push_back(pending.substr(0, end + 4 + length));
          pending.erase(0, end + 4 + length);
          continue;
        }
      }
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      pending.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// A blocking TLS client over a RawConnection (OpenSSL, no certificate check), for tests that
// need OpenSSL's own view or write raw bytes under TLS. Owns `ctx` (a client context).
class TlsClient {
 public:
  explicit TlsClient(uint16_t port, SSL_CTX* ctx = SSL_CTX_new(TLS_client_method()))
      : raw_(port), ctx_(ctx), ssl_(SSL_new(ctx)) {
    SSL_set_fd(ssl_, raw_.fd());
    handshaken_ = raw_.connected() && SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool handshaken() const { return handshaken_; }
  SSL* ssl() const { return ssl_; }
  RawConnection& raw() { return raw_; }

 private:
  RawConnection raw_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  bool handshaken_ = false;
};

}  // namespace gatedrill::gateway::test

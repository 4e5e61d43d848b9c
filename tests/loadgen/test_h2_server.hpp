#pragma once
// A small blocking HTTP/2 server (nghttp2) for the load generator's tests: 127.0.0.1, port 0,
// one thread per connection, h2c with prior knowledge or TLS with ALPN h2. Every request gets
// 200 with a short body.
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "tests/loadgen/test_http_server.hpp"

struct ssl_ctx_st;

namespace gatedrill::testing {

class TestH2Server {
 public:
  // tls: a server context with certificate and key; ALPN h2 is selected on it.
  // on_thread_start runs first on every thread the server starts (as TestHttpServer's).
  explicit TestH2Server(ssl_ctx_st* tls = nullptr, std::function<void()> on_thread_start = {});
  // Destruction shuts every socket down and joins every thread.

  std::string url(const std::string& path = "/") const;
  int64_t requests() const { return requests_.load(); }
  int64_t connections() const { return acceptor_.connections(); }
  // The most requests that arrived in one read: > 1 means streams overlapped on a connection.
  int64_t max_batch() const { return max_batch_.load(); }
  std::vector<std::string> paths() const;  // :path of every request, in arrival order

 private:
  void serve(Stream& stream);

  ssl_ctx_st* tls_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> max_batch_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> paths_;
  LoopbackAcceptor acceptor_;  // last: stopped first
};

}  // namespace gatedrill::testing

#pragma once
// A tiny blocking HTTP/1.1 server for the load generator's tests: one thread per connection on
// 127.0.0.1, port 0, optional TLS, and a per-request behaviour chosen by the test.
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct ssl_ctx_st;
struct ssl_st;

namespace gatedrill::testing {

struct Reply {
  int status = 200;
  std::string body = "ok";
  bool chunked = false;      // send the body in 3-byte chunks
  bool close = false;        // Connection: close, then close
  int delay_ms = 0;          // wait this long before answering (a stall)
  bool no_response = false;  // read the request, never answer
  bool drop = false;         // read the request, close the connection without answering
};

struct Stream;

// Accepts on 127.0.0.1 (a free port) and runs serve(stream) on a thread of its own per
// connection (after the TLS handshake when tls is set; a failed handshake ends the connection)
// until destroyed. The servers below hold one as their last member, so its destructor (which
// shuts every socket down and joins every thread) runs before the state serve() uses goes away.
class LoopbackAcceptor {
 public:
  // on_thread_start runs first on every thread started (the acceptor's and each connection's).
  LoopbackAcceptor(std::function<void(Stream&)> serve, ssl_ctx_st* tls,
                   std::function<void()> on_thread_start = {});
  ~LoopbackAcceptor();

  int port() const { return port_; }
  int64_t connections() const { return connections_.load(); }
  bool stopping() const { return stopping_.load(); }
  // Waits ms, or less when stopping; false when stopping.
  bool wait_or_stop(int ms);

 private:
  void accept_loop();

  void run_connection(int fd);

  std::function<void(Stream&)> serve_;
  ssl_ctx_st* tls_;
  std::function<void()> on_thread_start_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> connections_{0};
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

class TestHttpServer {
 public:
  // behaviour gets the 0-based number of the request over the whole server.
  // on_thread_start runs first on every thread the server starts (tests that count a
  // process's allocations use it to leave the server's own out).
  explicit TestHttpServer(std::function<Reply(int64_t)> behaviour, ssl_ctx_st* tls = nullptr,
                          std::function<void()> on_thread_start = {});
  // Destruction stops: closes every socket and joins every thread.

  int port() const { return acceptor_.port(); }
  std::string url(const std::string& path = "/") const;
  int64_t requests() const { return requests_.load(); }
  int64_t connections() const { return acceptor_.connections(); }
  int64_t body_bytes() const { return body_bytes_.load(); }  // request body bytes received
  // Every request head received (request line and headers), in arrival order.
  std::vector<std::string> heads() const;
  // The most requests one plain-TCP connection had outstanding when the server was about to
  // answer one (that one included): what a pipelining client had in flight.
  int64_t max_pipelined() const { return max_pipelined_.load(); }

 private:
  void serve(Stream& stream);

  std::function<Reply(int64_t)> behaviour_;
  ssl_ctx_st* tls_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> body_bytes_{0};
  std::atomic<int64_t> max_pipelined_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> heads_;
  LoopbackAcceptor acceptor_;  // last: stopped first
};

// A port on 127.0.0.1 with nothing listening, reserved so that no other gatedrill process
// (a parallel test) binds it.
int closed_port();

// A listening socket on 127.0.0.1 and a free port (throws when it cannot).
int listen_on_loopback(int* port);

// Blocking I/O over a plain socket or a TLS session (ssl may be null).
struct Stream {
  int fd;
  ssl_st* ssl;
  ssize_t read(char* buf, size_t n);  // <= 0: closed or failed
  bool write(std::string_view data);
};

}  // namespace gatedrill::testing

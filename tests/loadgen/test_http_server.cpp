#include "tests/loadgen/test_http_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include "core/supervisor/free_port.hpp"

namespace gatedrill::testing {

int listen_on_loopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0)
    throw std::runtime_error(std::string("test server: ") + std::strerror(errno));
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

ssize_t Stream::read(char* buf, size_t n) {
  if (ssl != nullptr) {
    int r = SSL_read(ssl, buf, static_cast<int>(n));
    return r > 0 ? r : -1;
  }
  return ::recv(fd, buf, n, 0);
}

bool Stream::write(std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ssl != nullptr
                    ? SSL_write(ssl, data.data() + done, static_cast<int>(data.size() - done))
                    : ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

namespace {

std::string response_bytes(const Reply& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\n";
  if (r.close) out += "Connection: close\r\n";
  if (r.chunked) {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    char size[16];
    for (size_t i = 0; i < r.body.size(); i += 3) {
      std::string part = r.body.substr(i, 3);
      std::snprintf(size, sizeof size, "%zx", part.size());
      out += std::string(size) + ";ext=1\r\n" + part + "\r\n";
    }
    out += "0\r\nX-Trailer: t\r\n\r\n";
  } else {
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
  }
  return out;
}

}  // namespace

LoopbackAcceptor::LoopbackAcceptor(std::function<void(Stream&)> serve, ssl_ctx_st* tls,
                                   std::function<void()> on_thread_start)
    : serve_(std::move(serve)), tls_(tls), on_thread_start_(std::move(on_thread_start)) {
  listen_fd_ = listen_on_loopback(&port_);
  acceptor_ = std::thread([this] {
    if (on_thread_start_) on_thread_start_();
    accept_loop();
  });
}

LoopbackAcceptor::~LoopbackAcceptor() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  stop_cv_.notify_all();
  acceptor_.join();
  for (auto& t : threads_) t.join();
  for (int fd : fds_) ::close(fd);  // serve() only shuts down, so no fd number is reused meanwhile
  ::close(listen_fd_);
}

bool LoopbackAcceptor::wait_or_stop(int ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !stop_cv_.wait_for(lock, std::chrono::milliseconds(ms),
                            [this] { return stopping_.load(); });
}

void LoopbackAcceptor::accept_loop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    ++connections_;
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { run_connection(fd); });
  }
}

void LoopbackAcceptor::run_connection(int fd) {
  if (on_thread_start_) on_thread_start_();
  // A write to a client that already left raises SIGPIPE; blocked, it becomes EPIPE.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Stream stream{fd, nullptr};
  bool ready = true;
  if (tls_ != nullptr) {
    stream.ssl = SSL_new(tls_);
    SSL_set_fd(stream.ssl, fd);
    ready = SSL_accept(stream.ssl) == 1;
  }
  if (ready) serve_(stream);
  if (stream.ssl != nullptr) SSL_free(stream.ssl);
  // Shut down, not closed: the fd number stays taken until the acceptor stops.
  ::shutdown(fd, SHUT_RDWR);
}

TestHttpServer::TestHttpServer(std::function<Reply(int64_t)> behaviour, ssl_ctx_st* tls,
                               std::function<void()> on_thread_start)
    : behaviour_(std::move(behaviour)),
      tls_(tls),
      acceptor_([this](Stream& stream) { serve(stream); }, tls, std::move(on_thread_start)) {}

std::string TestHttpServer::url(const std::string& path) const {
  return std::string(tls_ != nullptr ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(port()) + path;
}

void TestHttpServer::serve(Stream& stream) {
  std::string pending;
  char buf[16384];
  bool open = true;
  while (open && !acceptor_.stopping()) {
    size_t end;
    while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = stream.read(buf, sizeof buf);
      if (n <= 0) {
        open = false;
        break;
      }
      pending.append(buf, static_cast<size_t>(n));
    }
    if (!open) break;
    // Requests in these tests carry a body only with Content-Length.
    size_t body = 0;
    if (size_t cl = pending.find("Content-Length: "); cl != std::string::npos && cl < end)
      body = std::stoul(pending.substr(cl + 16));
    while (pending.size() < end + 4 + body) {
      ssize_t n = stream.read(buf, sizeof buf);
      if (n <= 0) {
        open = false;
        break;
      }
      pending.append(buf, static_cast<size_t>(n));
    }
    if (!open) break;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      heads_.push_back(pending.substr(0, end + 2));
    }
    pending.erase(0, end + 4 + body);
    body_bytes_ += static_cast<int64_t>(body);
    Reply reply = behaviour_(requests_.fetch_add(1));
    if (reply.drop) break;
    if (reply.no_response) {
      acceptor_.wait_or_stop(60'000);
      break;
    }
    if (reply.delay_ms > 0 && !acceptor_.wait_or_stop(reply.delay_ms)) break;
    if (stream.ssl == nullptr) {
      // Count the complete requests already waiting behind this one (without blocking).
      for (ssize_t n; (n = ::recv(stream.fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;)
        pending.append(buf, static_cast<size_t>(n));
      int64_t outstanding = 1;
      for (size_t at = pending.find("\r\n\r\n"); at != std::string::npos;
           at = pending.find("\r\n\r\n", at + 4))
        ++outstanding;
      for (int64_t seen = max_pipelined_.load();
           outstanding > seen && !max_pipelined_.compare_exchange_weak(seen, outstanding);) {
      }
    }
    if (!stream.write(response_bytes(reply))) break;
    if (reply.close) break;
  }
}

std::vector<std::string> TestHttpServer::heads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return heads_;
}

int closed_port() {
  // Reserved below the ephemeral range: a port that was bound and closed could be taken by a
  // parallel test's bind(0) and answer.
  auto port = allocate_port();
  if (!port) throw std::runtime_error("closed_port: " + port.error().message);
  return *port;
}

}  // namespace gatedrill::testing

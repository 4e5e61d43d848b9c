#include "core/resp/resp_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gatedrill {

namespace {

int timeout_ms(std::chrono::milliseconds t) {
  return t.count() > 0x7fffffff ? 0x7fffffff : static_cast<int>(t.count());
}

// Waits until fd is ready for `events`. Errors: "timeout", "io".
Result<void> wait_ready(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, timeout_ms(timeout));
    if (n > 0) return {};
    if (n == 0) {
      return make_error("timeout", "no progress on the Redis connection within " +
                                       std::to_string(timeout.count()) + " ms");
    }
    if (errno != EINTR) return make_error("io", std::string("poll: ") + std::strerror(errno));
  }
}

Result<int> connect_one(const addrinfo* ai, std::chrono::milliseconds timeout) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return make_error("connect_failed", std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      Error e = make_error("connect_failed", std::strerror(errno));
      ::close(fd);
      return e;
    }
    auto ready = wait_ready(fd, POLLOUT, timeout);
    if (!ready) {
      ::close(fd);
      return ready.error();
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ::close(fd);
      return make_error("connect_failed", std::strerror(err));
    }
  }
  return fd;
}

}  // namespace

Result<RespClient> RespClient::connect(const std::string& host, uint16_t port,
                                       std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    return make_error("resolve_failed", "cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  Error last = make_error("connect_failed", "no address for '" + host + "'");
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    auto fd = connect_one(ai, timeout);
    if (fd) {
      ::freeaddrinfo(list);
      return RespClient(*fd, timeout);
    }
    last = fd.error();
  }
  ::freeaddrinfo(list);
  last.message = "Redis at " + host + ":" + service + ": " + last.message;
  return last;
}

RespClient::RespClient(RespClient&& other) noexcept
    : fd_(other.fd_), timeout_(other.timeout_), reader_(std::move(other.reader_)) {
  other.fd_ = -1;
}

RespClient& RespClient::operator=(RespClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    timeout_ = other.timeout_;
    reader_ = std::move(other.reader_);
    other.fd_ = -1;
  }
  return *this;
}

RespClient::~RespClient() {
  close();
}

void RespClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Error RespClient::fail(Error error) {
  close();
  return error;
}

Result<void> RespClient::write_all(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto ready = wait_ready(fd_, POLLOUT, timeout_);
      if (!ready) return fail(ready.error());
      continue;
    }
    return fail(make_error("io", std::string("send: ") + std::strerror(errno)));
  }
  return {};
}

Result<resp::Value> RespClient::read_value() {
  char buf[16384];
  for (;;) {
    auto next = reader_.next();
    if (!next) return fail(next.error());
    if (next->has_value()) return std::move(**next);
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) return fail(make_error("closed", "Redis closed the connection"));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      auto ready = wait_ready(fd_, POLLIN, timeout_);
      if (!ready) return fail(ready.error());
      continue;
    }
    return fail(make_error("io", std::string("recv: ") + std::strerror(errno)));
  }
}

Result<resp::Value> RespClient::command(const std::vector<std::string>& args) {
  auto replies = pipeline({args});
  if (!replies) return replies.error();
  return std::move(replies->front());
}

Result<std::vector<resp::Value>> RespClient::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (fd_ < 0) return make_error("closed", "the Redis connection is closed");
  std::string out;
  for (const auto& c : commands) resp::append_command(out, c);
  auto written = write_all(out);
  if (!written) return written.error();
  std::vector<resp::Value> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    auto v = read_value();
    if (!v) return v.error();
    replies.push_back(std::move(*v));
  }
  return replies;
}

}  // namespace gatedrill

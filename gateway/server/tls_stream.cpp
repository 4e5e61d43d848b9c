#include "gateway/server/tls_stream.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <new>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

namespace gatedrill::gateway {
namespace asio = boost::asio;
using boost::beast::error_code;

namespace {

// The BIO under the SSL object: recv/send on the socket's non-blocking fd, nothing buffered.
// A closed socket (a deadline passed) reads and writes as EBADF, so a reused fd number is
// never touched. send() with MSG_NOSIGNAL: a peer gone mid-write is an error, not SIGPIPE.
TlsStream::Impl& impl_of(BIO* bio) {
  return *static_cast<TlsStream::Impl*>(BIO_get_data(bio));
}

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  TlsStream::Impl& impl = impl_of(bio);
  if (!impl.socket.is_open()) {
    impl.last_errno = EBADF;
    return -1;
  }
  const ssize_t n =
      ::send(impl.socket.native_handle(), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    BIO_set_retry_write(bio);
    return -1;
  }
  impl.last_errno = errno;
  return -1;
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  TlsStream::Impl& impl = impl_of(bio);
  if (impl.prefix_used < impl.prefix.size()) {
    const size_t n = std::min(static_cast<size_t>(size), impl.prefix.size() - impl.prefix_used);
    std::memcpy(data, impl.prefix.data() + impl.prefix_used, n);
    impl.prefix_used += n;
    if (impl.prefix_used == impl.prefix.size()) std::string().swap(impl.prefix);
    return static_cast<int>(n);
  }
  if (!impl.socket.is_open()) {
    impl.last_errno = EBADF;
    return -1;
  }
  const ssize_t n = ::recv(impl.socket.native_handle(), data, static_cast<size_t>(size), 0);
  if (n > 0) return static_cast<int>(n);
  if (n == 0) {
    impl.peer_eof = true;
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    BIO_set_retry_read(bio);
    return -1;
  }
  impl.last_errno = errno;
  return -1;
}

long bio_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;  // nothing is buffered here
    case BIO_CTRL_EOF:
      return impl_of(bio).peer_eof ? 1 : 0;
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bio_destroy(BIO*) {
  return 1;
}

// The method table is built once and never changes (like OpenSSL's own BIO_s_socket()).
BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gatedrill socket");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    BIO_meth_set_destroy(m, bio_destroy);
    return m;
  }();
  return method;
}

error_code ssl_error(unsigned long code) {
  return error_code(static_cast<int>(code), asio::error::get_ssl_category());
}

}  // namespace

TlsStream::Impl::Impl(asio::ip::tcp::socket s, ssl_ctx_st* ctx)
    : socket(std::move(s)),
      read_deadline(socket.get_executor()),
      write_deadline(socket.get_executor()) {
  read_deadline.timer.expires_at(asio::steady_timer::time_point::max());
  write_deadline.timer.expires_at(asio::steady_timer::time_point::max());
  error_code ignored;
  socket.non_blocking(true, ignored);
  BIO_METHOD* method = socket_bio_method();
  ssl = method ? SSL_new(ctx) : nullptr;
  BIO* bio = ssl ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl);
    throw std::bad_alloc();  // as asio::ssl::stream: no SSL object, no stream
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);
  // Partial writes: one record per SSL_write (the caller's buffer moves as it is sent).
  // Released buffers: an idle connection holds no record buffer. Read-ahead: one recv() takes
  // as much as has arrived rather than a record header, then its body.
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl, 1);
}

TlsStream::Impl::~Impl() {
  SSL_free(ssl);
}

void TlsStream::Impl::set_role(handshake_type type) {
  if (type == asio::ssl::stream_base::server)
    SSL_set_accept_state(ssl);
  else
    SSL_set_connect_state(ssl);
}

void TlsStream::Impl::set_prefix(const void* data, size_t size) {
  prefix.assign(static_cast<const char*>(data), size);
  prefix_used = 0;
}

TlsStream::Step TlsStream::Impl::classify(int result) {
  const int code = SSL_get_error(ssl, result);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      return Step{Want::kRead, {}, 0};
    case SSL_ERROR_WANT_WRITE:
      return Step{Want::kWrite, {}, 0};
    case SSL_ERROR_ZERO_RETURN:
      return Step{Want::kNothing, asio::error::eof, 0};  // the peer's close_notify
    default:
      break;
  }
  failed = true;
  const unsigned long queued = ERR_get_error();
  ERR_clear_error();
  if (code == SSL_ERROR_SSL && ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    failure = asio::ssl::error::stream_truncated;
  else if (queued != 0)
    failure = ssl_error(queued);
  else if (last_errno != 0)
    failure = error_code(last_errno, boost::system::system_category());
  else if (code == SSL_ERROR_SYSCALL)
    failure = asio::ssl::error::stream_truncated;  // TCP ended without close_notify
  else
    failure = ssl_error(static_cast<unsigned long>(code));
  return Step{Want::kNothing, failure, 0};
}

TlsStream::Step TlsStream::Impl::handshake_step() {
  if (failed) return Step{Want::kNothing, failure, 0};
  ERR_clear_error();
  last_errno = 0;
  const int result = SSL_do_handshake(ssl);
  if (result == 1) {
    std::string().swap(prefix);  // ClientHello bytes not used by now never will be
    return Step{};
  }
  return classify(result);
}

TlsStream::Step TlsStream::Impl::shutdown_step() {
  if (failed) return Step{Want::kNothing, failure, 0};
  ERR_clear_error();
  last_errno = 0;
  int result = SSL_shutdown(ssl);
  if (result == 0) result = SSL_shutdown(ssl);  // close_notify sent: now wait for the peer's
  if (result == 1) return Step{};
  return classify(result);
}

TlsStream::Step TlsStream::Impl::readable_step() {
  if (failed) return Step{Want::kNothing, failure, 0};
  if (SSL_pending(ssl) > 0) return Step{};
  ERR_clear_error();
  last_errno = 0;
  // Peeking decrypts a whole record into OpenSSL's buffer and leaves its bytes for the read.
  char byte = 0;
  size_t n = 0;
  const int result = SSL_peek_ex(ssl, &byte, 1, &n);
  if (result == 1) return Step{};
  return classify(result);
}

TlsStream::Step TlsStream::Impl::readable_first_step() {
  // A read just found nothing and OpenSSL wanted input: peeking now would only repeat its
  // recv() that would block; wait for the socket first.
  if (std::exchange(input_drained, false) && !failed) return Step{Want::kRead, {}, 0};
  return readable_step();
}

TlsStream::Step TlsStream::Impl::read_step(void* data, size_t size) {
  input_drained = false;
  if (failed) return Step{Want::kNothing, failure, 0};
  ERR_clear_error();
  last_errno = 0;
  size_t n = 0;
  const int result = SSL_read_ex(ssl, data, std::min<size_t>(size, INT_MAX), &n);
  if (result == 1) return Step{Want::kNothing, {}, n};
  Step step = classify(result);
  input_drained = step.want == Want::kRead;
  return step;
}

TlsStream::Step TlsStream::Impl::write_step(const void* data, size_t size) {
  if (failed) return Step{Want::kNothing, failure, 0};
  const auto* bytes = static_cast<const char*>(data);
  size_t total = 0;
  // Record after record until the socket is full; bytes already sent are reported at once.
  while (total < size) {
    ERR_clear_error();
    last_errno = 0;
    size_t n = 0;
    const int result = SSL_write_ex(ssl, bytes + total, size - total, &n);
    if (result == 1) {
      total += n;
      continue;
    }
    Step step = classify(result);
    if (total > 0) return Step{Want::kNothing, {}, total};  // an error shows on the next write
    return step;
  }
  return Step{Want::kNothing, {}, total};
}

TlsStream::Impl::Deadline& TlsStream::Impl::deadline(Side side) {
  return side == Side::kWrite ? write_deadline : read_deadline;
}

void TlsStream::Impl::begin(Side side) {
  auto start = [](Deadline& d) {
    d.busy = true;
    d.armed = false;
    d.timed_out = false;
    ++d.generation;
  };
  if (side != Side::kWrite) start(read_deadline);
  if (side != Side::kRead) start(write_deadline);
}

void TlsStream::Impl::end(Side side) {
  auto stop = [](Deadline& d) {
    d.busy = false;
    if (d.armed) d.timer.cancel();
    d.armed = false;
    ++d.generation;
  };
  if (side != Side::kWrite) stop(read_deadline);
  if (side != Side::kRead) stop(write_deadline);
}

void TlsStream::Impl::arm(Side side) {
  // Handshake and shutdown run under the read deadline (expires_after sets both alike).
  Deadline& d = deadline(side);
  if (d.armed) return;
  d.armed = true;
  d.timer.async_wait([weak = self, side, generation = d.generation](const error_code& ec) {
    if (ec) return;  // cancelled: the operation ended first
    auto impl = weak.lock();
    if (!impl) return;
    Deadline& fired = impl->deadline(side);
    if (fired.generation != generation || !fired.busy) return;
    fired.timed_out = true;
    error_code ignored;
    impl->socket.close(ignored);  // as beast::tcp_stream: the other direction ends too
  });
}

error_code TlsStream::Impl::after_wait(Side side, const error_code& ec) {
  if (deadline(side).timed_out) return boost::beast::error::timeout;
  return ec;
}

TlsStream::TlsStream(asio::ip::tcp::socket socket, ssl_ctx_st* ctx)
    : impl_(std::make_shared<Impl>(std::move(socket), ctx)) {
  impl_->self = impl_;
}

TlsStream::~TlsStream() = default;

TlsStream::executor_type TlsStream::get_executor() noexcept {
  return impl_->socket.get_executor();
}

ssl_st* TlsStream::native_handle() noexcept {
  return impl_->ssl;
}

size_t TlsStream::read_some_now(asio::mutable_buffer buffer, error_code& ec) {
  if (buffer.size() == 0) {
    ec = {};
    return 0;
  }
  const Step step = impl_->read_step(buffer.data(), buffer.size());
  if (step.want != Want::kNothing) {
    ec = asio::error::would_block;
    return 0;
  }
  ec = step.ec;
  return step.bytes;
}

asio::ip::tcp::socket& TlsStream::socket() noexcept {
  return impl_->socket;
}

void TlsStream::expires_after(std::chrono::steady_clock::duration after) {
  if (!impl_->read_deadline.busy) impl_->read_deadline.timer.expires_after(after);
  if (!impl_->write_deadline.busy) impl_->write_deadline.timer.expires_after(after);
}

void TlsStream::expires_never() {
  if (!impl_->read_deadline.busy)
    impl_->read_deadline.timer.expires_at(asio::steady_timer::time_point::max());
  if (!impl_->write_deadline.busy)
    impl_->write_deadline.timer.expires_at(asio::steady_timer::time_point::max());
}

}  // namespace gatedrill::gateway

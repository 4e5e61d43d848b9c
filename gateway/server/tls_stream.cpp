#include "gateway/server/tls_stream.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

#include "gateway/server/tls13_records.hpp"

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
  if (!impl.early_empty())
    return static_cast<int>(impl.take_early(data, static_cast<size_t>(size)));
  if (impl.early_failure) {
    impl.last_errno = std::exchange(impl.early_failure, {}).value();
    return -1;
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

// The own record layer's errors, as OpenSSL reports the same conditions (messages alike).
error_code record_error(TlsAlert alert, bool from_peer) {
  int reason = SSL_AD_REASON_OFFSET + static_cast<int>(alert);  // "sslv3 alert ..."
  if (!from_peer) {
    switch (alert) {
      case TlsAlert::kBadRecordMac:
        reason = SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC;
        break;
      case TlsAlert::kRecordOverflow:
        reason = SSL_R_ENCRYPTED_LENGTH_TOO_LONG;
        break;
      case TlsAlert::kUnexpectedMessage:
        reason = SSL_R_UNEXPECTED_MESSAGE;
        break;
      case TlsAlert::kIllegalParameter:
        reason = SSL_R_BAD_KEY_UPDATE;
        break;
      default:
        reason = SSL_R_LENGTH_MISMATCH;
        break;
    }
  }
  return ssl_error(ERR_PACK(ERR_LIB_SSL, 0, reason));
}

// One record of received bytes always fits; a recv takes as much as has arrived up to this.
constexpr size_t kInCapacity = 17 * 1024;
static_assert(kInCapacity >= kTlsHeaderSize + kTlsMaxCiphertext);
// Sealing goes into this thread's buffer (our KeyUpdate, one full record); only what the socket
// did not take is copied to the connection.
constexpr size_t kScratchSize = 5 + kTlsRecordOverhead + kTlsMaxPlaintext + kTlsRecordOverhead;
uint8_t* scratch() {
  thread_local std::unique_ptr<uint8_t[]> buffer(new uint8_t[kScratchSize]);
  return buffer.get();
}

int stream_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TlsStream::Impl* impl_of(const SSL* ssl) {
  return static_cast<TlsStream::Impl*>(SSL_get_ex_data(ssl, stream_index()));
}

}  // namespace

// The traffic secrets, as the keylog callback gives them, and how many records OpenSSL wrote
// under the server's application key (its NewSessionTicket messages): our write sequence.
struct TlsStream::Impl::Capture {
  uint8_t client[48];
  uint8_t server[48];
  size_t client_size = 0;
  size_t server_size = 0;
  bool counting = false;  // the server application key is in use
  uint64_t written = 0;
  ~Capture() {
    OPENSSL_cleanse(client, sizeof client);
    OPENSSL_cleanse(server, sizeof server);
  }
};

struct TlsStream::Impl::Own {
  explicit Own(Tls13Records r) : records(std::move(r)) {}
  Tls13Records records;
  // Received bytes: the stream's `early` (one recv, or the wait's receive, into it when nothing
  // is held), else `in` (kInCapacity, for what does not fit there); released when all are read.
  uint8_t* input = nullptr;
  std::unique_ptr<uint8_t[]> in;
  size_t in_begin = 0;  // [in_begin, in_end) of `input`: bytes not opened yet
  size_t in_end = 0;
  size_t plain_begin = 0;  // [plain_begin, plain_end) of `input`: opened data not read yet
  size_t plain_end = 0;
  std::unique_ptr<uint8_t[]> out;  // sealed bytes the socket did not take yet
  size_t out_sent = 0;
  size_t out_size = 0;
  size_t out_plain = 0;  // the caller's bytes sealed in `out`
  bool close_received = false;
  bool close_sent = false;  // close_notify or a fatal alert: nothing more is written

  void release_input_if_empty() {
    if (in_begin == in_end && plain_begin == plain_end) {
      in.reset();
      input = nullptr;
      in_begin = in_end = plain_begin = plain_end = 0;
    }
  }
};

namespace {

// "LABEL <client random> <secret>" lines (NSS key log format): the application traffic
// secrets go to the connection's capture; nothing is logged anywhere.
void keylog(const SSL* ssl, const char* line) {
  TlsStream::Impl* impl = impl_of(ssl);
  if (impl == nullptr || !impl->capture) return;
  std::string_view text(line);
  const size_t first = text.find(' ');
  const size_t second = first == std::string_view::npos ? first : text.find(' ', first + 1);
  if (second == std::string_view::npos) return;
  const std::string_view label = text.substr(0, first);
  const std::string_view hex = text.substr(second + 1);
  auto& capture = *impl->capture;
  uint8_t* out = nullptr;
  size_t* size = nullptr;
  if (label == "CLIENT_TRAFFIC_SECRET_0") {
    out = capture.client;
    size = &capture.client_size;
  } else if (label == "SERVER_TRAFFIC_SECRET_0") {
    out = capture.server;
    size = &capture.server_size;
    capture.counting = true;  // records written from now on use this key
  } else {
    return;
  }
  if (hex.size() % 2 != 0 || hex.size() / 2 > sizeof capture.client) return;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *size = hex.size() / 2;
}

// Counts the records OpenSSL writes under the server application key (the record header
// callback comes for each record, after the keylog line of the key it uses).
void on_message(int write_p, int, int content_type, const void*, size_t, SSL* ssl, void*) {
  if (write_p == 0 || content_type != SSL3_RT_HEADER) return;
  TlsStream::Impl* impl = impl_of(ssl);
  if (impl != nullptr && impl->capture && impl->capture->counting) ++impl->capture->written;
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
  if (SSL_CTX_get_keylog_callback(ctx) == keylog) {
    // The own layer may take over: OpenSSL must not read past the handshake (no read-ahead,
    // so the client's first records stay in the socket), and its records are counted.
    capture = std::make_unique<Capture>();
    SSL_set_ex_data(ssl, stream_index(), this);
    SSL_set_msg_callback(ssl, on_message);
    SSL_set_read_ahead(ssl, 0);
  } else {
    SSL_set_read_ahead(ssl, 1);
  }
}

TlsStream::Impl::~Impl() {
  SSL_free(ssl);
  X509_free(peer);
}

void TlsStream::use_own_records(ssl_ctx_st* ctx) {
  stream_index();  // registered before any connection runs
  SSL_CTX_set_keylog_callback(ctx, keylog);
}

void TlsStream::Impl::finish_handshake() {
  const unsigned char* protocol = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl, &protocol, &length);
  alpn.assign(reinterpret_cast<const char*>(protocol), length);
  std::unique_ptr<Capture> secrets = std::move(capture);
  if (!secrets) {
    count_tls_connection(false);
    return;
  }
  SSL_set_msg_callback(ssl, nullptr);
  // Exact sequence numbers need OpenSSL to hold nothing received past the handshake.
  const bool switchable = SSL_version(ssl) == TLS1_3_VERSION && SSL_is_server(ssl) == 1 &&
                          SSL_has_pending(ssl) == 0 && prefix_used >= prefix.size() &&
                          secrets->client_size > 0 && secrets->server_size > 0;
  std::optional<Tls13Records> records;
  if (switchable)
    records = Tls13Records::create(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(ssl)),
                                   std::span<const uint8_t>(secrets->client, secrets->client_size),
                                   std::span<const uint8_t>(secrets->server, secrets->server_size));
  if (!records) {
    SSL_set_read_ahead(ssl, 1);  // OpenSSL keeps the connection: as without the own layer
    count_tls_connection(false);
    return;
  }
  records->set_write_sequence(secrets->written);
  peer = SSL_get1_peer_certificate(ssl);
  own = std::make_unique<Own>(std::move(*records));
  SSL_free(ssl);
  ssl = nullptr;
  count_tls_connection(true);
}

TlsStream::Step TlsStream::Impl::own_fail(const error_code& ec) {
  failed = true;
  failure = ec;
  own->in.reset();
  own->input = nullptr;
  own->in_begin = own->in_end = own->plain_begin = own->plain_end = 0;
  return Step{Want::kNothing, failure, 0};
}

TlsStream::Step TlsStream::Impl::own_flush() {
  Own& o = *own;
  while (o.out_sent < o.out_size) {
    if (!socket.is_open()) return own_fail(error_code(EBADF, boost::system::system_category()));
    const ssize_t n = ::send(socket.native_handle(), o.out.get() + o.out_sent,
                             o.out_size - o.out_sent, MSG_NOSIGNAL);
    if (n >= 0) {
      o.out_sent += static_cast<size_t>(n);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Step{Want::kWrite, {}, 0};
    return own_fail(error_code(errno, boost::system::system_category()));
  }
  o.out.reset();
  o.out_sent = o.out_size = 0;
  return Step{};
}

TlsStream::Step TlsStream::Impl::own_send_alert(TlsAlert alert) {
  // Best effort, when no record is half sent: the connection closes next anyway.
  Own& o = *own;
  uint8_t record[2 + kTlsRecordOverhead];
  if (!o.out && !o.close_sent && socket.is_open() && o.records.seal_alert(alert, record))
    (void)::send(socket.native_handle(), record, sizeof record, MSG_NOSIGNAL | MSG_DONTWAIT);
  o.close_sent = true;
  return own_fail(record_error(alert, false));
}

TlsStream::Step TlsStream::Impl::own_read(uint8_t* data, size_t size) {
  if (failed) return Step{Want::kNothing, failure, 0};
  Own& o = *own;
  // Every whole record already received is opened into the caller's buffer while it has room;
  // once some data is read, an end or an error waits for the next call.
  size_t got = 0;
  auto done = [&] {
    o.release_input_if_empty();
    return Step{Want::kNothing, {}, got};
  };
  for (;;) {
    if (o.plain_end > o.plain_begin) {
      if (data == nullptr) return Step{};  // readable
      const size_t n = std::min(size - got, o.plain_end - o.plain_begin);
      std::memcpy(data + got, o.input + o.plain_begin, n);
      o.plain_begin += n;
      got += n;
      if (got == size || o.plain_end > o.plain_begin) return done();
    }
    if (o.close_received) {
      if (got > 0) return done();
      return Step{Want::kNothing, asio::error::eof, 0};
    }
    const size_t have = o.in_end - o.in_begin;
    uint8_t* record = have > 0 ? o.input + o.in_begin : nullptr;
    const size_t body = Tls13Records::body_size({record, have});
    if (have >= kTlsHeaderSize && body > kTlsMaxCiphertext) {
      if (got > 0) return done();
      return own_send_alert(TlsAlert::kRecordOverflow);  // not worth waiting for
    }
    if (have >= kTlsHeaderSize && have >= kTlsHeaderSize + body) {
      // Straight into the caller's buffer when the whole plaintext fits; else in place.
      const size_t room = size - got;
      const bool direct = data != nullptr && body > kTlsTagSize && room >= body - kTlsTagSize;
      if (got > 0 && !direct) return done();
      uint8_t* plain = direct ? data + got : record + kTlsHeaderSize;
      const auto opened = o.records.open({record, kTlsHeaderSize + body}, plain);
      o.in_begin += kTlsHeaderSize + body;
      using Kind = Tls13Records::Opened::Kind;
      switch (opened.kind) {
        case Kind::kData:
          if (direct) {
            got += opened.size;
          } else {
            o.plain_begin = static_cast<size_t>(plain - o.input);
            o.plain_end = o.plain_begin + opened.size;
          }
          continue;
        case Kind::kNone:
          continue;
        case Kind::kCloseNotify:
          o.close_received = true;
          continue;
        case Kind::kPeerAlert:
          o.close_sent = true;
          if (got > 0) {
            failed = true;  // the next call reports it
            failure = record_error(opened.alert, true);
            return Step{Want::kNothing, {}, got};
          }
          return own_fail(record_error(opened.alert, true));
        case Kind::kFatal: {
          if (got > 0) {
            const error_code ec = own_send_alert(opened.alert).ec;
            (void)ec;
            return Step{Want::kNothing, {}, got};
          }
          return own_send_alert(opened.alert);
        }
      }
    }
    if (got > 0) return done();  // no recv that would only say EAGAIN
    // More bytes are needed. Nothing held: the bytes the wait received, in place; else one recv
    // into `early` (nothing allocated to find nothing, and the usual record fits), unless
    // records come larger than it. Else room in `in` after what is held (moved there from
    // `early`), then what the wait received or one recv.
    o.release_input_if_empty();
    const bool fresh = o.input == nullptr;
    if (fresh && !early_empty()) {
      o.input = early;
      o.in_begin = early_begin;
      o.in_end = early_end;
      early_begin = early_end = 0;
      continue;
    }
    if (early_failure) return own_fail(std::exchange(early_failure, {}));
    uint8_t* space = early;
    size_t room = kEarlyCapacity;
    if (!fresh || large_input) {
      if (!o.in) {
        o.in.reset(new uint8_t[kInCapacity]);
        if (have > 0) std::memcpy(o.in.get(), o.input + o.in_begin, have);
      } else if (o.in_begin > 0) {
        std::memmove(o.in.get(), o.in.get() + o.in_begin, have);
      }
      o.input = o.in.get();
      o.in_begin = 0;
      o.in_end = have;
      space = o.in.get() + have;
      room = kInCapacity - have;
      if (!early_empty()) {  // a wait's bytes after a record's start
        o.in_end += take_early(space, room);
        continue;
      }
    }
    if (!socket.is_open()) return own_fail(error_code(EBADF, boost::system::system_category()));
    const ssize_t n = ::recv(socket.native_handle(), space, room, 0);
    if (n > 0) {
      if (fresh) {
        o.input = space;
        large_input = static_cast<size_t>(n) >= kEarlyCapacity;
      }
      o.in_end += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      peer_eof = true;
      return own_fail(asio::ssl::error::stream_truncated);  // TCP ended without close_notify
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      o.release_input_if_empty();
      return Step{Want::kRead, {}, 0};
    }
    return own_fail(error_code(errno, boost::system::system_category()));
  }
}

TlsStream::Step TlsStream::Impl::own_write(const uint8_t* data, size_t size) {
  if (failed) return Step{Want::kNothing, failure, 0};
  Own& o = *own;
  if (o.close_sent)
    return Step{Want::kNothing, ssl_error(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_PROTOCOL_IS_SHUTDOWN)), 0};
  size_t total = 0;
  for (;;) {
    if (o.out) {
      // The rest of a record from the last call: its bytes start the caller's buffer.
      Step step = own_flush();
      if (step.want != Want::kNothing || step.ec)
        return total > 0 ? Step{Want::kNothing, {}, total} : step;
      total += std::min(o.out_plain, size - total);
      o.out_plain = 0;
    }
    if (total == size) return Step{Want::kNothing, {}, total};
    const size_t chunk = std::min(kTlsMaxPlaintext, size - total);
    uint8_t* buffer = scratch();
    size_t length = 0;
    if (o.records.key_update_owed()) {
      if (!o.records.seal_key_update(buffer))
        return own_fail(ssl_error(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_BAD_KEY_UPDATE)));
      length = 5 + kTlsRecordOverhead;
    }
    if (!o.records.seal(23, {data + total, chunk}, buffer + length))
      return own_fail(ssl_error(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_INVALID_SEQUENCE_NUMBER)));
    length += chunk + kTlsRecordOverhead;
    if (!socket.is_open()) return own_fail(error_code(EBADF, boost::system::system_category()));
    ssize_t n = ::send(socket.native_handle(), buffer, length, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(length)) {
      total += chunk;
      continue;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        Step step = own_fail(error_code(errno, boost::system::system_category()));
        return total > 0 ? Step{Want::kNothing, {}, total} : step;
      }
      n = 0;
    }
    // The socket is full: keep the rest; the caller's next write starts with these bytes.
    const size_t rest = length - static_cast<size_t>(n);
    o.out.reset(new uint8_t[rest]);
    std::memcpy(o.out.get(), buffer + n, rest);
    o.out_sent = 0;
    o.out_size = rest;
    o.out_plain = chunk;
    return total > 0 ? Step{Want::kNothing, {}, total} : Step{Want::kWrite, {}, 0};
  }
}

TlsStream::Step TlsStream::Impl::own_shutdown() {
  if (failed) return Step{Want::kNothing, failure, 0};
  Own& o = *own;
  if (o.out) {
    Step step = own_flush();
    if (step.want != Want::kNothing || step.ec) return step;
  }
  if (!o.close_sent) {
    uint8_t alert[2 + kTlsRecordOverhead];
    if (!o.records.seal_alert(TlsAlert::kCloseNotify, alert))
      return own_fail(ssl_error(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_INVALID_SEQUENCE_NUMBER)));
    o.close_sent = true;
    o.out.reset(new uint8_t[sizeof alert]);
    std::memcpy(o.out.get(), alert, sizeof alert);
    o.out_sent = 0;
    o.out_size = sizeof alert;
    o.out_plain = 0;
    Step step = own_flush();
    if (step.want != Want::kNothing || step.ec) return step;
  }
  // Then the peer's close_notify; data still arriving is dropped (as SSL_shutdown does).
  for (;;) {
    Step step = own_read(nullptr, 0);
    if (step.want != Want::kNothing) return step;
    if (step.ec == asio::error::eof) return Step{};
    if (step.ec) return step;
    o.plain_begin = o.plain_end;
    o.release_input_if_empty();
  }
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
    finish_handshake();
    std::string().swap(prefix);  // ClientHello bytes not used by now never will be
    return Step{};
  }
  Step step = classify(result);
  if (step.ec && capture && socket.is_open()) {
    // Without read-ahead the client's later handshake records (and a request sent right after
    // its Finished) may still be in the socket: read them away, so that closing sends FIN and
    // the client reads our alert instead of a reset.
    char discard[4096];
    for (int i = 0; i < 16; ++i)
      if (::recv(socket.native_handle(), discard, sizeof discard, MSG_DONTWAIT) <= 0) break;
  }
  return step;
}

TlsStream::Step TlsStream::Impl::shutdown_step() {
  if (own) return own_shutdown();
  if (failed) return Step{Want::kNothing, failure, 0};
  ERR_clear_error();
  last_errno = 0;
  int result = SSL_shutdown(ssl);
  if (result == 0) result = SSL_shutdown(ssl);  // close_notify sent: now wait for the peer's
  if (result == 1) return Step{};
  return classify(result);
}

TlsStream::Step TlsStream::Impl::readable_step() {
  if (own) return own_read(nullptr, 0);
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
  // A read just found nothing and OpenSSL wanted input, or nothing is held between small
  // messages: peeking now would only be a recv() that the wait's receive repeats.
  if (std::exchange(input_drained, false) && !failed) return Step{Want::kRead, {}, 0};
  if (idle()) return Step{Want::kRead, {}, 0};
  return readable_step();
}

bool TlsStream::Impl::holds_input() const noexcept {
  if (failed || !early_empty() || early_failure) return true;
  if (own)
    return own->plain_end > own->plain_begin || own->in_end > own->in_begin || own->close_received;
  return SSL_has_pending(ssl) == 1;
}

TlsStream::Step TlsStream::Impl::read_first_step(void* data, size_t size) {
  // Between small messages the next one is rarely there yet: no recv to find nothing, the
  // receive that waits tries the socket first (one recv either way, no epoll re-arm).
  if (idle()) {
    input_drained = true;
    return Step{Want::kRead, {}, 0};
  }
  return read_step(data, size);
}

TlsStream::Step TlsStream::Impl::read_step(void* data, size_t size) {
  input_drained = false;
  if (own) {
    Step step = own_read(static_cast<uint8_t*>(data), size);
    input_drained = step.want == Want::kRead;
    return step;
  }
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
  if (own) return own_write(static_cast<const uint8_t*>(data), size);
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

size_t TlsStream::Impl::take_early(void* to, size_t room) noexcept {
  const size_t n = std::min(room, size_t{early_end} - early_begin);
  std::memcpy(to, early + early_begin, n);
  early_begin = static_cast<uint16_t>(early_begin + n);
  if (early_empty()) early_begin = early_end = 0;
  return n;
}

error_code TlsStream::Impl::received_early(const error_code& ec, size_t size) {
  early_begin = 0;
  early_end = static_cast<uint16_t>(size);
  large_input = size == kEarlyCapacity;
  ask_first = std::exchange(received_at_once, false);
  // The end of the stream the next recv sees again; an error of the socket's (a reset) only
  // once, so it is kept for the read; a cancelled receive (closed socket, deadline) is a wait's.
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) return ec;
  if (ec && ec != asio::error::eof) early_failure = ec;
  return {};
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

std::string_view TlsStream::alpn() const noexcept {
  return impl_->alpn;
}

bool TlsStream::own_records() const noexcept {
  return impl_->own != nullptr;
}

x509_st* TlsStream::take_peer_certificate() {
  if (impl_->ssl != nullptr) return SSL_get1_peer_certificate(impl_->ssl);
  return std::exchange(impl_->peer, nullptr);
}

size_t TlsStream::read_some_now(asio::mutable_buffer buffer, error_code& ec) {
  if (buffer.size() == 0) {
    ec = {};
    return 0;
  }
  const Step step = impl_->read_first_step(buffer.data(), buffer.size());
  if (step.want != Want::kNothing) {
    ec = asio::error::would_block;
    return 0;
  }
  ec = step.ec;
  return step.bytes;
}

bool TlsStream::idle() const noexcept {
  return impl_->idle();
}

size_t TlsStream::readable_bytes() const noexcept {
  if (impl_->failed) return 0;
  if (impl_->own) return impl_->own->plain_end - impl_->own->plain_begin;
  return static_cast<size_t>(std::max(SSL_pending(impl_->ssl), 0));
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

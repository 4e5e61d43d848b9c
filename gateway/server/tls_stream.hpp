#pragma once
// A TLS stream for many long-lived, mostly idle connections: the SSL object reads and writes the
// socket itself (a small BIO over the non-blocking fd) and waits with socket.async_wait when
// OpenSSL wants output room (or input during the handshake); after the handshake a read that
// must wait receives into a 1 KB buffer inside the stream instead (no epoll re-arm per wait,
// and the usual request record lands there: no allocation). Unlike asio::ssl::stream it keeps
// no staging buffers and no BIO pair (about 68 KB per connection for the connection's whole
// life); with SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers whenever the
// connection is idle.
//
// It satisfies Beast's AsyncReadStream/AsyncWriteStream and is its own lowest layer: like
// beast::tcp_stream it has socket(), expires_after() and expires_never() (a read and a write
// deadline; when one passes while that direction has an operation outstanding, the socket is
// closed and the operation ends with beast::error::timeout), so code written against
// get_lowest_layer(ssl_stream<tcp_stream>) works unchanged. One read and one write may be
// outstanding at once (HTTP/2 and WebSocket tunnels need both); operations must not outlive the
// stream.
//
// After a TLS 1.3 handshake on a context prepared with use_own_records(), the connection's
// records are protected by gateway/server/tls13_records (keys from OpenSSL's keylog callback)
// and the SSL object is freed: native_handle() is then nullptr, and what the data plane needs
// from the handshake (ALPN, the client's certificate) is kept by the stream. TLS 1.2, other
// suites, or OpenSSL holding bytes past the handshake keep OpenSSL's record layer.
//
// Internal to the data plane: include it only from sources (its operations are templates).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>

struct ssl_st;
struct ssl_ctx_st;
struct x509_st;

namespace gatedrill::gateway {

enum class TlsAlert : uint8_t;  // gateway/server/tls13_records.hpp

class TlsStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using handshake_type = boost::asio::ssl::stream_base::handshake_type;

  // Takes the connected socket; the SSL object holds a reference to `ctx` (SSL_CTX).
  TlsStream(boost::asio::ip::tcp::socket socket, ssl_ctx_st* ctx);
  ~TlsStream();
  TlsStream(TlsStream&&) = default;
  TlsStream& operator=(TlsStream&&) = delete;

  // Server contexts: TLS 1.3 connections of streams made with `ctx` switch to the own record
  // layer after the handshake (sets the context's keylog callback; call before using it).
  static void use_own_records(ssl_ctx_st* ctx);

  executor_type get_executor() noexcept;
  // The SSL object; nullptr once the own record layer took over.
  ssl_st* native_handle() noexcept;
  // After the handshake: the ALPN protocol selected ("" for none), whether the own record
  // layer runs the connection, and the client's certificate (a reference for the caller to
  // X509_free, or nullptr; the own layer gives it out once).
  std::string_view alpn() const noexcept;
  bool own_records() const noexcept;
  x509_st* take_peer_certificate();
  boost::asio::ip::tcp::socket& socket() noexcept;

  // The deadline of the next operations, per direction, as beast::tcp_stream: a direction with
  // an operation outstanding keeps its deadline.
  void expires_after(std::chrono::steady_clock::duration after);
  void expires_never();

  // void(error_code)
  template <class Token>
  auto async_handshake(handshake_type type, Token&& token);
  // With bytes already read from the socket (the ClientHello of a sniffed connection):
  // void(error_code, size_t bytes of `first` used).
  template <class ConstBuffer, class Token>
  auto async_handshake(handshake_type type, const ConstBuffer& first, Token&& token);
  // Sends close_notify and waits for the peer's: void(error_code).
  template <class Token>
  auto async_shutdown(Token&& token);
  // void(error_code, size_t); asio::error::eof after the peer's close_notify,
  // asio::ssl::error::stream_truncated when the TCP connection ended without one.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token);
  // Waits until application data can be read, without a buffer of the caller's: an idle
  // connection can wait here holding no memory for a read. void(error_code), errors as reads.
  // When idle(), or right after read_some_now said would_block, it goes straight to the socket.
  template <class Token>
  auto async_wait_readable(Token&& token);
  // One read now, never waiting: the bytes read, or `ec` set (asio::error::would_block when
  // nothing has arrived yet, else as async_read_some). No read may be outstanding. When idle()
  // it says would_block without asking the socket (the wait's receive does, first).
  size_t read_some_now(boost::asio::mutable_buffer buffer, boost::beast::error_code& ec);
  // Nothing decrypted or received is held (nor an end or error to report) and the last input
  // was small: the next read goes to the socket through the wait's receive.
  bool idle() const noexcept;
  // Application data decrypted and held: what a read returns without the socket.
  size_t readable_bytes() const noexcept;
  // void(error_code, size_t); several small buffers are sent as one record (up to 16 KB).
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token);

  // What one non-blocking step of OpenSSL needs before it can go on.
  enum class Want : uint8_t { kNothing, kRead, kWrite };
  struct Step {
    Want want = Want::kNothing;
    boost::beast::error_code ec;
    size_t bytes = 0;
  };
  // Which deadline an operation runs under (handshake and shutdown: both).
  enum class Side : uint8_t { kRead, kWrite, kBoth };
  struct Impl;

 private:
  template <class Derived>
  struct OpBase;
  template <bool kWithPrefix>
  struct HandshakeOp;
  struct ShutdownOp;
  struct ReadableOp;
  template <class Buffers>
  struct ReadOp;
  template <class Buffers>
  struct WriteOp;

  std::shared_ptr<Impl> impl_;
};

// The non-template core, in tls_stream.cpp.
struct TlsStream::Impl {
  Impl(boost::asio::ip::tcp::socket socket, ssl_ctx_st* ctx);
  ~Impl();

  Step handshake_step();
  Step shutdown_step();
  Step readable_step();
  Step read_step(void* data, size_t size);
  // A read's first step: kRead without touching the socket when nothing is held (see .cpp).
  Step read_first_step(void* data, size_t size);
  bool holds_input() const noexcept;  // decrypted or received bytes, or an end or error to report
  bool idle() const noexcept {        // TlsStream::idle
    return !large_input && !ask_first && !holds_input();
  }
  Step write_step(const void* data, size_t size);

  // Marks `side` busy (its deadline is kept by expires_after) for one operation.
  void begin(Side side);
  void end(Side side);
  // Before an operation's first wait: arms the side's deadline.
  void arm(Side side);
  // After a wait: the error to end the operation with (timeout, abort, ...), or none.
  boost::beast::error_code after_wait(Side side, const boost::beast::error_code& ec);
  // After the receive into `early`: keeps the bytes (and an error of the socket's for the read
  // that comes to it); the error to treat as the wait's.
  boost::beast::error_code received_early(const boost::beast::error_code& ec, size_t size);
  bool early_empty() const noexcept { return early_begin == early_end; }
  // Moves up to `room` received bytes from `early` to `to`; returns how many.
  size_t take_early(void* to, size_t room) noexcept;

  void set_role(handshake_type type);
  void set_prefix(const void* data, size_t size);
  // The Step for a failed SSL_* call: a wait, the peer's close_notify, or a fatal error.
  Step classify(int result);
  Step readable_first_step();
  // When SSL_do_handshake succeeded: keeps ALPN (and the peer), maybe moves to the own layer.
  void finish_handshake();

  // The own record layer (tls_stream.cpp): reads (data nullptr: until application data is
  // there), writes, shutdown; and a fatal error (its alert sent when it can be).
  struct Own;
  struct Capture;
  Step own_read(uint8_t* data, size_t size);
  Step own_write(const uint8_t* data, size_t size);
  Step own_shutdown();
  Step own_fail(const boost::beast::error_code& ec);
  Step own_send_alert(TlsAlert alert);  // ours, then own_fail
  // Sends what is left of sealed records: kNothing when all is sent.
  Step own_flush();

  boost::asio::ip::tcp::socket socket;
  ssl_st* ssl = nullptr;
  std::unique_ptr<Own> own;          // after the switch
  std::unique_ptr<Capture> capture;  // the traffic secrets, during the handshake
  std::string alpn;
  x509_st* peer = nullptr;  // the client's certificate, own layer only, until taken
  std::weak_ptr<Impl> self;
  struct Deadline {
    explicit Deadline(const boost::asio::any_io_executor& ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    uint32_t generation = 0;  // one per operation: an old timer completion is ignored
    bool busy = false;
    bool armed = false;
    bool timed_out = false;
  };
  Deadline read_deadline;
  Deadline write_deadline;
  Deadline& deadline(Side side);  // kBoth runs under the read deadline
  std::string prefix;             // bytes read before the handshake (sniffing), served first
  size_t prefix_used = 0;
  // A read side that waits for input receives into this instead of waiting for readability:
  // Asio reads speculatively and queues the receive without touching epoll (a wait re-arms the
  // descriptor, EPOLL_CTL_MOD, every time), and the bytes need no allocation. Reads take them
  // before the socket's; the own record layer opens records in place here. 1 KB holds the
  // usual request record (a head with a bearer token: 787 bytes in the bench).
  static constexpr size_t kEarlyCapacity = 1024;
  uint8_t early[kEarlyCapacity];
  uint16_t early_begin = 0;  // [early_begin, early_end): received, not read yet
  uint16_t early_end = 0;
  boost::beast::error_code early_failure;  // what the receive saw, for the next read
  // Reads ask the socket before they wait (not idle()): the last receive filled `early`, or
  // found its bytes there at once (a client that sends before it is answered, a backlog).
  bool large_input = false;
  bool received_at_once = false;
  bool ask_first = false;
  int last_errno = 0;          // of the BIO's last failed recv/send
  bool peer_eof = false;       // recv returned 0
  bool failed = false;         // after a fatal error OpenSSL must not be called again
  bool input_drained = false;  // the last read wanted socket input: nothing decrypted is left
  boost::beast::error_code failure;
};

// The loop every operation shares: one OpenSSL step; done, or wait for the socket and retry.
// The first completion is posted, never made inside the initiating call.
template <class Derived>
struct TlsStream::OpBase {
  Impl* impl;
  Side side;
  enum class Stage : uint8_t { kStart, kWaiting, kReceiving, kPosted } stage = Stage::kStart;
  Step done{};

  template <class Self>
  void operator()(Self& self, boost::beast::error_code ec = {}, size_t received = 0) {
    auto& derived = static_cast<Derived&>(*this);
    switch (stage) {
      case Stage::kStart:
        impl->begin(side);
        break;
      case Stage::kReceiving:
        ec = impl->received_early(ec, received);
        [[fallthrough]];
      case Stage::kWaiting:
        if (auto failure = impl->after_wait(side, ec)) {
          done = Step{Want::kNothing, failure, 0};
          return finish(self);
        }
        break;
      case Stage::kPosted:
        return finish(self);
    }
    Step step = derived.step();
    if (step.want == Want::kNothing) {
      done = step;
      if (stage == Stage::kStart) {
        stage = Stage::kPosted;
        return boost::asio::post(std::move(self));
      }
      return finish(self);
    }
    impl->arm(side);
    if (step.want == Want::kRead && !impl->early_empty()) {
      // OpenSSL stopped without reading what is there (a record it consumed): go on at once.
      stage = Stage::kWaiting;
      return boost::asio::post(std::move(self));
    }
    if (step.want == Want::kRead && side == Side::kRead) {
      // After the handshake (whose reads must not go past its last record) input is received.
      // Asio tries the socket at once: bytes written now (a record's first byte, its type, is
      // never 0) say the next message came before it was asked for.
      stage = Stage::kReceiving;
      Impl* const stream = impl;
      stream->early[0] = 0;
      stream->socket.async_receive(boost::asio::buffer(stream->early, Impl::kEarlyCapacity),
                                   std::move(self));
      stream->received_at_once = stream->early[0] != 0;
      return;
    }
    stage = Stage::kWaiting;
    impl->socket.async_wait(step.want == Want::kRead ? boost::asio::socket_base::wait_read
                                                     : boost::asio::socket_base::wait_write,
                            std::move(self));
  }

  template <class Self>
  void finish(Self& self) {
    impl->end(side);
    static_cast<Derived&>(*this).complete(self, done);
  }
};

// kWithPrefix: the handshake that started from already-read bytes also says how many it used.
template <bool kWithPrefix>
struct TlsStream::HandshakeOp : OpBase<HandshakeOp<kWithPrefix>> {
  Step step() { return this->impl->handshake_step(); }
  template <class Self>
  void complete(Self& self, const Step& s) {
    if constexpr (kWithPrefix)
      self.complete(s.ec, this->impl->prefix_used);
    else
      self.complete(s.ec);
  }
};

struct TlsStream::ShutdownOp : OpBase<ShutdownOp> {
  Step step() { return impl->shutdown_step(); }
  template <class Self>
  void complete(Self& self, const Step& s) {
    self.complete(s.ec);
  }
};

struct TlsStream::ReadableOp : OpBase<ReadableOp> {
  bool first = true;
  Step step() {
    if (!std::exchange(first, false)) return impl->readable_step();
    return impl->readable_first_step();
  }
  template <class Self>
  void complete(Self& self, const Step& s) {
    self.complete(s.ec);
  }
};

template <class Buffers>
struct TlsStream::ReadOp : OpBase<ReadOp<Buffers>> {
  Buffers buffers;
  bool first = true;
  Step step() {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b(*it);
      if (b.size() == 0) continue;
      if (std::exchange(first, false)) return this->impl->read_first_step(b.data(), b.size());
      return this->impl->read_step(b.data(), b.size());
    }
    return Step{};  // nothing to read into: done at once, like a socket
  }
  template <class Self>
  void complete(Self& self, const Step& s) {
    self.complete(s.ec, s.bytes);
  }
};

template <class Buffers>
struct TlsStream::WriteOp : OpBase<WriteOp<Buffers>> {
  Buffers buffers;
  std::unique_ptr<char[]> joined;  // small buffers copied into one record
  size_t joined_size = 0;
  static constexpr size_t kJoinLimit = 16 * 1024;

  Step step() {
    if (joined) return this->impl->write_step(joined.get(), joined_size);
    boost::asio::const_buffer first;
    size_t count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (count++ == 0) first = b;
    }
    if (count == 0) return Step{};
    if (count > 1 && first.size() < kJoinLimit) {
      joined_size = std::min(boost::asio::buffer_size(buffers), kJoinLimit);
      joined = std::make_unique<char[]>(joined_size);
      boost::asio::buffer_copy(boost::asio::buffer(joined.get(), joined_size), buffers);
      return this->impl->write_step(joined.get(), joined_size);
    }
    return this->impl->write_step(first.data(), first.size());
  }
  template <class Self>
  void complete(Self& self, const Step& s) {
    joined.reset();
    self.complete(s.ec, s.bytes);
  }
};

template <class Token>
auto TlsStream::async_handshake(handshake_type type, Token&& token) {
  impl_->set_role(type);
  HandshakeOp<false> op{{impl_.get(), Side::kBoth}};
  return boost::asio::async_compose<Token, void(boost::beast::error_code)>(std::move(op), token,
                                                                           impl_->socket);
}

template <class ConstBuffer, class Token>
auto TlsStream::async_handshake(handshake_type type, const ConstBuffer& first, Token&& token) {
  impl_->set_role(type);
  impl_->set_prefix(first.data(), first.size());
  HandshakeOp<true> op{{impl_.get(), Side::kBoth}};
  return boost::asio::async_compose<Token, void(boost::beast::error_code, size_t)>(
      std::move(op), token, impl_->socket);
}

template <class Token>
auto TlsStream::async_shutdown(Token&& token) {
  return boost::asio::async_compose<Token, void(boost::beast::error_code)>(
      ShutdownOp{{impl_.get(), Side::kBoth}}, token, impl_->socket);
}

template <class Token>
auto TlsStream::async_wait_readable(Token&& token) {
  return boost::asio::async_compose<Token, void(boost::beast::error_code)>(
      ReadableOp{{impl_.get(), Side::kRead}, true}, token, impl_->socket);
}

template <class MutableBuffers, class Token>
auto TlsStream::async_read_some(const MutableBuffers& buffers, Token&& token) {
  ReadOp<MutableBuffers> op{{impl_.get(), Side::kRead}, buffers};
  return boost::asio::async_compose<Token, void(boost::beast::error_code, size_t)>(
      std::move(op), token, impl_->socket);
}

template <class ConstBuffers, class Token>
auto TlsStream::async_write_some(const ConstBuffers& buffers, Token&& token) {
  WriteOp<ConstBuffers> op{{impl_.get(), Side::kWrite}, buffers, nullptr, 0};
  return boost::asio::async_compose<Token, void(boost::beast::error_code, size_t)>(
      std::move(op), token, impl_->socket);
}

// The read of a keep-alive connection between messages: what the stream holds already
// (pipelined bytes, a decrypted record's rest; or anything that arrived, while messages come
// large) is read at once into `buffer` (up to `size` bytes), with no wait and no extra trip
// through the scheduler; else the buffer's memory is given back and the connection waits for
// its next record without one (an idle connection holds no read buffer; the wait receives into
// the stream's own 1 KB, trying the socket first). After the wait the buffer is sized to what
// was decrypted when that is less than `size` (the usual request: a block small enough for
// malloc's per-thread cache, freed and taken again per request). The error as a read's.
inline boost::asio::awaitable<boost::beast::error_code> read_or_wait(
    TlsStream& stream, boost::beast::flat_buffer& buffer, size_t size) {
  namespace asio = boost::asio;
  boost::beast::error_code ec = asio::error::would_block;
  size_t n = 0;
  if (!stream.idle()) n = stream.read_some_now(buffer.prepare(size), ec);
  if (ec == asio::error::would_block) {
    buffer.shrink_to_fit();
    std::tie(ec) = co_await stream.async_wait_readable(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return ec;
    const size_t ready = stream.readable_bytes();
    n = stream.read_some_now(buffer.prepare(ready > 0 && ready < size ? ready : size), ec);
    if (ec == asio::error::would_block)  // readable said so, but be safe: an ordinary read
      std::tie(ec, n) = co_await stream.async_read_some(buffer.prepare(size),
                                                        asio::as_tuple(asio::use_awaitable));
  }
  if (!ec) buffer.commit(n);
  co_return ec;
}

}  // namespace gatedrill::gateway

#include "gateway/server/h2_tunnel.hpp"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gateway/server/stream_pipe.hpp"

namespace gatedrill::gateway::h2 {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kWriteChunk = 64 * 1024;

// The pipe's upstream end: its callbacks (from the server session, on this thread) wake the
// two copy loops, each asleep on its own timer until there is something for it.
struct TunnelEnd final : StreamPipe::UpstreamEnd {
  TunnelEnd(const asio::any_io_executor& ex, beast::tcp_stream& socket, StreamPipe& p)
      : to_upstream(ex), to_client(ex), lowest(socket), pipe(p) {
    to_upstream.expires_at(asio::steady_timer::time_point::max());
    to_client.expires_at(asio::steady_timer::time_point::max());
    pipe.attach(this);
  }
  // However the relay ends (also its coroutine destroyed when the worker stops), the pipe no
  // longer calls it.
  ~TunnelEnd() { pipe.detach(this); }
  TunnelEnd(const TunnelEnd&) = delete;
  TunnelEnd& operator=(const TunnelEnd&) = delete;

  void request_ready() override { to_upstream.cancel(); }
  void response_taken(size_t bytes) override {
    queued -= std::min(bytes, queued);
    to_client.cancel();
  }
  void client_gone() override { stop(); }
  void idle_expired() override {
    pipe.reset_client(NGHTTP2_CANCEL);
    stop();
  }

  // Ends both loops: the upstream connection closes (ending a pending read or write).
  void stop() {
    if (stopped) return;
    stopped = true;
    beast::error_code ec;
    lowest.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    lowest.socket().close(ec);
    to_upstream.cancel();
    to_client.cancel();
  }

  asio::steady_timer to_upstream;
  asio::steady_timer to_client;
  beast::tcp_stream& lowest;
  StreamPipe& pipe;
  size_t queued = 0;  // upstream bytes handed to the pipe, not yet sent to the client
  bool stopped = false;
  // A plain upstream's reads wait receiving into this (the usual message lands here): a quiet
  // tunnel holds no read buffer, and the wait is an ordinary read (no epoll re-arm).
  std::array<char, 1024> early;
};

// The client's END_STREAM: the upstream's input ends, its output may go on (it may still answer).
asio::awaitable<void> half_close(beast::tcp_stream& upstream, TunnelEnd&,
                                 std::chrono::milliseconds) {
  beast::error_code ec;
  upstream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  co_return;
}

// Over TLS a close_notify goes before the FIN (to the upstream a bare FIN may be a truncation).
// Only ours is sent: Asio's shutdown calls SSL_shutdown again until the upstream's close_notify
// came, reading for it and dropping what the upstream still sends, while the relay's read runs.
// Marked as received, the first call sends ours and is done; the mark is taken off before the
// relay's read can see it (the initiation runs SSL_shutdown at once; a read seeing the mark would
// end as if the upstream had closed).
asio::awaitable<void> half_close(beast::ssl_stream<beast::tcp_stream>& upstream, TunnelEnd& end,
                                 std::chrono::milliseconds write_timeout) {
  SSL* ssl = upstream.native_handle();
  const int before = SSL_get_shutdown(ssl);
  end.lowest.expires_after(write_timeout);
  auto [ec] = co_await asio::async_initiate<decltype(kNoThrow), void(beast::error_code)>(
      [&](auto handler) {
        SSL_set_shutdown(ssl, before | SSL_RECEIVED_SHUTDOWN);
        upstream.async_shutdown(std::move(handler));
        SSL_set_shutdown(ssl, (SSL_get_shutdown(ssl) & ~SSL_RECEIVED_SHUTDOWN) |
                                  (before & SSL_RECEIVED_SHUTDOWN));
      },
      kNoThrow);
  (void)ec;  // a failed write: the relay's read sees the connection end
  if (end.stopped) co_return;
  beast::error_code shutdown_ec;
  end.lowest.socket().shutdown(asio::ip::tcp::socket::shutdown_send, shutdown_ec);
}

// Client -> upstream: what arrived on the stream, as the upstream takes it (taking it opens the
// client's window again). The client's END_STREAM half-closes the upstream connection.
template <class Stream>
asio::awaitable<void> copy_to_upstream(Stream& upstream, TunnelEnd& end,
                                       std::chrono::milliseconds write_timeout) {
  std::string chunk;  // what is being written; given back while the client is quiet
  while (!end.stopped) {
    bool last = false;
    chunk.resize(std::min(end.pipe.request_available(), kWriteChunk));
    const size_t n = end.pipe.take_request(chunk.data(), chunk.size(), &last);
    if (n > 0) {
      end.lowest.expires_after(write_timeout);
      auto [ec, written] =
          co_await asio::async_write(upstream, asio::buffer(chunk.data(), n), kNoThrow);
      (void)written;
      if (ec) {
        if (!end.stopped) end.pipe.reset_client(NGHTTP2_CONNECT_ERROR);
        end.stop();
        co_return;
      }
      continue;
    }
    if (last) {
      co_await half_close(upstream, end, write_timeout);
      co_return;
    }
    chunk = std::string();
    co_await end.to_upstream.async_wait(kNoThrow);
  }
}

// The next bytes from the upstream, into the pipe or `pending` (empty here; with an error it
// may hold what came before it); waits until some came. Over TLS into a read buffer; Asio's SSL
// stream may hold received bytes of its own, so only its read can wait.
asio::awaitable<beast::error_code> read_upstream(beast::ssl_stream<beast::tcp_stream>& upstream,
                                                 beast::flat_buffer& pending, TunnelEnd&) {
  auto [ec, n] = co_await upstream.async_read_some(pending.prepare(kReadChunk), kNoThrow);
  pending.commit(n);
  co_return ec;
}

// A plain upstream (its socket put in non-blocking mode): while bytes keep coming (`pending` has a
// buffer from the last read) they are read on at once; when none are there the buffer is given
// back and the wait receives into the tunnel's 1 KB (a quiet tunnel holds no read buffer; the
// usual message lands there whole), what came past it read at once into a new buffer.
asio::awaitable<beast::error_code> read_upstream(beast::tcp_stream& upstream,
                                                 beast::flat_buffer& pending, TunnelEnd& end) {
  auto& socket = upstream.socket();
  beast::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);  // the reads that must not wait
  if (pending.capacity() > 0) {
    const size_t n = socket.read_some(pending.prepare(kReadChunk), ec);
    if (ec != asio::error::would_block) {
      pending.commit(n);
      co_return ec;
    }
    pending.shrink_to_fit();
  }
  size_t n = 0;
  std::tie(ec, n) = co_await socket.async_receive(asio::buffer(end.early), kNoThrow);
  if (ec) co_return ec;
  if (n < end.early.size()) {
    end.pipe.put_response(end.early.data(), n);
    end.queued += n;
    co_return beast::error_code{};
  }
  // More may have come at once: it goes to the client with these bytes, in the same frames.
  asio::buffer_copy(pending.prepare(n + kReadChunk), asio::buffer(end.early));
  pending.commit(n);
  n = socket.read_some(pending.prepare(kReadChunk), ec);
  if (ec == asio::error::would_block) co_return beast::error_code{};
  pending.commit(n);
  co_return ec;
}

// What was read goes to the pipe, for the client.
void hand_over(beast::flat_buffer& pending, TunnelEnd& end) {
  if (pending.size() == 0) return;
  const auto data = pending.data();
  end.pipe.put_response(static_cast<const char*>(data.data()), data.size());
  end.queued += data.size();
  pending.consume(data.size());
}

bool is_clean_end(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

// Upstream -> client: read while less than a stream window waits for the client, so a client
// that stops reading stops the upstream (its TCP window fills) instead of the gateway's memory.
template <class Stream>
asio::awaitable<void> copy_to_client(Stream& upstream, beast::flat_buffer& pending,
                                     TunnelEnd& end) {
  for (;;) {
    hand_over(pending, end);
    while (!end.stopped && end.queued >= kStreamWindow) co_await end.to_client.async_wait(kNoThrow);
    if (end.stopped) co_return;
    end.lowest.expires_never();  // the session's stream idle deadline judges a quiet tunnel
    if (const auto ec = co_await read_upstream(upstream, pending, end)) {
      if (!end.stopped) {
        // The upstream closed: END_STREAM after what it sent; a reset is the client's too.
        if (is_clean_end(ec)) {
          hand_over(pending, end);  // what came with the end
          end.pipe.end_response({});
        } else {
          end.pipe.reset_client(NGHTTP2_CONNECT_ERROR);
        }
      }
      end.stop();
      co_return;
    }
  }
}

}  // namespace

// GCC 12 misreads this coroutine's frame allocation (Asio's operator new/delete pair) as
// mismatched once the plain upstream's read is inlined into it: a false positive of its
// -Wmismatched-new-delete on coroutine frames (as in gateway/proxy/h2_upstream.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
template <class Stream>
asio::awaitable<void> relay_tunnel(Stream& upstream, beast::flat_buffer& pending, StreamPipe& pipe,
                                   std::chrono::milliseconds write_timeout) {
  using namespace asio::experimental::awaitable_operators;
  TunnelEnd end(co_await asio::this_coro::executor, beast::get_lowest_layer(upstream), pipe);
  pipe.no_replay();  // a tunnel's bytes are never sent twice
  // The client may have gone, or its stream idled out, while the upstream was switching.
  if (pipe.idle_expired()) end.idle_expired();
  if (pipe.client_left()) end.stop();
  co_await (copy_to_upstream(upstream, end, write_timeout) &&
            copy_to_client(upstream, pending, end));
}

#pragma GCC diagnostic pop

template asio::awaitable<void> relay_tunnel<beast::tcp_stream>(beast::tcp_stream&,
                                                               beast::flat_buffer&, StreamPipe&,
                                                               std::chrono::milliseconds);
template asio::awaitable<void> relay_tunnel<beast::ssl_stream<beast::tcp_stream>>(
    beast::ssl_stream<beast::tcp_stream>&, beast::flat_buffer&, StreamPipe&,
    std::chrono::milliseconds);

}  // namespace gatedrill::gateway::h2

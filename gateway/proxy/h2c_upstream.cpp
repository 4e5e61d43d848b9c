#include "gateway/proxy/h2c_upstream.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "core/util/strings.hpp"

namespace gatedrill::gateway::h2 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// The state of the one stream of a call; nghttp2's callbacks fill it.
struct Call {
  std::string request_body;
  size_t request_sent = 0;
  int32_t stream_id = -1;
  Answer answer;
  bool got_status = false;
  bool closed = false;
  uint32_t close_error = 0;
  size_t max_response_bytes = 0;
  bool too_large = false;
};

ssize_t read_request_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source*, void* user) {
  if (user == nullptr) return NGHTTP2_ERR_DEFERRED;
  auto& call = *static_cast<Call*>(user);
  const size_t n = std::min(length, call.request_body.size() - call.request_sent);
  if (n > 0) std::memcpy(buf, call.request_body.data() + call.request_sent, n);
  call.request_sent += n;
  if (call.request_sent == call.request_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_data,
              size_t name_len, const uint8_t* value_data, size_t value_len, uint8_t, void* user) {
  if (user == nullptr) return 0;  // between calls: frames of finished streams
  auto& call = *static_cast<Call*>(user);
  if (frame->hd.stream_id != call.stream_id) return 0;
  std::string_view name(reinterpret_cast<const char*>(name_data), name_len);
  std::string_view value(reinterpret_cast<const char*>(value_data), value_len);
  if (name == ":status") {
    int status = 0;
    for (char c : value) status = status * 10 + (c - '0');
    if (status >= 200) {  // a 1xx is informational: the final status comes later
      call.answer.response.result(static_cast<http::status>(status));
      call.got_status = true;
    }
    return 0;
  }
  if (!name.empty() && name[0] == ':') return 0;
  // Headers after the final response headers (a HEADERS frame ending the stream) are trailers.
  if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && call.got_status)
    call.answer.trailers.emplace_back(std::string(name), std::string(value));
  else if (call.got_status)
    call.answer.response.insert(name, value);
  return 0;
}

int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
  if (user == nullptr) return 0;  // between calls: frames of finished streams
  auto& call = *static_cast<Call*>(user);
  if (id != call.stream_id) return 0;
  if (call.answer.response.body().size() + len > call.max_response_bytes) {
    call.too_large = true;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  call.answer.response.body().append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int on_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  if (user == nullptr) return 0;  // between calls: frames of finished streams
  auto& call = *static_cast<Call*>(user);
  if (id != call.stream_id) return 0;
  call.closed = true;
  call.close_error = error_code;
  return 0;
}

}  // namespace

// One kept-alive h2c connection: its socket, the bytes read past the last call, its session.
struct H2cPool::Conn {
  explicit Conn(const asio::any_io_executor& ex) : stream(ex) {}
  ~Conn() {
    if (session) nghttp2_session_del(session);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  nghttp2_session* session = nullptr;
};

H2cPool::H2cPool() = default;
H2cPool::~H2cPool() = default;
void H2cPool::clear() {
  idle_.clear();
}

namespace {

// A fresh connection with its client session (SETTINGS queued), or the connect error.
asio::awaitable<std::unique_ptr<H2cPool::Conn>> open_conn(const asio::ip::tcp::endpoint& upstream,
                                                          const UpstreamCallOptions& options,
                                                          UpstreamCall& out) {
  auto conn = std::make_unique<H2cPool::Conn>(co_await asio::this_coro::executor);
  conn->stream.expires_after(options.connect_timeout);
  if (auto [ec] = co_await conn->stream.async_connect(upstream, kNoThrow); ec) {
    out.error_kind = "connect";
    out.error_message = "upstream connect error: " + ec.message();
    co_return nullptr;
  }
  conn->stream.socket().set_option(asio::ip::tcp::no_delay(true));
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
  const int rv = nghttp2_session_client_new(&conn->session, callbacks, nullptr);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    out.error_kind = "protocol";
    out.error_message = "cannot start an HTTP/2 session";
    co_return nullptr;
  }
  nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, nullptr, 0);
  co_return conn;
}

}  // namespace

// GCC 12 misreads this coroutine's frame allocation (Asio's operator new/delete pair) as
// mismatched; a false positive of its -Wmismatched-new-delete on coroutine frames.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<UpstreamCall> call_h2c(H2cPool& pool, size_t max_idle,
                                       const asio::ip::tcp::endpoint& upstream,
                                       const Request& request, const UpstreamCallOptions& options) {
  std::vector<std::pair<std::string, std::string>> owned = {
      {":method", std::string(request.method_string())},
      {":scheme", "http"},
      {":authority", std::string(request[http::field::host])},
      {":path", std::string(request.target())}};
  // gRPC servers require "te: trailers"; the HTTP/1.1 request builder dropped it as hop-by-hop.
  owned.emplace_back("te", "trailers");
  for (const auto& field : request) {
    std::string name = to_lower(field.name_string());
    // Host is the :authority; the length is the DATA frames'.
    if (name == "te" || name == "host" || name == "content-length" ||
        forbidden_in_h2(name, field.value()))
      continue;
    owned.emplace_back(std::move(name), std::string(field.value()));
  }
  std::vector<nghttp2_nv> nva;
  for (auto& [name, value] : owned)
    nva.push_back({reinterpret_cast<uint8_t*>(name.data()),
                   reinterpret_cast<uint8_t*>(value.data()), name.size(), value.size(),
                   NGHTTP2_NV_FLAG_NONE});

  for (int attempt = 0; attempt < 2; ++attempt) {
    UpstreamCall out;
    std::unique_ptr<H2cPool::Conn> conn;
    const bool reused = !pool.idle_.empty();
    if (reused) {
      conn = std::move(pool.idle_.back());
      pool.idle_.pop_back();
    } else {
      conn = co_await open_conn(upstream, options, out);
      if (!conn) co_return out;
    }
    nghttp2_session* session = conn->session;
    Call call;
    call.request_body = request.body();
    call.max_response_bytes = options.max_response_bytes;
    nghttp2_session_set_user_data(session, &call);
    struct Detach {  // no callback may see `call` once this attempt is over
      nghttp2_session* session;
      ~Detach() { nghttp2_session_set_user_data(session, nullptr); }
    } detach{session};
    nghttp2_data_provider provider{};
    provider.read_callback = read_request_body;
    call.stream_id =
        nghttp2_submit_request(session, nullptr, nva.data(), nva.size(),
                               call.request_body.empty() ? nullptr : &provider, nullptr);
    if (call.stream_id < 0) {
      if (reused) continue;  // e.g. the upstream said GOAWAY while the connection was idle
      out.error_kind = "protocol";
      out.error_message = "cannot submit the request";
      co_return out;
    }
    std::string pending;
    beast::error_code io_error;
    conn->stream.expires_after(options.timeout);  // the whole call
    while (!call.closed) {
      pending.clear();
      for (;;) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session, &data);
        if (n <= 0) break;
        pending.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      }
      if (!pending.empty()) {
        auto [ec, n] = co_await asio::async_write(conn->stream, asio::buffer(pending), kNoThrow);
        (void)n;
        if (ec) {
          io_error = ec;
          break;
        }
      }
      if (nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0)
        break;
      auto [ec, n] =
          co_await conn->stream.async_read_some(conn->buffer.prepare(16 * 1024), kNoThrow);
      if (ec) {
        io_error = ec;
        break;
      }
      conn->buffer.commit(n);
      const ssize_t used = nghttp2_session_mem_recv(
          session, static_cast<const uint8_t*>(conn->buffer.data().data()), conn->buffer.size());
      if (used < 0) {
        out.error_kind = "protocol";
        out.error_message = call.too_large ? "upstream response too large"
                                           : std::string("upstream HTTP/2 error: ") +
                                                 nghttp2_strerror(static_cast<int>(used));
        co_return out;
      }
      conn->buffer.consume(static_cast<size_t>(used));
    }
    const bool timeout = io_error == beast::error::timeout;
    // A pooled connection the upstream closed or refused while it was idle: once more, fresh.
    if (reused && attempt == 0 && !timeout && !call.got_status &&
        (io_error || call.close_error == NGHTTP2_REFUSED_STREAM || !call.closed))
      continue;
    if (io_error) {
      out.error_kind = timeout ? "timeout" : "protocol";
      out.error_message = timeout ? "upstream request timeout"
                                  : "upstream connection failed: " + io_error.message();
      co_return out;
    }
    if (!call.closed || !call.got_status || call.close_error != NGHTTP2_NO_ERROR) {
      out.error_kind = "protocol";
      out.error_message = "upstream reset the stream";
      co_return out;
    }
    out.answer = std::move(call.answer);
    out.answer->proxied = true;
    if (pool.idle_.size() < max_idle && nghttp2_session_want_read(session) != 0) {
      conn->stream.expires_never();
      pool.idle_.push_back(std::move(conn));
    }
    co_return out;
  }
  UpstreamCall out;
  out.error_kind = "protocol";
  out.error_message = "upstream connection failed";
  co_return out;
}
#pragma GCC diagnostic pop

}  // namespace gatedrill::gateway::h2

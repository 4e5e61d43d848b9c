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
  auto& call = *static_cast<Call*>(user);
  const size_t n = std::min(length, call.request_body.size() - call.request_sent);
  if (n > 0) std::memcpy(buf, call.request_body.data() + call.request_sent, n);
  call.request_sent += n;
  if (call.request_sent == call.request_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_data,
              size_t name_len, const uint8_t* value_data, size_t value_len, uint8_t, void* user) {
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
  auto& call = *static_cast<Call*>(user);
  if (id != call.stream_id) return 0;
  call.closed = true;
  call.close_error = error_code;
  return 0;
}

struct SessionGuard {
  nghttp2_session* session;
  ~SessionGuard() { nghttp2_session_del(session); }
};

}  // namespace

// GCC 12 misreads this coroutine's frame allocation (Asio's operator new/delete pair) as
// mismatched; a false positive of its -Wmismatched-new-delete on coroutine frames.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<UpstreamCall> call_h2c(const asio::ip::tcp::endpoint& upstream,
                                       const Request& request, const UpstreamCallOptions& options) {
  UpstreamCall out;
  auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream stream(executor);
  stream.expires_after(options.connect_timeout);
  if (auto [ec] = co_await stream.async_connect(upstream, kNoThrow); ec) {
    out.error_kind = "connect";
    out.error_message = "upstream connect error: " + ec.message();
    co_return out;
  }
  stream.socket().set_option(asio::ip::tcp::no_delay(true));

  Call call;
  call.request_body = request.body();
  call.max_response_bytes = options.max_response_bytes;
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
  nghttp2_session* raw = nullptr;
  const int rv = nghttp2_session_client_new(&raw, callbacks, &call);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    out.error_kind = "protocol";
    out.error_message = "cannot start an HTTP/2 session";
    co_return out;
  }
  SessionGuard session{raw};
  nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, nullptr, 0);

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
  nghttp2_data_provider provider{};
  provider.read_callback = read_request_body;
  call.stream_id = nghttp2_submit_request(raw, nullptr, nva.data(), nva.size(),
                                          call.request_body.empty() ? nullptr : &provider, nullptr);
  if (call.stream_id < 0) {
    out.error_kind = "protocol";
    out.error_message = "cannot submit the request";
    co_return out;
  }

  beast::flat_buffer buffer;
  std::string pending;
  stream.expires_after(options.timeout);  // the whole call, request sent to response read
  while (!call.closed) {
    pending.clear();
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(raw, &data);
      if (n <= 0) break;
      pending.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (!pending.empty()) {
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(pending), kNoThrow);
      (void)n;
      if (ec) {
        out.error_kind = ec == beast::error::timeout ? "timeout" : "protocol";
        out.error_message = "upstream write failed: " + ec.message();
        co_return out;
      }
    }
    if (nghttp2_session_want_read(raw) == 0 && nghttp2_session_want_write(raw) == 0) break;
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(16 * 1024), kNoThrow);
    if (ec) {
      out.error_kind = ec == beast::error::timeout ? "timeout" : "protocol";
      out.error_message = ec == beast::error::timeout
                              ? "upstream request timeout"
                              : "upstream connection failed: " + ec.message();
      co_return out;
    }
    buffer.commit(n);
    const ssize_t used = nghttp2_session_mem_recv(
        raw, static_cast<const uint8_t*>(buffer.data().data()), buffer.size());
    if (used < 0) {
      out.error_kind = "protocol";
      out.error_message = call.too_large ? "upstream response too large"
                                         : std::string("upstream HTTP/2 error: ") +
                                               nghttp2_strerror(static_cast<int>(used));
      co_return out;
    }
    buffer.consume(static_cast<size_t>(used));
  }
  if (!call.closed || !call.got_status || call.close_error != NGHTTP2_NO_ERROR) {
    out.error_kind = "protocol";
    out.error_message = "upstream reset the stream";
    co_return out;
  }
  // Say goodbye politely; the connection is not reused (one call per connection).
  nghttp2_session_terminate_session(raw, NGHTTP2_NO_ERROR);
  const uint8_t* data = nullptr;
  if (const ssize_t n = nghttp2_session_mem_send(raw, &data); n > 0) {
    beast::error_code ec;
    stream.socket().write_some(asio::buffer(data, static_cast<size_t>(n)), ec);
  }
  out.answer = std::move(call.answer);
  out.answer->proxied = true;
  co_return out;
}
#pragma GCC diagnostic pop

}  // namespace gatedrill::gateway::h2

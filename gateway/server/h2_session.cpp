#include "gateway/server/h2_session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "gateway/server/data_plane.hpp"
#include "gateway/server/grpc_status.hpp"
#include "gateway/server/stream_pipe.hpp"
#include "gateway/server/tls_stream.hpp"

namespace gatedrill::gateway::h2 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

bool forbidden_in_h2(std::string_view lower_name, std::string_view value) {
  if (lower_name == "te") return !iequals(value, "trailers");
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade";
}

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr size_t kWriteBatch = 64 * 1024;
constexpr int32_t kConnectionWindow = 4 << 20;

struct Conn;

// One stream of the connection. A gRPC call's stream is the client end of its pipe.
struct StreamState final : StreamPipe::ClientEnd {
  StreamState(Conn& c, int32_t stream_id) : conn(c), id(stream_id) {}
  ~StreamState() {
    if (pipe) pipe->detach(this);
  }
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;

  void response_ready() override;
  void request_taken(size_t bytes) override;
  void reset(uint32_t h2_error) override;

  Conn& conn;
  int32_t id;
  std::shared_ptr<StreamPipe> pipe;  // a gRPC call or a WebSocket tunnel: streamed
  bool tunnel = false;               // an extended CONNECT (RFC 8441) for a WebSocket
  std::string protocol;              // its :protocol
  bool call_done = false;            // its handler returned: request DATA is dropped
  bool handling = false;             // handed to the handler, its answer not back yet
  bool idle_expired = false;         // the stream idle timeout ended its call
  bool trimmed = false;              // a tunnel's pipe trimmed since its last frame
  int64_t last_ns = 0;               // the last frame on this stream, either way
  Request request;
  bool has_authority = false;
  size_t header_bytes = 0;
  size_t header_count = 0;
  std::optional<int> reject_status;  // refused while receiving: answered at once
  std::string reject_reason;
  std::string reject_message;
  bool answered = false;
  // The answer being sent.
  std::string body;
  size_t sent = 0;
  HeaderList trailers;
};

struct Conn : std::enable_shared_from_this<Conn> {
  Conn(asio::any_io_executor ex, const Limits& l, const TimeSource& t, Handler h, EventHook e,
       RejectHook r)
      : executor(ex),
        wake(ex),
        watch(ex),
        limits(l),
        time(t),
        handler(std::move(h)),
        on_event(std::move(e)),
        on_reject(std::move(r)) {}
  ~Conn() {
    if (session) nghttp2_session_del(session);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  asio::any_io_executor executor;
  asio::steady_timer wake;   // cancelled to make the writer look for frames to send
  asio::steady_timer watch;  // the idle deadlines (watch())
  Limits limits;
  const TimeSource& time;
  Handler handler;
  EventHook on_event;
  RejectHook on_reject;
  nghttp2_session* session = nullptr;
  std::map<int32_t, std::unique_ptr<StreamState>> streams;
  bool reading_done = false;
  bool writing_done = false;
  int64_t reset_window_start_ns = 0;
  int resets_in_window = 0;
  bool flood = false;
  bool draining = false;  // graceful GOAWAY sent
  // Monotonic time of the current read or write batch: frames stamp their stream with it, so
  // activity costs no clock read per frame and no timer work.
  int64_t now_ns = 0;
  int64_t idle_since_ns = 0;        // when the last stream closed (or the connection began)
  int64_t watch_at_ns = INT64_MAX;  // what the watch timer waits for

  void event(std::string_view kind) const {
    if (on_event) on_event(kind);
  }
  void poke() { wake.cancel(); }
  StreamState* stream(int32_t id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second.get();
  }
  bool finished() const {
    return nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0;
  }
};

// Request bytes went upstream: the client may send as many more on this stream.
void StreamState::request_taken(size_t bytes) {
  nghttp2_session_consume_stream(conn.session, id, bytes);
  conn.poke();
}

void StreamState::reset(uint32_t h2_error) {
  nghttp2_submit_rst_stream(conn.session, NGHTTP2_FLAG_NONE, id, h2_error);
  conn.poke();
}

nghttp2_nv make_nv(const std::string& name, const std::string& value) {
  nghttp2_nv nv;
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.namelen = name.size();
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;  // nghttp2 copies name and value
  return nv;
}

ssize_t read_body(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                  uint32_t* flags, nghttp2_data_source*, void* user) {
  auto& c = *static_cast<Conn*>(user);
  StreamState* s = c.stream(id);
  if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const size_t n = std::min(length, s->body.size() - s->sent);
  if (n > 0) std::memcpy(buf, s->body.data() + s->sent, n);
  s->sent += n;
  if (s->sent == s->body.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!s->trailers.empty()) {
      std::vector<std::pair<std::string, std::string>> owned;
      for (const auto& [name, value] : s->trailers) owned.emplace_back(to_lower(name), value);
      std::vector<nghttp2_nv> nva;
      for (const auto& [name, value] : owned) nva.push_back(make_nv(name, value));
      if (nghttp2_submit_trailer(session, id, nva.data(), nva.size()) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return static_cast<ssize_t>(n);
}

// A streamed call's answer body: what the upstream sent so far (deferred while there is none),
// then its trailers.
ssize_t read_streamed_body(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* user) {
  auto& c = *static_cast<Conn*>(user);
  StreamState* s = c.stream(id);
  if (s == nullptr || !s->pipe) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  StreamPipe& pipe = *s->pipe;
  bool end = false;
  const size_t n = pipe.take_response(reinterpret_cast<char*>(buf), length, &end);
  if (n == 0 && !end) return NGHTTP2_ERR_DEFERRED;
  if (end) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    HeaderList trailers = pipe.take_trailers();
    if (!trailers.empty()) {
      std::vector<std::pair<std::string, std::string>> owned;
      for (auto& [name, value] : trailers) owned.emplace_back(to_lower(name), std::move(value));
      std::vector<nghttp2_nv> nva;
      for (const auto& [name, value] : owned) nva.push_back(make_nv(name, value));
      if (nghttp2_submit_trailer(session, id, nva.data(), nva.size()) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return static_cast<ssize_t>(n);
}

// HEADERS for `response` on stream `id`, then DATA from `provider` (none: the stream ends).
void submit_head(Conn& c, int32_t id, const Response& response,
                 const nghttp2_data_provider* provider) {
  std::vector<std::pair<std::string, std::string>> owned;
  owned.emplace_back(":status", std::to_string(response.result_int()));
  for (const auto& field : response) {
    std::string name = to_lower(field.name_string());
    if (forbidden_in_h2(name, field.value())) continue;
    owned.emplace_back(std::move(name), std::string(field.value()));
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(owned.size());
  for (const auto& [name, value] : owned) nva.push_back(make_nv(name, value));
  nghttp2_submit_response(c.session, id, nva.data(), nva.size(), provider);
  c.poke();
}

// Sends `answer` on stream `id`: HEADERS, then DATA and trailers when there are any.
void submit(Conn& c, int32_t id, StreamState& s, Answer&& answer) {
  s.answered = true;
  s.body = std::move(answer.response.body());
  s.sent = 0;
  s.trailers = std::move(answer.trailers);
  nghttp2_data_provider provider{};
  provider.read_callback = read_body;
  const bool has_data = !s.body.empty() || !s.trailers.empty();
  submit_head(c, id, answer.response, has_data ? &provider : nullptr);
}

// The upstream's head came (HEADERS go out, DATA follows as it arrives), or more DATA, or its
// end.
void StreamState::response_ready() {
  if (auto head = pipe->take_head()) {
    nghttp2_data_provider provider{};
    provider.read_callback = read_streamed_body;
    // A trailers-only answer stays one HEADERS frame ending the stream.
    submit_head(conn, id, *head, pipe->head_only() ? nullptr : &provider);
    return;
  }
  nghttp2_session_resume_data(conn.session, id);
  conn.poke();
}

// A gateway-made answer to a gRPC call: HTTP 200, trailers-only, grpc-status from the HTTP
// status and grpc-message from the JSON body's message (or reason). Other headers the gateway
// set (WWW-Authenticate, Retry-After, x-gatedrill-reason, x-request-id) stay.
Answer grpc_error(Answer&& local) {
  const int status = local.response.result_int();
  std::string message;
  if (auto doc = parse_json_object(local.response.body())) {
    auto reason = json_string(*doc, "reason");
    auto text = json_string(*doc, "message");
    if (reason && *reason) message = **reason;
    if (text && *text) message += (message.empty() ? "" : ": ") + **text;
  }
  Answer out;
  out.response.result(http::status::ok);
  for (const auto& field : local.response) {
    if (field.name() == http::field::content_type || field.name() == http::field::content_length)
      continue;
    out.response.insert(field.name_string(), field.value());
  }
  out.response.set(http::field::content_type, "application/grpc");
  // The upstream client may have named the status already (a reset stream, a deadline).
  if (local.response.count("grpc-status") == 0)
    out.response.set("grpc-status", std::to_string(grpc_status_for_http(status)));
  out.response.set("grpc-message", grpc_percent_encode(message));
  return out;
}

Answer local_answer(int status, std::string_view reason, std::string_view message) {
  Answer a;
  a.response.result(static_cast<http::status>(status));
  a.response.set(http::field::content_type, "application/json");
  a.response.body() = local_reply_body(status, reason, message);
  a.response.prepare_payload();
  return a;
}

asio::awaitable<void> run_stream(std::shared_ptr<Conn> c, int32_t id, int64_t start_ns) {
  StreamState* s = c->stream(id);
  if (s == nullptr) co_return;
  Request request = std::move(s->request);
  const bool grpc = is_grpc_content_type(request[http::field::content_type]);
  std::shared_ptr<StreamPipe> pipe = s->pipe;  // the call's bytes, alive while it runs
  Answer answer = co_await c->handler(request, start_ns, pipe.get());
  s = c->stream(id);  // the client may have reset the stream meanwhile
  if (s != nullptr) {
    s->handling = false;
    if (pipe) s->call_done = true;
  }
  if (s == nullptr || c->writing_done) co_return;
  // What "keep-alive off" is for HTTP/1.1 (memory pressure) is a graceful GOAWAY for h2: the
  // streams already open finish, new ones go to a fresh connection, then this one closes.
  const bool drain = !answer.response.keep_alive();
  if (grpc && !answer.proxied) answer = grpc_error(std::move(answer));
  if (pipe && pipe->responded()) {
    // The upstream's head went out and its DATA streamed: a failure after it (deadline,
    // connection lost) ends the call with trailers, unless the upstream's own reset or end did.
    if (!answer.proxied) {
      HeaderList trailers;
      for (const char* name : {"grpc-status", "grpc-message"})
        if (auto value = answer.response[name]; !value.empty())
          trailers.emplace_back(name, std::string(value));
      pipe->fail(std::move(trailers));
    }
  } else {
    submit(*c, id, *s, std::move(answer));
  }
  if (drain && !c->draining) {
    c->draining = true;
    nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->session), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    c->poke();
  }
}

// A stream refused while it was still arriving (headers or body over a limit).
void reject(Conn& c, int32_t id, StreamState& s) {
  const int64_t now = c.time.monotonic_ns();
  Answer answer = local_answer(*s.reject_status, s.reject_reason, s.reject_message);
  if (is_grpc_content_type(s.request[http::field::content_type]))
    answer = grpc_error(std::move(answer));
  if (c.on_reject) c.on_reject(*s.reject_status, s.reject_reason, now);
  submit(c, id, s, std::move(answer));
}

// A WebSocket tunnel quiet both ways this long gives back its pipe's drained buffers (up to a
// window per direction after a burst); at every drain a flowing tunnel would give them back
// and grow them again over and over.
constexpr int64_t kTrimAfterNs = 1'000'000'000;

// A frame moved on the stream, either way: its idle deadlines start again. A trimmed tunnel may
// fill its pipe again: the watch looks at it once it has been quiet for kTrimAfterNs.
void stamp(Conn& c, StreamState& s) {
  s.last_ns = c.now_ns;
  if (s.trimmed) {
    s.trimmed = false;
    if (c.watch_at_ns > c.now_ns + kTrimAfterNs) c.watch.cancel();
  }
}

// How long a stream may stay quiet both ways (0: forever): the stream idle timeout; for a
// WebSocket tunnel the connection idle timeout when that is shorter, since that is what ends a
// quiet HTTP/1.1 tunnel, so a WebSocket idles out alike over either protocol.
int64_t idle_limit_ns(const Conn& c, const StreamState& s) {
  const int64_t stream_ns = std::chrono::nanoseconds(c.limits.stream_idle_timeout).count();
  if (!s.tunnel) return stream_ns;
  const int64_t tunnel_ns = std::chrono::nanoseconds(c.limits.idle_timeout).count();
  return stream_ns > 0 && stream_ns < tunnel_ns ? stream_ns : tunnel_ns;
}

// Hands a stream to the handler now, with a pipe for its DATA both ways (a gRPC call, a
// WebSocket tunnel): the handler runs while the stream does.
void start_streamed(Conn& c, int32_t id, StreamState& s, bool end_stream) {
  s.pipe = std::make_shared<StreamPipe>();
  s.pipe->attach(&s);
  if (end_stream) s.pipe->end_request();
  s.answered = true;
  s.handling = true;
  asio::co_spawn(c.executor, run_stream(c.shared_from_this(), id, c.time.monotonic_ns()),
                 asio::detached);
}

// An HTTP/2 CONNECT. With :protocol websocket (RFC 8441, extended CONNECT) it becomes the
// HTTP/1.1 form of a WebSocket handshake, as Envoy turns it for an HTTP/1.1 upstream: GET with
// Upgrade: websocket and Connection: Upgrade, without a Sec-WebSocket-Key (h2 does not use one;
// the gateway makes the upstream's). It then runs the filter chain like any request and its
// bytes flow through a pipe. A plain CONNECT (a TCP tunnel) or another protocol is refused on
// its stream with 501; the session and its other streams go on.
void start_connect(Conn& c, int32_t id, StreamState& s, bool end_stream) {
  if (!s.reject_status && !iequals(s.protocol, "websocket")) {
    s.reject_status = 501;
    if (s.protocol.empty()) {
      s.reject_reason = "connect_not_supported";
      s.reject_message =
          "CONNECT tunnels are not proxied; a WebSocket asks with :protocol websocket (RFC 8441)";
    } else {
      s.reject_reason = "unsupported_protocol";
      s.reject_message = "extended CONNECT for \"" + s.protocol.substr(0, 64) +
                         "\" is not proxied; only websocket is";
    }
  }
  if (s.reject_status) {
    reject(c, id, s);  // at once: a CONNECT does not end its stream to wait for an answer
    return;
  }
  s.tunnel = true;
  auto& request = s.request;
  request.method(http::verb::get);
  request.erase(http::field::sec_websocket_key);
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  const int64_t limit = idle_limit_ns(c, s);
  const int64_t look = limit > 0 ? std::min(limit, kTrimAfterNs) : kTrimAfterNs;
  if (c.watch_at_ns > c.now_ns + look) c.watch.cancel();  // the trim and the idle deadline
  start_streamed(c, id, s, end_stream);
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& c = *static_cast<Conn*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto s = std::make_unique<StreamState>(c, frame->hd.stream_id);
  s->request.version(11);
  s->last_ns = c.now_ns;
  c.streams[frame->hd.stream_id] = std::move(s);
  const int64_t stream_idle_ns = std::chrono::nanoseconds(c.limits.stream_idle_timeout).count();
  if (stream_idle_ns > 0 && c.watch_at_ns > c.now_ns + stream_idle_ns) c.watch.cancel();
  return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_data,
              size_t name_len, const uint8_t* value_data, size_t value_len, uint8_t, void* user) {
  auto& c = *static_cast<Conn*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  StreamState* s = c.stream(frame->hd.stream_id);
  if (s == nullptr || s->reject_status) return 0;
  std::string_view name(reinterpret_cast<const char*>(name_data), name_len);
  std::string_view value(reinterpret_cast<const char*>(value_data), value_len);
  s->header_bytes += name_len + value_len + 32;  // RFC 9113's header list size accounting
  if (s->header_bytes > c.limits.max_header_list_bytes) {
    s->reject_status = 431;
    s->reject_reason = "headers_too_large";
    s->reject_message =
        "request headers exceed " + std::to_string(c.limits.max_header_list_bytes) + " bytes";
    return 0;
  }
  if (!name.empty() && name[0] != ':' && ++s->header_count > c.limits.max_header_count) {
    s->reject_status = 431;
    s->reject_reason = "too_many_headers";
    s->reject_message = "more than " + std::to_string(c.limits.max_header_count) + " header fields";
    return 0;
  }
  auto& request = s->request;
  if (name == ":path" && value.size() > c.limits.max_uri_bytes) {
    s->reject_status = 414;
    s->reject_reason = "uri_too_long";
    s->reject_message =
        "request target exceeds " + std::to_string(c.limits.max_uri_bytes) + " bytes";
    return 0;
  }
  if (name == ":method") {
    request.method_string(value);
  } else if (name == ":path") {
    request.target(value);
  } else if (name == ":authority") {
    request.set(http::field::host, value);
    s->has_authority = true;
  } else if (name == ":protocol") {
    s->protocol = value;  // nghttp2 let it through only on a CONNECT (RFC 8441 section 4)
  } else if (!name.empty() && name[0] == ':') {
    // :scheme: nghttp2 already checked it.
  } else if (name == "host") {
    if (!s->has_authority) request.set(http::field::host, value);
  } else if (name == "cookie" && request.count(http::field::cookie) > 0) {
    // h2 may split cookies into several fields; HTTP/1.1 wants one (RFC 9113 section 8.2.3).
    request.set(http::field::cookie,
                std::string(request[http::field::cookie]) + "; " + std::string(value));
  } else {
    request.insert(name, value);
  }
  return 0;
}

int on_data_chunk(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                  void* user) {
  auto& c = *static_cast<Conn*>(user);
  // Windows are opened by hand: the connection's at once (a stalled stream must not stall the
  // others), a stream's once its bytes moved on (a streamed call's when they went upstream).
  nghttp2_session_consume_connection(session, len);
  StreamState* s = c.stream(id);
  if (s != nullptr && s->pipe && !s->call_done) {
    s->pipe->put_request(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  nghttp2_session_consume_stream(session, id, len);
  if (s == nullptr || s->answered) return 0;
  if (s->reject_status) return 0;
  auto& body = s->request.body();
  if (body.size() + len > c.limits.max_body_bytes) {
    s->reject_status = 413;
    s->reject_reason = "body_too_large";
    s->reject_message =
        "request body exceeds " + std::to_string(c.limits.max_body_bytes) + " bytes";
    body.clear();
    reject(c, id, *s);  // answer now; nghttp2 resets the rest of the upload
    return 0;
  }
  body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& c = *static_cast<Conn*>(user);
  if (frame->hd.stream_id != 0)
    if (StreamState* s = c.stream(frame->hd.stream_id)) stamp(c, *s);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
      const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      StreamState* s = c.stream(frame->hd.stream_id);
      if (s != nullptr && s->pipe) {
        if (end_stream) s->pipe->end_request();
        return 0;
      }
      const bool request_head = s != nullptr && !s->answered && frame->hd.type == NGHTTP2_HEADERS &&
                                frame->headers.cat == NGHTTP2_HCAT_REQUEST;
      if (request_head && s->request.method() == http::verb::connect) {
        start_connect(c, frame->hd.stream_id, *s, end_stream);
        return 0;
      }
      if (request_head && !s->reject_status &&
          is_grpc_content_type(s->request[http::field::content_type])) {
        // A gRPC call goes now: its DATA follows through the pipe as it arrives.
        start_streamed(c, frame->hd.stream_id, *s, end_stream);
        return 0;
      }
      if (!end_stream) return 0;
      if (s == nullptr || s->answered) return 0;
      if (s->reject_status) {
        reject(c, frame->hd.stream_id, *s);
        return 0;
      }
      s->request.prepare_payload();
      s->answered = true;  // handed over; the handler's answer comes later
      s->handling = true;
      asio::co_spawn(c.executor,
                     run_stream(c.shared_from_this(), frame->hd.stream_id, c.time.monotonic_ns()),
                     asio::detached);
      return 0;
    }
    case NGHTTP2_RST_STREAM: {
      // Rapid reset (CVE-2023-44487): streams opened and cancelled at once cost the gateway work
      // (filter chain, upstream) while never counting against the concurrent-stream limit.
      const int64_t now = c.time.monotonic_ns();
      if (now - c.reset_window_start_ns >= 1'000'000'000) {
        c.reset_window_start_ns = now;
        c.resets_in_window = 0;
      }
      if (++c.resets_in_window > c.limits.max_resets_per_second && !c.flood) {
        c.flood = true;
        c.event("goaway_flood");
        nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM);
      }
      return 0;
    }
    default:
      return 0;
  }
}

int on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  auto& c = *static_cast<Conn*>(user);
  if (error_code == NGHTTP2_REFUSED_STREAM) c.event("refused_stream");
  // A streamed call still running loses its client (a reset, a cancel): the upstream's stream
  // is cancelled too.
  if (StreamState* s = c.stream(id); s != nullptr && s->pipe && !s->call_done)
    s->pipe->client_gone();
  c.streams.erase(id);
  if (c.streams.empty()) c.idle_since_ns = c.now_ns;  // the connection's idle time starts
  return 0;
}

// Frames sent on a stream (its answer's HEADERS, DATA, trailers) count as its activity. A
// refusal (413, 431, 408, ...) that ended the stream while the request was still arriving, or
// the end of a WebSocket tunnel (refused, or the upstream closed) while the client's side is
// open, is followed by RST_STREAM NO_ERROR: the client stops sending (RFC 9113 section 8.1).
int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& c = *static_cast<Conn*>(user);
  if (frame->hd.stream_id == 0) return 0;
  StreamState* s = c.stream(frame->hd.stream_id);
  if (s == nullptr) return 0;
  stamp(c, *s);
  if ((s->reject_status || s->tunnel) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
      (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  return 0;
}

bool start_session(Conn& c) {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  nghttp2_option_set_no_auto_window_update(option, 1);  // on_data_chunk opens the windows
  const int rv = nghttp2_session_server_new2(&c.session, callbacks, &c, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return false;
  const uint32_t header_list =
      static_cast<uint32_t>(std::min<size_t>(c.limits.max_header_list_bytes, UINT32_MAX));
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c.limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, header_list},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // WebSockets over h2 (RFC 8441)
  };
  if (nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0)
    return false;
  // The connection's window is opened as bytes arrive; a large one keeps it out of the way.
  return nghttp2_session_set_local_window_size(c.session, NGHTTP2_FLAG_NONE, 0,
                                               kConnectionWindow) == 0;
}

// A stream on which no frame moved either way for the stream idle timeout. A running gRPC call
// ends through its pipe (the upstream's stream cancelled, grpc-status 4 to the client); a
// request still arriving gets 408; an answer the client does not take is reset. A request
// waiting on its HTTP/1.1 upstream is left to the cluster's timeout. Whatever is still open a
// whole period later is reset.
void expire_stream(Conn& c, int32_t id, StreamState& s) {
  if (s.handling && !s.pipe) {
    s.last_ns = c.now_ns;
    return;
  }
  c.event("stream_idle_timeout");
  s.last_ns = c.now_ns;  // a whole period for what follows (trailers, the 408) to go out
  if (s.pipe && !s.call_done && !s.idle_expired) {
    s.idle_expired = true;
    s.pipe->expire_idle();
  } else if (!s.answered) {
    if (!s.reject_status) {
      s.reject_status = 408;
      s.reject_reason = "stream_idle_timeout";
      s.reject_message = "the request did not arrive within the stream idle timeout";
    }
    reject(c, id, s);
  } else {
    nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    c.poke();
  }
}

// The connection's idle deadlines: with no stream open for the idle timeout it says GOAWAY
// (NO_ERROR) and closes once that went out (Envoy's idle_timeout: open streams, however quiet,
// keep it); each stream has its stream idle deadline. Frames only stamp their stream, so one
// timer sleeps until the earliest deadline and this looks again; with streams open it looks at
// least once per idle timeout, which is when the connection's own idle time may have begun.
// A plain completion handler rather than a coroutine: an idle connection holds a timer wait,
// not a coroutine frame.
void watch(const std::shared_ptr<Conn>& c) {
  if (c->writing_done) return;
  const int64_t idle_ns = std::chrono::nanoseconds(c->limits.idle_timeout).count();
  const int64_t now = c->time.monotonic_ns();
  int64_t next = now + idle_ns;
  if (c->streams.empty()) {
    next = c->idle_since_ns + idle_ns;
    if (now >= next) {
      c->event("idle_timeout");
      nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
      c->poke();
      return;
    }
  } else {
    c->now_ns = now;
    // Ending a stream only submits frames (nghttp2 calls back when they are sent), so the map
    // does not change under this loop.
    for (const auto& [id, s] : c->streams) {
      if (s->tunnel && s->pipe && !s->trimmed) {
        if (s->last_ns + kTrimAfterNs <= now) {
          const size_t held = s->pipe->buffer_capacity();
          s->pipe->trim();
          if (s->pipe->buffer_capacity() < held) c->event("tunnel_trim");
          s->trimmed = true;
        } else {
          next = std::min(next, s->last_ns + kTrimAfterNs);
        }
      }
      const int64_t limit = idle_limit_ns(*c, *s);
      if (limit == 0) continue;
      if (s->last_ns + limit <= now) expire_stream(*c, id, *s);
      next = std::min(next, s->last_ns + limit);
    }
  }
  c->watch_at_ns = next;
  c->watch.expires_after(std::chrono::nanoseconds(next - now));
  c->watch.async_wait([c](const boost::system::error_code&) { watch(c); });
}

template <class Stream>
asio::awaitable<void> read_loop(Stream& stream, std::shared_ptr<Conn> c,
                                beast::flat_buffer buffer) {
  for (;;) {
    if (buffer.size() > 0) {
      c->now_ns = c->time.monotonic_ns();
      const auto* data = static_cast<const uint8_t*>(buffer.data().data());
      const ssize_t used = nghttp2_session_mem_recv(c->session, data, buffer.size());
      if (used < 0) {
        // Bad preface, a flood nghttp2 caught (control frames, CONTINUATION), a broken frame:
        // say why in a GOAWAY (the writer flushes it), then stop reading.
        c->event("protocol_error");
        const bool flood =
            used == NGHTTP2_ERR_FLOODED || used == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
        nghttp2_session_terminate_session(
            c->session, flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
        c->poke();
        break;
      }
      buffer.consume(static_cast<size_t>(used));
      c->poke();
    }
    if (c->finished() || c->writing_done) break;
    // No read deadline: watch() judges idleness (the connection's only while no stream is
    // open, so a long call on a quiet client is not cut); the writer has its own deadline.
    beast::get_lowest_layer(stream).expires_never();
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      // Frames already there are read at once; an idle connection holds no 16 KB read buffer.
      if (co_await read_or_wait(stream, buffer, 16 * 1024)) break;
    } else {
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(16 * 1024), kNoThrow);
      if (ec) break;  // client gone, idle timeout, or the writer ended the session
      buffer.commit(n);
    }
  }
  c->reading_done = true;
  c->poke();
}

template <class Stream>
asio::awaitable<void> write_loop(Stream& stream, std::shared_ptr<Conn> c) {
  std::string out;
  for (;;) {
    out.clear();
    c->now_ns = c->time.monotonic_ns();
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(c->session, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      if (out.size() >= kWriteBatch) break;
    }
    if (!out.empty()) {
      beast::get_lowest_layer(stream).expires_after(c->limits.write_timeout);
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kNoThrow);
      (void)n;
      if (ec) break;
      continue;
    }
    if (c->reading_done || c->finished()) break;
    c->wake.expires_at(asio::steady_timer::time_point::max());
    co_await c->wake.async_wait(kNoThrow);
  }
  c->writing_done = true;
  c->watch.cancel();
  if (!c->reading_done) {
    // Session over (GOAWAY sent) or the client stopped reading: end the pending read too.
    beast::error_code ec;
    beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  }
}

}  // namespace

template <class Stream>
asio::awaitable<void> serve(Stream& stream, beast::flat_buffer initial, const Limits& limits,
                            const TimeSource& time, Handler handler, EventHook on_event,
                            RejectHook on_reject) {
  auto executor = co_await asio::this_coro::executor;
  auto c = std::make_shared<Conn>(executor, limits, time, std::move(handler), std::move(on_event),
                                  std::move(on_reject));
  if (!start_session(*c)) co_return;
  c->event("connection");
  c->idle_since_ns = time.monotonic_ns();
  watch(c);
  using namespace asio::experimental::awaitable_operators;
  co_await (read_loop(stream, c, std::move(initial)) && write_loop(stream, c));
  // Streams still waiting on the upstream hold `c`; their answers go nowhere (writing_done).
  // Streamed calls lose their client: their upstream streams are cancelled.
  for (auto& [id, s] : c->streams)
    if (s->pipe && !s->call_done) s->pipe->client_gone();
}

template asio::awaitable<void> serve<beast::tcp_stream>(beast::tcp_stream&, beast::flat_buffer,
                                                        const Limits&, const TimeSource&, Handler,
                                                        EventHook, RejectHook);
template asio::awaitable<void> serve<TlsStream>(TlsStream&, beast::flat_buffer, const Limits&,
                                                const TimeSource&, Handler, EventHook, RejectHook);

}  // namespace gatedrill::gateway::h2

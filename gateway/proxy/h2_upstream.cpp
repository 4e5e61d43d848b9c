#include "gateway/proxy/h2_upstream.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "core/util/strings.hpp"
#include "gateway/server/stream_pipe.hpp"

namespace gatedrill::gateway::h2 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr int32_t kConnectionWindow = 4 << 20;

}  // namespace

class H2Connection;

namespace {

// One call's stream and the upstream end of its pipe. The connection's callbacks fill it and
// wake its waiter (`event` is cancelled); it lives in the calling coroutine's frame and leaves
// the connection before that returns.
struct CallState final : StreamPipe::UpstreamEnd {
  CallState(const asio::any_io_executor& ex, StreamPipe& p) : event(ex), pipe(p) {
    pipe.attach(this);
  }
  ~CallState() { pipe.detach(this); }
  CallState(const CallState&) = delete;
  CallState& operator=(const CallState&) = delete;

  void request_ready() override;
  void response_taken(size_t bytes) override;
  void client_gone() override {
    gone = true;
    wake();
  }
  void idle_expired() override {
    idle = true;
    wake();
  }

  asio::steady_timer event;
  StreamPipe& pipe;
  H2Connection* conn = nullptr;  // while its stream is open there
  int32_t stream_id = -1;
  Answer answer;  // the head, then the trailers
  bool got_status = false;
  bool head = false;     // the final response HEADERS arrived
  bool ended = false;    // the upstream ended its stream (END_STREAM)
  bool sent = false;     // its HEADERS left: the upstream may have processed it
  bool closed = false;   // the stream ended (or the connection under it)
  bool refused = false;  // the upstream never processed it: safe to send again
  bool gone = false;     // the client left
  bool idle = false;     // nothing moved on the client's stream for its idle timeout
  uint32_t close_error = 0;
  uint64_t reads_at_submit = 0;         // the connection's reads when its stream opened
  std::optional<UpstreamCall> failure;  // the connection failed under it

  void reset() {
    conn = nullptr;
    stream_id = -1;
    answer = Answer{};
    got_status = head = ended = sent = closed = refused = false;
    close_error = 0;
    failure.reset();
  }
  void wake() { event.cancel(); }
};

UpstreamCall make_error(int status, std::string reason, std::string message, int grpc_status,
                        std::string kind) {
  UpstreamCall out;
  out.status = status;
  out.reason = std::move(reason);
  out.message = std::move(message);
  out.grpc_status = grpc_status;
  out.error_kind = std::move(kind);
  return out;
}

// nghttp2 gave up on the session (a protocol violation by the upstream, a broken frame).
UpstreamCall session_failure(ssize_t rv) {
  return make_error(502, "upstream_reset",
                    std::string("upstream HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(rv)),
                    kGrpcInternal, "protocol");
}

const char* h2_error_name(uint32_t code) {
  return nghttp2_http2_strerror(code);
}

}  // namespace

// A multiplexed connection: a reader and a writer coroutine over the transport, the nghttp2
// client session between them, and the calls on its streams.
class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  enum class State { kConnecting, kReady, kDraining, kClosed };

  H2Connection(const asio::any_io_executor& ex, H2Pool* pool, size_t max_idle,
               std::chrono::milliseconds ping_timeout)
      : kick_(ex), pool_(pool), max_idle_(max_idle), ping_timeout_(ping_timeout) {}
  ~H2Connection() {
    if (session_) nghttp2_session_del(session_);
  }
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  State state() const { return state_; }
  bool connect_failed() const { return connect_failed_; }
  const UpstreamCall& connect_error() const { return connect_error_; }
  // Streams open or promised to calls waiting for the connect.
  size_t load() const { return streams_.size() + reserved_; }
  bool idle() const { return state_ == State::kReady && load() == 0; }
  size_t capacity(size_t cap) const {
    if (!session_) return cap;
    return std::min<size_t>(cap, nghttp2_session_get_remote_settings(
                                     session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
  }
  void detach_pool() { pool_ = nullptr; }

  // A call waiting for the connect to finish (it holds a stream's place meanwhile).
  void wait_ready(CallState& call) {
    ++reserved_;
    waiting_.push_back(&call);
  }
  void stop_waiting(CallState& call) {
    --reserved_;
    std::erase(waiting_, &call);
  }
  void reserve() { ++reserved_; }
  void unreserve() { --reserved_; }

  void fail_connect(const UpstreamCall& error) {
    connect_failed_ = true;
    connect_error_ = error;
    state_ = State::kClosed;
    if (pool_) pool_->remove(this);
    wake_waiting();
  }

  // Takes over the transport: the client session (SETTINGS queued), the reader and the writer.
  bool start(Transport transport) {
    plain_ = std::move(transport.plain);
    tls_ = std::move(transport.tls);
    slot_ = std::move(transport.slot);
    lowest().expires_never();  // calls have their own deadlines; an idle connection may stay
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, on_frame_not_send);
    nghttp2_option* option = nullptr;
    int rv = nghttp2_option_new(&option);
    if (rv == 0) {
      nghttp2_option_set_no_auto_window_update(option, 1);  // on_data opens the windows
      rv = nghttp2_session_client_new2(&session_, callbacks, this, option);
      nghttp2_option_del(option);
    }
    nghttp2_session_callbacks_del(callbacks);
    if (rv != 0) {
      session_ = nullptr;
      fail_connect(make_error(502, "upstream_reset", "cannot start an HTTP/2 session",
                              kGrpcInternal, "protocol"));
      return false;
    }
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    // The connection's window is opened as bytes arrive; a large one keeps it out of the way.
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    state_ = State::kReady;
    auto self = shared_from_this();
    asio::co_spawn(kick_.get_executor(), read_loop(self), asio::detached);
    asio::co_spawn(kick_.get_executor(), write_loop(self), asio::detached);
    wake_waiting();
    return true;
  }

  // Opens the call's stream; false when the session takes no new stream (GOAWAY came first).
  bool submit(CallState& call, const std::vector<nghttp2_nv>& nva) {
    nghttp2_data_provider provider{};
    provider.read_callback = read_request_body;
    const int32_t id =
        nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                               call.pipe.empty_request() ? nullptr : &provider, nullptr);
    if (id < 0) return false;
    call.conn = this;
    call.stream_id = id;
    call.reads_at_submit = reads_;
    streams_[id] = &call;
    kick();
    return true;
  }
  // More of the call's request to send.
  void resume(int32_t id) {
    if (state_ == State::kClosed) return;
    nghttp2_session_resume_data(session_, id);
    kick();
  }
  // The client took `bytes` of the stream's response: the upstream may send as many more.
  void consume(int32_t id, size_t bytes) {
    if (state_ == State::kClosed) return;
    nghttp2_session_consume_stream(session_, id, bytes);
    kick();
  }

  // The call gives up on its stream (its deadline passed): RST_STREAM CANCEL, nothing more of
  // it reaches the call. A connection that stayed silent for the whole call gets a PING.
  void cancel(CallState& call) {
    if (state_ == State::kReady && reads_ == call.reads_at_submit) probe();
    if (!forget(call)) return;
    if (state_ != State::kClosed) {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, call.stream_id, NGHTTP2_CANCEL);
      kick();
    }
  }
  // The call is done with the connection.
  bool forget(CallState& call) {
    auto it = streams_.find(call.stream_id);
    if (it == streams_.end() || it->second != &call) return false;
    streams_.erase(it);
    after_stream();
    return true;
  }

 private:
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  void kick() { kick_.cancel(); }

  void wake_waiting() {
    for (CallState* call : waiting_) call->wake();
  }

  CallState* find(int32_t id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second;
  }

  // A PING; when nothing at all arrives within the ping timeout the connection may be
  // black-holed: it takes no new calls and closes once its streams are gone (without a GOAWAY:
  // a peer that reads nothing could leave that write pending forever).
  void probe() {
    if (probing_) return;
    probing_ = true;
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    kick();
    asio::co_spawn(kick_.get_executor(), probe_wait(shared_from_this(), reads_), asio::detached);
  }
  static asio::awaitable<void> probe_wait(std::shared_ptr<H2Connection> self, uint64_t reads) {
    asio::steady_timer timer(self->kick_.get_executor());
    timer.expires_after(self->ping_timeout_);
    co_await timer.async_wait(kNoThrow);
    self->probing_ = false;
    if (self->state_ != State::kReady || self->reads_ != reads) co_return;
    self->state_ = State::kDraining;
    self->silent_ = true;
    if (self->pool_) self->pool_->remove(self.get());
    self->after_stream();
  }

  // A stream left: a silent connection out of the pool closes once it has none; an idle
  // connection beyond the pool's idle allowance says GOAWAY and closes.
  void after_stream() {
    if (state_ == State::kDraining && silent_ && streams_.empty()) {
      close(make_error(502, "upstream_reset", "upstream connection silent (no PING answer)",
                       kGrpcUnavailable, "protocol"));
      return;
    }
    if (state_ == State::kReady && load() == 0 && pool_ && pool_->idle() > max_idle_) {
      state_ = State::kDraining;
      pool_->remove(this);
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      kick();
    }
  }

  // The connection is gone: every call still on it fails with `why` (a call whose HEADERS
  // never left is refused: it may go to another connection).
  void close(const UpstreamCall& why) {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    if (pool_) pool_->remove(this);
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, call] : streams) {
      call->closed = true;
      call->refused = !call->sent;
      call->failure = why;
      call->wake();
    }
    beast::error_code ec;
    lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
    kick();
    slot_.reset();  // the cluster's connection count
  }

  UpstreamCall io_failure(const beast::error_code& ec) const {
    // With TLS 1.3 the client's handshake completes before the server judged the client
    // certificate: a refusal arrives as an alert on the first read.
    if (tls_ && reads_ == 0 && ec.category() == asio::error::get_ssl_category())
      return make_error(502, "upstream_tls_error",
                        "upstream refused the TLS session: " + ec.message(), kGrpcUnavailable,
                        "tls");
    return make_error(502, "upstream_reset", "upstream connection lost: " + ec.message(),
                      kGrpcUnavailable, "protocol");
  }

  bool finished() const {
    return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
  }

  static asio::awaitable<void> read_loop(std::shared_ptr<H2Connection> self) {
    beast::flat_buffer buffer;
    while (self->state_ != State::kClosed) {
      auto [ec, n] =
          self->tls_ ? co_await self->tls_->async_read_some(buffer.prepare(16 * 1024), kNoThrow)
                     : co_await self->plain_->async_read_some(buffer.prepare(16 * 1024), kNoThrow);
      if (self->state_ == State::kClosed) co_return;
      if (ec) {
        self->close(self->io_failure(ec));
        co_return;
      }
      ++self->reads_;
      buffer.commit(n);
      const ssize_t used = nghttp2_session_mem_recv(
          self->session_, static_cast<const uint8_t*>(buffer.data().data()), buffer.size());
      if (used < 0) {
        self->close(session_failure(used));
        co_return;
      }
      buffer.consume(static_cast<size_t>(used));
      self->kick();  // SETTINGS/PING acks, WINDOW_UPDATEs, RST_STREAMs
    }
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<H2Connection> self) {
    std::string out;
    while (self->state_ != State::kClosed) {
      out.clear();
      for (;;) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(self->session_, &data);
        if (n < 0) {
          self->close(session_failure(n));
          co_return;
        }
        if (n == 0) break;
        out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        if (out.size() >= 64 * 1024) break;
      }
      if (out.empty()) {
        if (self->finished()) {  // GOAWAY both ways and no stream left
          self->close(make_error(503, "upstream_refused", "upstream connection closed",
                                 kGrpcUnavailable, "protocol"));
          co_return;
        }
        self->kick_.expires_at(asio::steady_timer::time_point::max());
        co_await self->kick_.async_wait(kNoThrow);
        continue;
      }
      auto [ec, n] = self->tls_
                         ? co_await asio::async_write(*self->tls_, asio::buffer(out), kNoThrow)
                         : co_await asio::async_write(*self->plain_, asio::buffer(out), kNoThrow);
      (void)n;
      if (ec) {
        self->close(self->io_failure(ec));
        co_return;
      }
    }
  }

  static H2Connection& of(void* user) { return *static_cast<H2Connection*>(user); }
  friend struct CallState;

  // The client's DATA as it arrives (deferred while there is none).
  static ssize_t read_request_body(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                                   uint32_t* flags, nghttp2_data_source*, void* user) {
    CallState* call = of(user).find(id);
    if (call == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    bool end = false;
    const size_t n = call->pipe.take_request(reinterpret_cast<char*>(buf), length, &end);
    if (n == 0 && !end) return NGHTTP2_ERR_DEFERRED;
    if (end) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_data,
                       size_t name_len, const uint8_t* value_data, size_t value_len, uint8_t,
                       void* user) {
    CallState* call = of(user).find(frame->hd.stream_id);
    if (call == nullptr) return 0;  // a stream its call gave up on
    std::string_view name(reinterpret_cast<const char*>(name_data), name_len);
    std::string_view value(reinterpret_cast<const char*>(value_data), value_len);
    if (name == ":status") {
      int status = 0;
      for (char c : value) status = status * 10 + (c - '0');
      if (status >= 200) {  // a 1xx is informational: the final status comes later
        call->answer.response.result(static_cast<http::status>(status));
        call->got_status = true;
      }
      return 0;
    }
    if (!name.empty() && name[0] == ':') return 0;
    // Headers after the final response headers (a HEADERS frame ending the stream) are trailers.
    if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && call->got_status)
      call->answer.trailers.emplace_back(std::string(name), std::string(value));
    else if (call->got_status)
      call->answer.response.insert(name, value);
    return 0;
  }

  // Windows are opened by hand: the connection's at once (a stalled call must not stall the
  // others), a stream's once the client took the bytes (StreamPipe::take_response).
  static int on_data(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                     void* user) {
    nghttp2_session_consume_connection(session, len);
    CallState* call = of(user).find(id);
    if (call == nullptr) {
      nghttp2_session_consume_stream(session, id, len);
      return 0;
    }
    call->pipe.put_response(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
    auto& conn = of(user);
    CallState* call = conn.find(id);
    if (call == nullptr) return 0;
    call->closed = true;
    call->close_error = error_code;
    // RST_STREAM REFUSED_STREAM, or a GOAWAY whose last-stream-id is below it (RFC 9113 8.7).
    call->refused = error_code == NGHTTP2_REFUSED_STREAM && !call->got_status;
    conn.streams_.erase(id);
    call->wake();
    conn.after_stream();
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& conn = of(user);
    if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) {
      CallState* call = conn.find(frame->hd.stream_id);
      if (call == nullptr) return 0;
      if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE &&
          call->got_status) {
        call->head = true;  // the call's coroutine sends it on
        call->wake();
      }
      if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
        call->ended = true;
        call->pipe.end_response(std::move(call->answer.trailers));
      }
      return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY && conn.state_ == State::kReady) {
      // No new stream here; the ones at or below last-stream-id finish (the others nghttp2
      // closes as refused right after this callback).
      conn.state_ = State::kDraining;
      if (conn.pool_) conn.pool_->remove(&conn);
    }
    return 0;
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (CallState* call = of(user).find(frame->hd.stream_id)) call->sent = true;
    return 0;
  }

  // A request whose HEADERS could not go (a GOAWAY arrived while it was queued): never seen
  // by the upstream.
  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto& conn = of(user);
    CallState* call = conn.find(frame->hd.stream_id);
    if (call == nullptr) return 0;
    call->closed = true;
    call->refused = true;
    conn.streams_.erase(frame->hd.stream_id);
    call->wake();
    conn.after_stream();
    return 0;
  }

  asio::steady_timer kick_;  // the writer waits on it for frames to send
  H2Pool* pool_;
  size_t max_idle_;
  std::chrono::milliseconds ping_timeout_;
  bool probing_ = false;
  State state_ = State::kConnecting;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::shared_ptr<void> slot_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, CallState*> streams_;
  std::vector<CallState*> waiting_;
  size_t reserved_ = 0;
  uint64_t reads_ = 0;
  bool silent_ = false;  // drained for silence, not by a GOAWAY
  bool connect_failed_ = false;
  UpstreamCall connect_error_;
};

namespace {

void CallState::request_ready() {
  if (conn) conn->resume(stream_id);
}

void CallState::response_taken(size_t bytes) {
  if (conn) conn->consume(stream_id, bytes);
}

}  // namespace

H2Pool::H2Pool() = default;
H2Pool::~H2Pool() {
  clear();
}
void H2Pool::clear() {
  for (auto& conn : conns_) conn->detach_pool();
  conns_.clear();
}

std::shared_ptr<H2Connection> H2Pool::pick(size_t max_streams) const {
  for (const auto& conn : conns_) {
    const auto state = conn->state();
    if ((state == H2Connection::State::kReady || state == H2Connection::State::kConnecting) &&
        conn->load() < conn->capacity(max_streams))
      return conn;
  }
  return nullptr;
}

size_t H2Pool::idle() const {
  return static_cast<size_t>(
      std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->idle(); }));
}

void H2Pool::remove(const H2Connection* conn) {
  std::erase_if(conns_, [conn](const auto& c) { return c.get() == conn; });
}

std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  using namespace std::chrono;
  switch (value.back()) {
    case 'H':
      return hours(n);
    case 'M':
      return minutes(n);
    case 'S':
      return seconds(n);
    case 'm':
      return milliseconds(n);
    case 'u':
      return microseconds(n);
    case 'n':
      return nanoseconds(n);
    default:
      return std::nullopt;
  }
}

int grpc_status_for_reset(uint32_t h2_error) {
  switch (h2_error) {
    case NGHTTP2_REFUSED_STREAM:
      return kGrpcUnavailable;
    case NGHTTP2_CANCEL:
      return kGrpcCancelled;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return kGrpcResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY:
      return kGrpcPermissionDenied;
    default:
      return kGrpcInternal;
  }
}

namespace {

// Waits on the call's event until `done` holds or the deadline passes; false: the deadline.
template <class Done>
asio::awaitable<bool> wait_for(CallState& call, const asio::steady_timer& deadline, Done done) {
  while (!done()) {
    call.event.expires_at(deadline.expiry());
    auto [ec] = co_await call.event.async_wait(kNoThrow);
    if (!ec && !done()) co_return false;
  }
  co_return true;
}

}  // namespace

// GCC 12 misreads this coroutine's frame allocation (Asio's operator new/delete pair) as
// mismatched; a false positive of its -Wmismatched-new-delete on coroutine frames.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<UpstreamCall> call_h2(H2Pool& pool, const Connector& connect,
                                      const Request& request, StreamPipe& pipe,
                                      const UpstreamCallOptions& options) {
  const auto executor = co_await asio::this_coro::executor;
  // The call's deadline: the cluster's timeout, or the client's grpc-timeout when shorter.
  auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(options.timeout);
  if (auto grpc_timeout = parse_grpc_timeout(request["grpc-timeout"]))
    timeout = std::min(timeout, *grpc_timeout);
  asio::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  const auto timed_out = [] {
    return make_error(504, "upstream_timeout", "upstream request timeout", kGrpcDeadlineExceeded,
                      "timeout");
  };

  std::vector<std::pair<std::string, std::string>> owned = {
      {":method", std::string(request.method_string())},
      {":scheme", options.tls ? "https" : "http"},
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

  CallState call(executor, pipe);
  const auto client_cancelled = [] {
    UpstreamCall out =
        make_error(499, "client_cancelled", "the client cancelled the call", kGrpcCancelled, "");
    out.client_ended = true;
    return out;
  };
  // Nothing moved either way on the client's stream for the stream idle timeout: the call ends
  // like a deadline (grpc-status 4), counted as 408 stream_idle_timeout.
  const auto idle_timed_out = [] {
    UpstreamCall out = make_error(408, "stream_idle_timeout",
                                  "nothing moved either way on the stream for the stream idle "
                                  "timeout",
                                  kGrpcDeadlineExceeded, "");
    out.client_ended = true;
    return out;
  };
  // Sent at most twice: again (on another connection) only when the upstream never processed
  // the first attempt (refused stream, above a GOAWAY's last-stream-id, never sent) and the
  // request bytes that went are still there (StreamPipe::rewind_request).
  for (int attempt = 0; attempt < 2; ++attempt) {
    call.reset();
    if (pipe.client_left()) co_return client_cancelled();
    if (pipe.idle_expired()) co_return idle_timed_out();
    std::shared_ptr<H2Connection> conn = pool.pick(options.max_streams);
    if (!conn) {
      conn =
          std::make_shared<H2Connection>(executor, &pool, options.max_idle, options.ping_timeout);
      pool.conns_.push_back(conn);  // calls arriving meanwhile wait for this one
      conn->reserve();
      UpstreamCall error;
      Transport transport = co_await connect(error);
      conn->unreserve();
      if (!transport) {
        conn->fail_connect(error);
        co_return error;
      }
      if (!conn->start(std::move(transport))) co_return conn->connect_error();
    } else if (conn->state() == H2Connection::State::kConnecting) {
      conn->wait_ready(call);
      const bool ready = co_await wait_for(call, deadline, [&] {
        return call.idle || conn->state() != H2Connection::State::kConnecting;
      });
      conn->stop_waiting(call);
      if (!ready) co_return timed_out();
      if (call.idle) co_return idle_timed_out();
      if (conn->connect_failed()) co_return conn->connect_error();
      if (conn->state() != H2Connection::State::kReady) continue;
    }
    if (pipe.client_left()) co_return client_cancelled();
    if (pipe.idle_expired()) co_return idle_timed_out();
    if (!conn->submit(call, nva)) continue;
    // The head goes to the client as soon as it is there; DATA and trailers follow through the
    // pipe while this waits for the stream's end.
    bool forwarded = false;
    int status = 0;
    for (;;) {
      const bool in_time = co_await wait_for(call, deadline, [&] {
        return call.closed || call.gone || call.idle || (call.head && !forwarded);
      });
      if (!in_time) {
        conn->cancel(call);
        co_return timed_out();
      }
      if (call.idle && !call.closed) {
        conn->cancel(call);  // RST_STREAM CANCEL, as for a deadline
        co_return idle_timed_out();
      }
      if (call.gone && !call.closed) {
        conn->cancel(call);  // RST_STREAM CANCEL: the upstream stops working on it
        co_return client_cancelled();
      }
      if (call.head && !forwarded && (call.ended || !call.closed)) {
        forwarded = true;
        pipe.no_replay();
        status = call.answer.response.result_int();
        Response head = std::move(call.answer.response);
        if (options.edit_head) options.edit_head(head);
        pipe.respond(std::move(head));
      }
      if (call.closed) break;
    }
    // The connection failed under the call: sent again only when its HEADERS never left and
    // the upstream did not refuse the TLS session itself (that would only repeat).
    const bool again = call.refused && attempt == 0 && pipe.rewind_request();
    if (call.failure && (!again || call.failure->reason == "upstream_tls_error"))
      co_return *call.failure;
    if (again) continue;
    if (call.refused)
      co_return make_error(503, "upstream_refused",
                           attempt == 1
                               ? "upstream refused the stream twice (REFUSED_STREAM or GOAWAY)"
                               : "upstream refused the stream after more of the request went "
                                 "than is kept to send again",
                           kGrpcUnavailable, "protocol");
    if (!forwarded || !call.ended) {
      // Reset by the upstream. After the head went out the client's stream is reset with the
      // same code (as Envoy resets it), so a gRPC client maps it to the same status.
      if (forwarded) pipe.reset_client(call.close_error);
      co_return make_error(
          502, "upstream_reset",
          std::string("upstream reset the stream (") + h2_error_name(call.close_error) + ")",
          grpc_status_for_reset(call.close_error), "protocol");
    }
    UpstreamCall out;
    out.answer.emplace();
    out.answer->response.result(static_cast<http::status>(status));
    out.answer->proxied = true;
    co_return out;
  }
  co_return make_error(503, "upstream_refused", "upstream refused the stream (GOAWAY)",
                       kGrpcUnavailable, "protocol");
}
#pragma GCC diagnostic pop

}  // namespace gatedrill::gateway::h2

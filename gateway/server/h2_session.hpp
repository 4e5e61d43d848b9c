#pragma once
// HTTP/2 on one accepted connection (h2 after ALPN, or h2c with prior knowledge): an nghttp2
// server session in memory-I/O mode over the connection's Asio stream. Each complete stream is
// handed to the data plane's request handler (the same filter chain and upstream as HTTP/1.1)
// as a Beast request, and its answer is written back as HEADERS/DATA (and trailers). gRPC calls
// stream instead: handed over at their headers, their DATA and the answer's flow through a
// StreamPipe (server/stream_pipe) under HTTP/2 flow control. So do WebSockets (RFC 8441: the
// session advertises SETTINGS_ENABLE_CONNECT_PROTOCOL; a CONNECT with :protocol websocket is
// handed over as the HTTP/1.1 handshake, GET with Upgrade: websocket; any other CONNECT is 501).
// Internal to the data plane: only data_plane.cpp and h2_session.cpp include this header, so the
// Asio/Beast types here stay out of the widely included data_plane.hpp.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/http/http_message.hpp"
#include "core/time/time_source.hpp"

namespace gatedrill::gateway {
class TlsStream;
}

namespace gatedrill::gateway::h2 {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// The client connection preface of HTTP/2 (RFC 9113 section 3.4).
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Connection-specific fields HTTP/2 forbids (RFC 9113 section 8.2.2), by lower-case name; TE
// is allowed only as "trailers".
bool forbidden_in_h2(std::string_view lower_name, std::string_view value);

// One answered stream. `trailers` are sent after the body (gRPC's grpc-status); `proxied` is
// false for answers the gateway made itself (those become grpc-status answers for gRPC).
struct Answer {
  Response response;
  HeaderList trailers;
  bool proxied = false;
};

class StreamPipe;

// The request as the client sent it on its stream (pseudo-headers mapped: :method, :path,
// :authority -> Host) and the monotonic time its end arrived. A gRPC call is handed over as
// soon as its headers are there, with an empty body and `pipe`: its DATA flows through the pipe
// both ways while the call runs (nullptr for other requests); a WebSocket likewise.
using Handler = std::function<boost::asio::awaitable<Answer>(Request& request, int64_t start_ns,
                                                             StreamPipe* pipe)>;

struct Limits {
  uint32_t max_concurrent_streams = 100;     // SETTINGS_MAX_CONCURRENT_STREAMS
  size_t max_uri_bytes = 8 * 1024;           // :path; longer -> 414
  size_t max_header_list_bytes = 16 * 1024;  // SETTINGS_MAX_HEADER_LIST_SIZE; more -> 431
  size_t max_header_count = 100;             // more -> 431
  size_t max_body_bytes = 1 << 20;           // more -> 413
  int max_resets_per_second = 100;  // RST_STREAM from the client; more -> GOAWAY ENHANCE_YOUR_CALM
  // Counts only while the connection has no open stream (Envoy's idle_timeout): then GOAWAY.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // A stream on which no frame moved either way this long ends (Envoy's stream_idle_timeout):
  // a running gRPC call with grpc-status 4, a request still arriving with 408, an answer the
  // client stopped taking with RST_STREAM CANCEL. 0: off. A WebSocket tunnel's limit is
  // idle_timeout when that is shorter (the HTTP/1.1 tunnel's rule); it ends with RST_STREAM CANCEL.
  std::chrono::milliseconds stream_idle_timeout{std::chrono::minutes(5)};
  // A batch of frames (up to 64 KB) that does not go out to the client within this ends the
  // session: a client that stops reading cannot pin the connection's memory.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
};

// Connection-level events for metrics: "connection", "goaway_flood", "protocol_error",
// "refused_stream", "idle_timeout" (GOAWAY after the idle timeout), "stream_idle_timeout".
using EventHook = std::function<void(std::string_view kind)>;
// Streams refused before reaching the handler (431/413 on a stream), counted like h1 answers.
using RejectHook = std::function<void(int status, std::string_view reason, int64_t start_ns)>;

// Serves HTTP/2 until the client goes away, the idle timeout passes with no open stream (GOAWAY
// NO_ERROR, then close), or the session ends (GOAWAY). `initial` holds bytes already read (the
// preface, for h2c detection).
template <class Stream>
boost::asio::awaitable<void> serve(Stream& stream, boost::beast::flat_buffer initial,
                                   const Limits& limits, const TimeSource& time, Handler handler,
                                   EventHook on_event, RejectHook on_reject);

extern template boost::asio::awaitable<void> serve<boost::beast::tcp_stream>(
    boost::beast::tcp_stream&, boost::beast::flat_buffer, const Limits&, const TimeSource&, Handler,
    EventHook, RejectHook);
extern template boost::asio::awaitable<void> serve<TlsStream>(TlsStream&, boost::beast::flat_buffer,
                                                              const Limits&, const TimeSource&,
                                                              Handler, EventHook, RejectHook);

}  // namespace gatedrill::gateway::h2

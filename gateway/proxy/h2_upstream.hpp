#pragma once
// The HTTP/2 upstream client the gateway proxies gRPC with: per worker thread and endpoint a pool
// of multiplexed h2 connections (h2c with prior knowledge, or TLS with ALPN "h2"), like Envoy's
// h2 connection pools. A call takes a stream on a connection with room (at most the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS and the configured cap; another connection is opened when all
// are full); a stream reset or a call timeout fails that call only; a GOAWAY drains the
// connection (streams above its last-stream-id, which the upstream never processed, are retried
// once on another connection); a lost connection fails the calls in flight.
// Internal to the data plane (Asio types): only data_plane.cpp and h2_upstream.cpp include it.
// "te: trailers" is always sent (gRPC servers require it).
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "gateway/server/h2_session.hpp"

namespace gatedrill::gateway::h2 {

// gRPC status codes the upstream client answers with itself.
inline constexpr int kGrpcCancelled = 1;
inline constexpr int kGrpcDeadlineExceeded = 4;
inline constexpr int kGrpcPermissionDenied = 7;
inline constexpr int kGrpcResourceExhausted = 8;
inline constexpr int kGrpcInternal = 13;
inline constexpr int kGrpcUnavailable = 14;

// The outcome of one call: the upstream's answer (headers, body, trailers), or the gateway's
// error: HTTP status and reason as for HTTP/1.1 (502 upstream_reset, 503 upstream_refused, 504
// upstream_timeout, or what the connector said), and the grpc-status a gRPC client gets.
struct UpstreamCall {
  std::optional<Answer> answer;
  int status = 502;
  std::string reason;
  std::string message;
  int grpc_status = kGrpcUnavailable;
  bool overflow = false;  // refused by a cluster limit before reaching the upstream
  // The call ended from the client's side (a cancel, its stream idle timeout): not the
  // upstream's failure.
  bool client_ended = false;
  std::string error_kind;  // for the upstream error metric: connect, timeout, protocol, tls
};

// A fresh connection to the endpoint, handed to the pool: the TCP stream, or the TLS stream whose
// handshake selected "h2"; `slot` counts it in its cluster and is released when it closes.
struct Transport {
  std::unique_ptr<boost::beast::tcp_stream> plain;
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls;
  std::shared_ptr<void> slot;
  explicit operator bool() const { return plain || tls; }
};

// Opens a connection (limits, TCP, TLS); on failure fills the call's error and returns none.
using Connector = std::function<boost::asio::awaitable<Transport>(UpstreamCall& error)>;

struct UpstreamCallOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // per call; grpc-timeout if shorter
  // The upstream's response head as the client gets it (the gateway's header edits).
  std::function<void(Response&)> edit_head;
  size_t max_streams = 100;  // per connection (the peer's SETTINGS may lower it)
  size_t max_idle = 64;      // connections without a stream kept open
  // A connection silent through a whole timed-out call gets a PING; unanswered this long, it
  // takes no new calls.
  std::chrono::milliseconds ping_timeout{std::chrono::seconds(2)};
  bool tls = false;  // :scheme https
};

class H2Connection;

// One endpoint's connections on one worker thread (never shared across threads).
class H2Pool {
 public:
  H2Pool();
  ~H2Pool();
  H2Pool(const H2Pool&) = delete;
  H2Pool& operator=(const H2Pool&) = delete;
  void clear();
  size_t size() const { return conns_.size(); }

 private:
  friend class H2Connection;
  friend boost::asio::awaitable<UpstreamCall> call_h2(H2Pool&, const Connector&, const Request&,
                                                      StreamPipe&, const UpstreamCallOptions&);
  std::shared_ptr<H2Connection> pick(size_t max_streams) const;
  size_t idle() const;
  void remove(const H2Connection* conn);
  std::vector<std::shared_ptr<H2Connection>> conns_;
};

// Sends `request`'s head (its Host becomes :authority) on a stream of a pooled connection with
// room (opening one through `connect` when none has), then its DATA from `pipe` as the client
// sends it; the answer's head, DATA and trailers go into `pipe` as they arrive. Returns when the
// upstream's stream ended: `answer` (its status only) when it ended well, else the error
// (before the head went out, the client gets it as the answer; after, as trailers, or as a
// reset of its stream when the upstream reset).
boost::asio::awaitable<UpstreamCall> call_h2(H2Pool& pool, const Connector& connect,
                                             const Request& request, StreamPipe& pipe,
                                             const UpstreamCallOptions& options);

// "grpc-timeout" (1-8 digits and a unit H, M, S, m, u, n); nullopt when malformed.
std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value);

// The grpc-status for a stream the upstream reset with `h2_error` (gRPC over HTTP/2: CANCEL ->
// CANCELLED, ENHANCE_YOUR_CALM -> RESOURCE_EXHAUSTED, INADEQUATE_SECURITY -> PERMISSION_DENIED,
// REFUSED_STREAM -> UNAVAILABLE, the rest INTERNAL).
int grpc_status_for_reset(uint32_t h2_error);

}  // namespace gatedrill::gateway::h2

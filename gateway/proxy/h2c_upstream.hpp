#pragma once
// The smallest HTTP/2 upstream client the gateway needs: gRPC calls go to the upstream over h2c
// (prior knowledge), one call at a time per pooled connection, with the response trailers
// (grpc-status) kept.
// Internal to the data plane (Asio types): only data_plane.cpp and h2c_upstream.cpp include it.
// "te: trailers" is always sent (gRPC servers require it).
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gateway/server/h2_session.hpp"

namespace gatedrill::gateway::h2 {

struct UpstreamCall {
  std::optional<Answer> answer;  // the upstream's response (headers, body, trailers)
  // Otherwise what went wrong, as for HTTP/1.1: "connect" (503), "timeout" (504), "protocol"
  // (502), with a message.
  std::string error_kind;
  std::string error_message;
};

struct UpstreamCallOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(2)};
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // request sent to response read
  size_t max_response_bytes = 64 << 20;
};

// Idle h2c connections to the gRPC upstream, per worker thread (never shared across threads).
// A connection carries one call at a time and goes back here after a clean answer.
class H2cPool {
 public:
  struct Conn;
  H2cPool();
  ~H2cPool();
  H2cPool(const H2cPool&) = delete;
  H2cPool& operator=(const H2cPool&) = delete;
  void clear();
  size_t idle() const { return idle_.size(); }

 private:
  friend boost::asio::awaitable<UpstreamCall> call_h2c(H2cPool&, size_t,
                                                       const boost::asio::ip::tcp::endpoint&,
                                                       const Request&, const UpstreamCallOptions&);
  std::vector<std::unique_ptr<Conn>> idle_;
};

// Sends `request` (its Host becomes :authority) to `upstream` over h2c on a pooled connection
// (a fresh one when none is idle, or when the idle one turns out closed) and reads the answer;
// keeps at most `max_idle` connections in `pool`.
boost::asio::awaitable<UpstreamCall> call_h2c(H2cPool& pool, size_t max_idle,
                                              const boost::asio::ip::tcp::endpoint& upstream,
                                              const Request& request,
                                              const UpstreamCallOptions& options);

}  // namespace gatedrill::gateway::h2

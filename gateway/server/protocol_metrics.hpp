#pragma once
// Request counts by protocol (HTTP/1.1, h2, gRPC, WebSocket) and HTTP/2 connection events
// (connections, rapid-reset GOAWAYs, protocol errors, refused streams, idle timeouts),
// registered up front so dashboards see zeros before the first request.
#include <string_view>

#include "core/admin/metrics.hpp"

namespace gatedrill::gateway {

class ProtocolMetrics {
 public:
  explicit ProtocolMetrics(MetricsRegistry& metrics);
  void request(std::string_view protocol);  // "http/1.1", "h2", "grpc", "websocket"
  void h2_event(std::string_view kind);     // "connection", "goaway_flood", ...

 private:
  Counter& http1_;
  Counter& h2_;
  Counter& grpc_;
  Counter& websocket_;
  Counter& h2_connections_;
  Counter& h2_goaway_flood_;
  Counter& h2_protocol_errors_;
  Counter& h2_refused_streams_;
  Counter& h2_idle_timeouts_;
  Counter& h2_stream_idle_timeouts_;
  Counter& h2_tunnel_trims_;
};

}  // namespace gatedrill::gateway

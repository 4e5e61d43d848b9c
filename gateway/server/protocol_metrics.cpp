#include "gateway/server/protocol_metrics.hpp"

namespace gatedrill::gateway {

namespace {
constexpr const char* kRequests = "gatedrill_gateway_requests_by_protocol_total";
constexpr const char* kRequestsHelp = "Requests answered, by client protocol";
constexpr const char* kEvents = "gatedrill_gateway_h2_events_total";
constexpr const char* kEventsHelp =
    "HTTP/2 connection events: connections, GOAWAY for rapid reset, protocol errors, refused "
    "streams, GOAWAY after the idle timeout, streams ended by the stream idle timeout, quiet "
    "WebSocket tunnels that gave back their buffers";
}  // namespace

ProtocolMetrics::ProtocolMetrics(MetricsRegistry& metrics)
    : http1_(metrics.counter(kRequests, kRequestsHelp, {{"protocol", "http/1.1"}})),
      h2_(metrics.counter(kRequests, kRequestsHelp, {{"protocol", "h2"}})),
      grpc_(metrics.counter(kRequests, kRequestsHelp, {{"protocol", "grpc"}})),
      websocket_(metrics.counter(kRequests, kRequestsHelp, {{"protocol", "websocket"}})),
      h2_connections_(metrics.counter(kEvents, kEventsHelp, {{"kind", "connection"}})),
      h2_goaway_flood_(metrics.counter(kEvents, kEventsHelp, {{"kind", "goaway_flood"}})),
      h2_protocol_errors_(metrics.counter(kEvents, kEventsHelp, {{"kind", "protocol_error"}})),
      h2_refused_streams_(metrics.counter(kEvents, kEventsHelp, {{"kind", "refused_stream"}})),
      h2_idle_timeouts_(metrics.counter(kEvents, kEventsHelp, {{"kind", "idle_timeout"}})),
      h2_stream_idle_timeouts_(
          metrics.counter(kEvents, kEventsHelp, {{"kind", "stream_idle_timeout"}})),
      h2_tunnel_trims_(metrics.counter(kEvents, kEventsHelp, {{"kind", "tunnel_trim"}})) {}

void ProtocolMetrics::request(std::string_view protocol) {
  if (protocol == "h2")
    h2_.inc();
  else if (protocol == "grpc")
    grpc_.inc();
  else if (protocol == "websocket")
    websocket_.inc();
  else
    http1_.inc();
}

void ProtocolMetrics::h2_event(std::string_view kind) {
  if (kind == "connection")
    h2_connections_.inc();
  else if (kind == "goaway_flood")
    h2_goaway_flood_.inc();
  else if (kind == "protocol_error")
    h2_protocol_errors_.inc();
  else if (kind == "refused_stream")
    h2_refused_streams_.inc();
  else if (kind == "idle_timeout")
    h2_idle_timeouts_.inc();
  else if (kind == "stream_idle_timeout")
    h2_stream_idle_timeouts_.inc();
  else if (kind == "tunnel_trim")
    h2_tunnel_trims_.inc();
}

}  // namespace gatedrill::gateway

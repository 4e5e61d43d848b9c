#pragma once
// Upstream clusters (Envoy's clusters, cut down): a named set of endpoints with a load-balancing
// policy, its own connection limits, timeouts and circuit breaker, optionally TLS to the upstream.
// Routes name their cluster; a route without one uses the default cluster (--upstream).
// Plain C++ (no Asio): the data plane turns these options into pools.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/http_client.hpp"
#include "core/util/result.hpp"
#include "gateway/proxy/circuit_breaker.hpp"

namespace gatedrill::gateway {

enum class LbPolicy { kRoundRobin, kLeastRequests };

// TLS to the upstream (TLS 1.2+): the chain is verified against `ca_file` (the system's trust
// store when empty), the name against `server_name` (else the endpoint's host, which may be an IP
// address); SNI is sent unless the name is an IP literal. A client certificate makes it mTLS.
struct UpstreamTlsOptions {
  std::string ca_file;
  std::string server_name;
  std::string client_cert_file;
  std::string client_key_file;  // empty: the key is in client_cert_file
};

struct ClusterOptions {
  std::string name = "default";
  std::vector<Url> endpoints;  // http:// or https:// host:port, all of one scheme
  // Endpoints from service discovery (the registry's /v1/discovery/<service>) instead of
  // `endpoints`; needs --discovery. No live instance yet -> 503 no_healthy_upstream.
  std::string service;
  std::optional<UpstreamTlsOptions> tls;  // set for https:// clusters
  LbPolicy lb = LbPolicy::kRoundRobin;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(2)};
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // request sent to response read
  // Circuit-breaker thresholds (Envoy's circuit_breakers): over them -> 503 with
  // x-gatedrill-reason. `max_pending`: requests that may wait for a connection slot while
  // max_connections are open (0: none wait, the request overflows at once).
  size_t max_connections = 4096;
  size_t max_pending = 0;
  size_t max_requests = 4096;
  // gRPC (h2 upstream): streams per connection before another connection is opened (Envoy's
  // http2_protocol_options.max_concurrent_streams); the peer's SETTINGS may lower it.
  size_t max_concurrent_streams = 100;
  CircuitBreakerOptions breaker;  // consecutive transport failures -> open
};

// [{"name": "catalog", "endpoints": ["http://127.0.0.1:9001", ...], "lb": "round_robin" |
//   "least_requests", "connect_timeout": "2s", "timeout": "5s", "max_connections": N,
//   "max_pending": N, "max_requests": N, "max_concurrent_streams": N, "breaker_failures": N,
//   "breaker_open_for": "5s", "tls": {"ca": "ca.pem", "sni": "name", "cert": "client.pem", "key":
//   "client.key"}, "service": "catalog"}]   ("endpoints" or "service"; the rest optional, from
//   `defaults`)
// Errors: "bad_clusters" naming the entry and the field ("clusters[1] (catalog): ...").
Result<std::vector<ClusterOptions>> parse_clusters_json(std::string_view json,
                                                        const ClusterOptions& defaults);

// "host:port", "http://host:port" or "https://host:port" (a discovery registration) -> host and
// port. Errors: "bad_address".
Result<Url> parse_endpoint_address(std::string_view address);

}  // namespace gatedrill::gateway

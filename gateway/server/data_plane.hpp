#pragma once
// The gateway's data plane: an HTTP/1.1 and HTTP/2 listener (plaintext or TLS 1.2+/1.3, keep-alive,
// one event loop per thread) that enforces the parsing limits, runs the request filter, and proxies
// what the filter lets through to the route's upstream cluster over per-thread keep-alive
// connection pools (plaintext or TLS to the upstream). Boost.Beast/Asio live only in the .cpp.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/http_client.hpp"
#include "core/http/http_message.hpp"
#include "core/http/http_server.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"
#include "core/util/shared_string.hpp"
#include "gateway/proxy/circuit_breaker.hpp"
#include "gateway/proxy/cluster_config.hpp"

namespace gatedrill::gateway {

// A second listener that requires a client certificate chaining to `client_ca_file` (and not
// revoked by `crl_file`), whose single URI SAN is a SPIFFE ID (in `trust_domain` when set).
// Certificate validity is checked at the TimeSource's skewed wall time.
struct MtlsListenerOptions {
  uint16_t port = 0;
  std::string cert_chain_file;  // the server's own certificate and key
  std::string key_file;
  std::string client_ca_file;
  std::string crl_file;      // optional
  std::string trust_domain;  // optional
  bool strict = true;        // plaintext on this port is refused; else served without identity
};

struct DataPlaneOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  int threads = 1;
  std::optional<TlsServerConfig> tls;  // plaintext when unset
  std::optional<MtlsListenerOptions> mtls;
  bool reuse_port = false;  // SO_REUSEPORT: several gateway processes share the port
  // TLS handshakes running at once per worker (TLS and mTLS listeners). A connection whose
  // ClientHello arrives at the cap waits (first come first served, at most 30 s) until one
  // ends, so under a flood the handshakes that run finish within their deadline instead of
  // all of them crawling, and only those hold handshake memory. 0: no cap.
  size_t max_handshakes_in_flight = 256;
  // After a TLS 1.3 handshake: the own record layer (server/tls13_records) protects the
  // connection and the SSL object is freed; false: OpenSSL keeps it (as for TLS 1.2).
  bool own_tls_records = true;

  size_t max_uri_bytes = 8 * 1024;      // request target; longer -> 414
  size_t max_header_bytes = 16 * 1024;  // all header fields; more -> 431
  size_t max_header_count = 100;        // more -> 431
  size_t max_body_bytes = 1 << 20;      // more -> 413
  std::chrono::milliseconds header_timeout{
      std::chrono::seconds(10)};  // first byte to end of headers/body
  // HTTP/1.1: between keep-alive requests; HTTP/2: while the connection has no open stream;
  // WebSocket tunnels: both directions silent.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Writes to the client (HTTP/1.1, WebSocket, HTTP/2 frame batches): per 64 KB that does not go
  // out within this, the connection closes (a slow reader of a large answer is not cut while it
  // takes bytes).
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
  // HTTP/2: a stream on which nothing moved either way this long ends (0: off).
  std::chrono::milliseconds stream_idle_timeout{std::chrono::minutes(5)};

  // HTTP/2: "h2" by ALPN on the TLS listeners, h2c with prior knowledge on a plaintext one.
  bool http2 = true;
  uint32_t h2_max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  // RST_STREAM frames a client may send per second before GOAWAY ENHANCE_YOUR_CALM (rapid reset).
  int h2_max_resets_per_second = 100;

  // Client headers never forwarded besides hop-by-hop and x-gatedrill-*/x-envoy-*: the names the
  // gateway uses to pass identity, so a client cannot forge them when the filter sets none.
  std::vector<std::string> strip_request_headers;
  // Copy request headers into RequestView::headers and ResponseInfo::headers.
  bool filter_needs_headers = false;

  // The default cluster (routes that name none): the limits and timeouts below apply to it.
  Url upstream;                                    // http://host:port or https://host:port
  std::optional<UpstreamTlsOptions> upstream_tls;  // with an https:// upstream
  // gRPC calls (h2 with content-type application/grpc) go over h2c, with trailers, to this
  // http://host:port; unset: to the upstream's endpoints (h2 over TLS for https://). (Other
  // clusters: their endpoints.)
  std::optional<Url> grpc_upstream;
  size_t upstream_max_streams = 100;  // gRPC streams per upstream h2 connection
  std::chrono::milliseconds upstream_connect_timeout{std::chrono::seconds(2)};
  std::chrono::milliseconds upstream_timeout{
      std::chrono::seconds(5)};  // request sent to response read
  size_t upstream_idle_per_thread = 64;
  // Circuit-breaker thresholds (Envoy cluster circuit_breakers): over them -> 503 with
  // x-gatedrill-reason. With max_upstream_pending 0 nothing is queued: no free connection slot
  // is an overflow at once.
  size_t max_upstream_connections = 4096;  // open connections, all threads
  size_t max_upstream_requests = 4096;     // requests in flight to the upstream
  size_t max_upstream_pending = 0;         // requests that may wait for a connection slot (0: none)
  CircuitBreakerOptions breaker;           // consecutive transport failures -> open
  size_t max_upstream_response_bytes = 64 << 20;
  // Further clusters, each with its own endpoints, pools, limits and breaker:
  // FilterVerdict::cluster i > 0 is clusters[i - 1]. Their pools keep upstream_idle_per_thread.
  std::vector<ClusterOptions> clusters;
};

// What the filter sees of a request that passed the parsing limits.
struct RequestView {
  std::string_view method;
  std::string_view target;
  std::string_view authorization;
  std::string_view remote;
  std::string_view peer_identity;       // SPIFFE ID on the mTLS listener, else empty
  bool secure = false;                  // arrived over TLS
  const HeaderList* headers = nullptr;  // only with DataPlaneOptions::filter_needs_headers
};

// The filter chain's verdict: either continue to the upstream (with extra upstream headers), or
// answer locally with status/reason (the body is {"error": ..., "reason": ..., "message": ...}).
struct FilterVerdict {
  bool local_reply = false;
  int status = 200;
  std::string reason;
  std::string message;
  HeaderList response_headers;  // local replies only (WWW-Authenticate)
  HeaderList upstream_headers;  // forwarded requests only (x-gatedrill-sub)
  // For the decision log.
  SharedString identity;  // shared with the verified token's entry
  std::string route;
  SharedString policy_version;  // the authorizer's, shared (no copy per request)
  // Where a forwarded request goes: 0 the default cluster, i > 0 DataPlaneOptions::clusters[i-1].
  size_t cluster = 0;
  // Set when the filter waits on I/O (Redis lookups): the data plane calls `wait` with a
  // completion that may run on any thread, exactly once; then it calls `resume` on its own loop
  // for the next verdict (which may wait again). The RequestView stays valid until the last one.
  std::function<void(std::function<void()> done)> wait;
  std::function<FilterVerdict()> resume;
};
using RequestFilter = std::function<FilterVerdict(const RequestView&)>;

// One answered request. `verdict` is null when the request never reached the filter (bad input).
struct ResponseInfo {
  int status = 0;
  std::string_view reason;  // "ok" for a proxied answer
  int64_t latency_ns = 0;   // end of the request headers to the response ready
  std::string_view method;
  std::string_view target;
  std::string_view request_id;
  const FilterVerdict* verdict = nullptr;
  std::string_view remote;                 // client address:port
  const HeaderList* headers = nullptr;     // only with DataPlaneOptions::filter_needs_headers
  std::string_view protocol = "http/1.1";  // "http/1.1", "h2", "grpc" (h2 with gRPC), "websocket"
  // gRPC calls: the status the client got (-1 for other requests) and the DATA bytes each way.
  int grpc_status = -1;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
};

struct DataPlaneHooks {
  std::function<void(const ResponseInfo&)> on_response;
  // "connect", "timeout", "protocol", "tls" (handshake or certificate verification failed).
  std::function<void(std::string_view kind)> on_upstream_error;
  std::function<void(std::string_view kind)> on_mtls_reject;  // "handshake", "plaintext"
  // 0 normal, 1 no keep-alive, 2 shed new requests with 503 (the overload manager's level).
  std::function<int()> overload_level;
  // A cluster's breaker changed state: "closed", "open", "half_open".
  std::function<void(std::string_view cluster, const char* state)> on_circuit_state;
  // HTTP/2 connection events: "connection", "goaway_flood", "protocol_error", "refused_stream".
  std::function<void(std::string_view kind)> on_h2_event;
};

// One cluster's counters, for the metrics endpoint.
struct ClusterStats {
  std::string name;
  uint64_t requests = 0;  // requests routed to the cluster (answered by it or refused for it)
  std::vector<std::pair<std::string_view, uint64_t>> errors;  // by reason, every reason listed
  const char* circuit = "closed";                             // "closed", "open", "half_open"
  size_t connections = 0;                                     // open upstream connections
  size_t active_requests = 0;
  size_t pending = 0;    // waiting for a connection slot
  size_t endpoints = 0;  // known addresses (discovery clusters: live instances)
};

// The TLS listeners' accept path, for the metrics endpoint.
struct HandshakeStats {
  size_t in_flight = 0;  // TLS handshakes running, all workers
  size_t waiting = 0;    // connections with a ClientHello waiting for a handshake slot
  uint64_t queued = 0;   // handshakes that had to wait for a slot
  uint64_t done = 0;     // handshakes that succeeded
  // Connections that missed a deadline: [0] first bytes (10 s from the accept), [1] a slot
  // (30 s), [2] the handshake (10 s from its start).
  std::array<uint64_t, 3> timeouts{};
  size_t backlog = 0;        // connections the kernel holds for accept() (all listeners)
  size_t backlog_limit = 0;  // the backlogs' size; past it the kernel drops new SYNs
};

class DataPlane {
 public:
  DataPlane(const TimeSource& time, DataPlaneOptions options, RequestFilter filter,
            DataPlaneHooks hooks = {});
  ~DataPlane();  // stops
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // Errors: "bind_failed", "tls_config", "mtls_config", "bad_upstream" (an endpoint that does
  // not resolve, an upstream CA or client certificate that does not load).
  Result<void> start();
  void stop();  // idempotent; open connections are dropped
  uint16_t port() const;
  uint16_t mtls_port() const;  // 0 without an mTLS listener
  // Re-reads certificates, keys, the client trust bundle and CRL from their files; new
  // connections use them, open ones keep theirs. On error nothing changes for that listener.
  // Errors: "tls_config", "mtls_config".
  Result<void> reload_tls();
  // The endpoints of a discovery cluster (index as FilterVerdict::cluster): "host:port" or
  // "scheme://host:port" each; ones that do not parse or resolve are left out. Any thread.
  void set_cluster_endpoints(size_t cluster, const std::vector<std::string>& addresses);
  std::vector<ClusterStats> cluster_stats() const;
  HandshakeStats handshake_stats() const;  // any thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// {"error": <short phrase for the status>, "reason": reason, "message": message}
std::string local_reply_body(int status, std::string_view reason, std::string_view message);

}  // namespace gatedrill::gateway

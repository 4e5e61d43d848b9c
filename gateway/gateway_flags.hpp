#pragma once
// The `gatedrill gateway` flags and their validation into a GatewayConfig (kept apart from
// gateway_command.cpp so tests can check every refusal without starting anything).
#include <cstdint>
#include <string>
#include <vector>

#include "core/util/cli.hpp"
#include "core/util/result.hpp"
#include "gateway/gateway.hpp"

namespace gatedrill::gateway {

struct GatewayFlags {
  std::string name = "gw-1";
  std::string listen = "127.0.0.1:0";
  int64_t admin_port = 0;
  std::string tls_cert, tls_key;
  bool plaintext = false;
  std::string issuer, jwks_uri, audience;
  std::string providers_file;  // several issuers; excludes --issuer/--jwks-uri/--audience/--algs
  std::string algs = "RS256,ES256,PS256,EdDSA";
  std::string leeway = "60s";
  std::string upstream;
  std::string upstream_ca, upstream_sni, upstream_cert, upstream_key;  // https:// --upstream
  std::string clusters_file;
  int64_t max_upstream_pending = 0;
  int64_t threads = 1;
  std::string upstream_timeout = "5s";
  std::string upstream_connect_timeout = "2s";
  std::string jwks_ttl = "300s";
  std::string jwks_cooldown = "30s";
  int64_t token_cache_entries = 10000;
  std::string max_uri = "8k", max_headers = "16k", max_body = "1M";
  int64_t max_header_count = 100;
  std::string header_timeout = "10s", idle_timeout = "60s", stream_idle_timeout = "300s",
              write_timeout = "10s";
  std::string mtls_listen, client_ca, crl, trust_domain;
  bool mtls_permissive = false;
  std::string subject_header = "x-gatedrill-sub";
  std::string spiffe_header = "x-gatedrill-spiffe-id";
  double rate_limit = 0, burst = 0;
  std::vector<std::string> rate_limit_overrides;  // ID=RPS[:BURST]
  std::string routes_file;
  std::vector<std::string> allow_rules;  // IDENTITY@ROUTE[:METHODS]
  std::vector<std::string> policy_paths;
  std::string policy_query = "data.gatedrill.authz.allow";
  std::string policy_timeout = "50ms";
  int64_t max_upstream_connections = 4096, max_upstream_requests = 4096, breaker_failures = 5;
  int64_t upstream_max_streams = 100;
  std::string breaker_open_for = "5s";
  std::string audit_log, audit_max_size = "64M";
  int64_t audit_keep = 3;
  int64_t jwks_unavailable_status = 401;
  bool reuse_port = false;
  int64_t max_handshakes_in_flight = 256;  // per worker; 0: no cap
  bool no_http2 = false;
  std::string tls_records = "own";  // own | openssl: who protects TLS 1.3 records
  std::string grpc_upstream;        // http://host:port spoken to over h2c; default: --upstream
  int64_t h2_max_streams = 100, h2_max_resets = 100;
  std::string memory_budget;  // e.g. 512M
  std::string authz_cache_ttl;
  std::string redis;  // redis://host:port: JTI revocation and the global rate limit
  std::string redis_timeout = "250ms";
  std::string revocation_fail = "closed";
  std::string revocation_cache_ttl = "1s";
  int64_t global_rate_limit = 0;
  std::string global_window = "1s";
  std::string registry, registry_poll = "1s";
  bool ignore_registry_quotas = false;
  bool no_registry_jitter = false;
  std::string discovery, discovery_poll = "1s";
  std::string siem_url;
  int64_t siem_queue = 10000;

  void register_with(ArgParser& args);
  // Errors: "usage" with the flag at fault.
  Result<GatewayConfig> to_config() const;

 private:
  Result<void> redis_to_config(GatewayConfig& c) const;
  Result<void> control_plane_to_config(GatewayConfig& c) const;
  Result<void> clusters_to_config(GatewayConfig& c) const;
  Result<void> providers_to_config(GatewayConfig& c) const;
};

}  // namespace gatedrill::gateway

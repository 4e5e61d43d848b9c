#pragma once
// One gateway node: the data plane with its filter chain (JWT authn for now), the JWKS cache,
// and the admin server (/healthz, /metrics, /admin/clock, /admin/faults) on its own port.
// Tests run it in-process; `gatedrill gateway` runs it until SIGTERM.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/crypto/jwt.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"
#include "gateway/audit/audit_log.hpp"
#include "gateway/audit/siem_mirror.hpp"
#include "gateway/authn/jwks_cache.hpp"
#include "gateway/authn/jwt_providers.hpp"
#include "gateway/authn/revocation_cache.hpp"
#include "gateway/authz/authorizer.hpp"
#include "gateway/overload/overload_manager.hpp"
#include "gateway/ratelimit/global_rate_limiter.hpp"
#include "gateway/ratelimit/local_rate_limiter.hpp"
#include "gateway/redis/redis_link.hpp"
#include "gateway/routing/route_table.hpp"
#include "gateway/server/data_plane.hpp"

namespace gatedrill::gateway {

struct GatewayConfig {
  std::string name = "gw-1";
  DataPlaneOptions data;  // listener, limits, upstream
  uint16_t admin_port = 0;
  std::string admin_bind = "127.0.0.1";

  // The trusted issuers. Empty: the one given by issuer/audiences/algs/leeway/jwks.jwks_uri.
  // Each provider gets a JWKS cache with jwks's ttl, cooldown and timeouts and its own URI.
  std::vector<JwtProviderConfig> providers;
  std::string issuer;
  std::vector<std::string> audiences;
  std::vector<JwsAlg> algs;  // empty: all
  std::chrono::seconds leeway{60};
  JwksCacheOptions jwks;
  size_t token_cache_entries = 10000;
  int jwks_unavailable_status = 401;  // 401 or 500

  // Routes: when set, a request matching none gets 404; the route name keys rate limits.
  std::optional<RouteTable> routes;
  RateLimitConfig rate_limit;                    // off unless requests_per_second > 0
  std::shared_ptr<const Authorizer> authorizer;  // no authz step when null
  // Or Rego policies loaded at start (with this node's TimeSource), queried per request.
  std::vector<std::string> policy_paths;
  std::string policy_query = "data.gatedrill.authz.allow";
  std::chrono::milliseconds policy_timeout{50};
  std::chrono::milliseconds authz_cache_ttl{0};  // > 0: cache allow decisions (seed 003)
  // Or the policy bundle from the registry (http://host:port), polled off the request path.
  std::string registry_url;
  std::chrono::milliseconds registry_poll{1000};
  bool registry_quotas = true;  // the registry's quotas set the local limits per route
  bool registry_jitter = true;  // full jitter on the poller's backoff (off: lockstep retries)
  // Service discovery against a registry's /v1/discovery: a route whose service has no live
  // registration answers 503 service_not_found. Needs `routes`.
  std::string discovery_url;
  std::chrono::milliseconds discovery_poll{1000};

  // Redis for JTI revocation (on whenever Redis is set) and the global rate limit.
  std::optional<RedisLinkOptions> redis;
  RevocationOptions revocation;              // fail closed by default: 503 revocation_unavailable
  GlobalRateLimitOptions global_rate_limit;  // off unless requests_per_window > 0; needs redis

  std::optional<AuditLogOptions> audit;  // the decision log, when set
  std::optional<SiemOptions> siem;       // SIEM mirroring, when set
  OverloadOptions overload;              // off unless memory_budget_bytes > 0

  // Identity passed to the upstream (client-sent copies are always stripped).
  std::string subject_header = "x-gatedrill-sub";
  std::string spiffe_header = "x-gatedrill-spiffe-id";
};

class Gateway {
 public:
  // `fetcher`: how JWKS documents are fetched (tests may inject one); default HTTP GET.
  Gateway(TimeSource& time, GatewayConfig config, JwksFetcher fetcher = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Errors from the policy load ("rego_parse_error", ...), the admin server or the data plane
  // ("bind_failed", "tls_config", ...).
  Result<void> start();
  void stop();
  uint16_t port() const;
  uint16_t mtls_port() const;  // 0 without --mtls-listen
  uint16_t admin_port() const;
  // Waits until the decision log has written everything so far (no-op without one).
  void flush_audit();
  // Waits until the SIEM mirror has sent (or dropped) everything so far (no-op without one).
  void flush_siem();
  // The policy revision enforced from the registry (0: none yet / no registry).
  int64_t policy_revision() const;
  bool wait_policy_revision(int64_t want, std::chrono::milliseconds timeout) const;
  // Waits (bounded) until the Redis link is up; false without --redis or on timeout.
  bool wait_redis_up(std::chrono::milliseconds timeout) const;
  // Samples memory now instead of at the next interval (tests, drills).
  void sample_overload();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatedrill::gateway

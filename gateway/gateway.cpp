#include "gateway/gateway.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <tuple>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/admin/admin_server.hpp"
#include "core/admin/faults.hpp"
#include "core/admin/metrics.hpp"
#include "gateway/authn/jwt_authn.hpp"
#include "gateway/authz/decision_cache.hpp"
#include "gateway/authz/registry_authorizer.hpp"
#include "gateway/overload/ballast_fault.hpp"
#include "gateway/policy/bundle_poller.hpp"
#include "gateway/policy/policy_engine.hpp"
#include "gateway/routing/discovery_watcher.hpp"
#include "gateway/routing/registry_routes.hpp"
#include "gateway/server/protocol_metrics.hpp"
#include "gateway/server/tls13_records.hpp"

namespace gatedrill::gateway {

namespace {

// Requests by status and reason: the label set is open-ended (reasons come from the crypto
// layer), so each pair is registered once, on first use, then counted lock-free.
class RequestCounters {
 public:
  explicit RequestCounters(MetricsRegistry& metrics) : metrics_(metrics) {}

  Counter& get(int status, std::string_view reason) {
    std::string key = std::to_string(status) + "/" + std::string(reason);
    {
      std::shared_lock lock(mutex_);
      if (auto it = counters_.find(key); it != counters_.end()) return *it->second;
    }
    std::unique_lock lock(mutex_);
    auto& slot = counters_[key];
    if (!slot)
      slot = &metrics_.counter(
          "gatedrill_gateway_requests_total", "Requests answered, by status and reason",
          {{"status", std::to_string(status)}, {"reason", std::string(reason)}});
    return *slot;
  }

 private:
  MetricsRegistry& metrics_;
  std::shared_mutex mutex_;
  std::map<std::string, Counter*, std::less<>> counters_;
};

std::string bearer_challenge(std::string_view description) {
  std::string escaped;
  for (char c : description) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  return "Bearer error=\"invalid_token\", error_description=\"" + escaped + "\"";
}

}  // namespace

struct Gateway::Impl {
  TimeSource& time;
  GatewayConfig config;
  MetricsRegistry metrics;
  FaultRegistry faults;
  Counter& token_cache_hits;
  Counter& token_cache_misses;
  Counter& upstream_connect_errors;
  Counter& upstream_timeouts;
  Counter& upstream_protocol_errors;
  Counter& upstream_tls_errors;
  Counter& mtls_handshake_rejects;
  Counter& mtls_plaintext_rejects;
  Gauge& circuit_open;
  Counter& audit_dropped;
  Counter& tls_reloads;
  LatencyMetric& latency;
  Counter& redis_connect_errors;
  Counter& redis_timeouts;
  Counter& redis_io_errors;
  Counter& redis_protocol_errors;
  Gauge& redis_up;
  Counter& revocation_lookups;
  Counter& revocation_cache_hits;
  Counter& revocation_fail_open;
  Counter& ratelimit_fallback;
  RequestCounters requests;
  ProtocolMetrics protocols{metrics};
  std::vector<JwtProviderConfig> providers;      // the trusted issuers, in config order
  std::vector<std::unique_ptr<JwksCache>> jwks;  // one per provider
  JwtAuthn authn;
  LocalRateLimiter limiter;
  GlobalRateLimiter global_limiter;
  std::unique_ptr<RevocationCache> revocation;  // with Redis
  std::unique_ptr<RedisLink> redis;
  OverloadManager overload;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<SiemMirror> siem;
  std::unique_ptr<BundlePoller> poller;
  std::unique_ptr<DiscoveryWatcher> discovery;
  std::unique_ptr<DiscoveryWatcher> quota_watcher;  // quotas alone (discovery elsewhere or off)
  DiscoveryWatcher* quota_source = nullptr;         // the one of the two polling quotas
  std::unique_ptr<AdminServer> admin;
  std::unique_ptr<DataPlane> data;
  // The table requests are routed by (--routes, then the registry's): swapped as a whole, so a
  // request's route and cluster come from one table; null without any table.
  CurrentRoutes routes_now;
  std::unique_ptr<RegistryRoutes> registry_routes;
  // Discovery with no --routes file: the registry's table is the only one, and until it arrives
  // nothing is routed (503 routes_not_loaded, /healthz not ready) rather than the default route.
  bool routes_from_registry_only = false;
  std::atomic<DataPlane*> data_for_discovery{nullptr};

  Impl(TimeSource& t, GatewayConfig c, JwksFetcher fetcher)
      : time(t),
        config(std::move(c)),
        faults(t),
        token_cache_hits(metrics.counter("gatedrill_gateway_token_cache_hits_total",
                                         "Verified-token cache hits")),
        token_cache_misses(metrics.counter("gatedrill_gateway_token_cache_misses_total",
                                           "Verified-token cache misses")),
        upstream_connect_errors(metrics.counter("gatedrill_gateway_upstream_errors_total",
                                                "Upstream errors by kind", {{"kind", "connect"}})),
        upstream_timeouts(metrics.counter("gatedrill_gateway_upstream_errors_total",
                                          "Upstream errors by kind", {{"kind", "timeout"}})),
        upstream_protocol_errors(metrics.counter("gatedrill_gateway_upstream_errors_total",
                                                 "Upstream errors by kind",
                                                 {{"kind", "protocol"}})),
        upstream_tls_errors(metrics.counter("gatedrill_gateway_upstream_errors_total",
                                            "Upstream errors by kind", {{"kind", "tls"}})),
        mtls_handshake_rejects(metrics.counter("gatedrill_gateway_mtls_rejects_total",
                                               "Connections refused on the mTLS listener",
                                               {{"kind", "handshake"}})),
        mtls_plaintext_rejects(metrics.counter("gatedrill_gateway_mtls_rejects_total",
                                               "Connections refused on the mTLS listener",
                                               {{"kind", "plaintext"}})),
        circuit_open(metrics.gauge("gatedrill_gateway_upstream_circuit_open",
                                   "1 while the upstream circuit breaker is open or half-open")),
        audit_dropped(
            metrics.counter("gatedrill_gateway_audit_dropped_total",
                            "Decision-log records dropped because the writer fell behind")),
        tls_reloads(metrics.counter("gatedrill_gateway_tls_reloads_total",
                                    "Certificate and trust-bundle reloads")),
        latency(
            metrics.latency("gatedrill_gateway_request_duration_seconds",
                            "Time from the end of the request headers to the response written")),
        redis_connect_errors(metrics.counter("gatedrill_gateway_redis_errors_total",
                                             "Redis link failures by kind", {{"kind", "connect"}})),
        redis_timeouts(metrics.counter("gatedrill_gateway_redis_errors_total",
                                       "Redis link failures by kind", {{"kind", "timeout"}})),
        redis_io_errors(metrics.counter("gatedrill_gateway_redis_errors_total",
                                        "Redis link failures by kind", {{"kind", "io"}})),
        redis_protocol_errors(metrics.counter("gatedrill_gateway_redis_errors_total",
                                              "Redis link failures by kind",
                                              {{"kind", "protocol"}})),
        redis_up(metrics.gauge("gatedrill_gateway_redis_up",
                               "1 while the Redis link is connected and answered PING")),
        revocation_lookups(metrics.counter("gatedrill_gateway_revocation_lookups_total",
                                           "JTI revocation checks that asked Redis")),
        revocation_cache_hits(metrics.counter("gatedrill_gateway_revocation_cache_hits_total",
                                              "JTI revocation checks answered by the local cache")),
        revocation_fail_open(
            metrics.counter("gatedrill_gateway_revocation_fail_open_total",
                            "Requests let through unchecked because Redis could not answer")),
        ratelimit_fallback(
            metrics.counter("gatedrill_gateway_ratelimit_fallback_total",
                            "Requests limited only locally because Redis could not count them")),
        requests(metrics),
        providers(effective_providers(config)),
        jwks(make_jwks_caches(fetcher ? std::move(fetcher) : http_jwks_fetcher())),
        authn(make_authn_config(config), make_jwt_providers(), t),
        limiter(t, config.rate_limit),
        global_limiter(t, config.global_rate_limit),
        overload(config.overload) {
    register_ballast_fault(faults);
    if (config.redis) {
      revocation = std::make_unique<RevocationCache>(t, config.revocation);
      RedisLinkHooks hooks;
      hooks.on_error = [this](std::string_view kind) {
        if (kind == "connect")
          redis_connect_errors.inc();
        else if (kind == "timeout")
          redis_timeouts.inc();
        else if (kind == "io")
          redis_io_errors.inc();
        else
          redis_protocol_errors.inc();
      };
      hooks.on_state = [this](bool up) {
        redis_up.set(up ? 1 : 0);
        std::fprintf(stderr, "gateway %s: redis %s\n", config.name.c_str(), up ? "up" : "down");
      };
      redis = std::make_unique<RedisLink>(*config.redis, std::move(hooks));
    }
    if (overload.enabled()) {
      metrics.add_collector([this](std::string& out) {
        out += "# HELP gatedrill_gateway_memory_bytes Memory the overload manager last measured\n";
        out += "# TYPE gatedrill_gateway_memory_bytes gauge\n";
        out += "gatedrill_gateway_memory_bytes " + std::to_string(overload.memory_bytes()) + "\n";
        out += "# HELP gatedrill_gateway_overload_level 0 normal, 1 keep-alive off, 2 shedding\n";
        out += "# TYPE gatedrill_gateway_overload_level gauge\n";
        out += "gatedrill_gateway_overload_level " +
               std::to_string(static_cast<int>(overload.level())) + "\n";
      });
    }
  }

  // config.providers, or the single provider of the issuer/jwks fields.
  static std::vector<JwtProviderConfig> effective_providers(const GatewayConfig& c) {
    if (!c.providers.empty()) return c.providers;
    return {JwtProviderConfig{c.issuer, c.jwks.jwks_uri, c.audiences, c.algs, c.leeway}};
  }

  // One cache per provider, its fetches and failures counted under its issuer label.
  std::vector<std::unique_ptr<JwksCache>> make_jwks_caches(const JwksFetcher& fetcher) {
    std::vector<std::unique_ptr<JwksCache>> caches;
    for (const auto& p : providers) {
      JwksCacheOptions options = config.jwks;
      options.jwks_uri = p.jwks_uri;
      Counter& fetches = metrics.counter("gatedrill_gateway_jwks_fetches_total",
                                         "JWKS fetch attempts", {{"issuer", p.issuer}});
      Counter& failures = metrics.counter("gatedrill_gateway_jwks_fetch_failures_total",
                                          "Failed JWKS fetches", {{"issuer", p.issuer}});
      caches.push_back(std::make_unique<JwksCache>(
          time, std::move(options), fetcher,
          JwksCacheHooks{[&fetches] { fetches.inc(); },
                         [&failures](const std::string&) { failures.inc(); }}));
    }
    return caches;
  }

  std::vector<JwtProvider> make_jwt_providers() {
    std::vector<JwtProvider> out;
    for (size_t i = 0; i < providers.size(); ++i) {
      JwtProvider p;
      p.claims.issuer = providers[i].issuer;
      p.claims.audiences = providers[i].audiences;
      p.claims.leeway = providers[i].leeway;
      p.algs = providers[i].algs;
      p.jwks = jwks[i].get();
      out.push_back(std::move(p));
    }
    return out;
  }

  static JwtAuthnConfig make_authn_config(const GatewayConfig& c) {
    JwtAuthnConfig a;
    a.token_cache_entries = c.token_cache_entries;
    a.jwks_unavailable_status = c.jwks_unavailable_status;
    return a;
  }

  static FilterVerdict local(int status, std::string reason, std::string message) {
    FilterVerdict v;
    v.local_reply = true;
    v.status = status;
    v.reason = std::move(reason);
    v.message = std::move(message);
    return v;
  }

  // route -> authn -> rate limit -> identity headers. Each step either continues or answers.
  FilterVerdict filter(const RequestView& request) {
    std::string_view route = "default";
    std::string_view service;
    size_t cluster = 0;
    // Valid within this call; decide() copies the route and service out of it.
    const RouteSnapshot* routes = routes_now.get();
    if (routes) {
      std::string_view path = request.target.substr(0, request.target.find('?'));
      const Route* matched = routes->table.match(path);
      if (!matched) return local(404, "no_route", "no route for this path");
      route = matched->name;
      service = matched->service.empty() ? matched->name : matched->service;
      cluster = routes->clusters[static_cast<size_t>(matched - routes->table.routes().data())];
    } else if (routes_from_registry_only) {
      return local(503, "routes_not_loaded", "no route table yet: waiting for the registry's");
    }
    return finish(decide(request, route, service), std::string(route), cluster);
  }

  // Stamps the route, its cluster and the policy version on the final verdict, also after waits.
  FilterVerdict finish(FilterVerdict verdict, std::string route, size_t cluster) {
    if (verdict.wait) {
      verdict.resume = [this, next = std::move(verdict.resume), route = std::move(route), cluster] {
        return finish(next(), route, cluster);
      };
      return verdict;
    }
    verdict.route = std::move(route);
    verdict.cluster = cluster;
    if (config.authorizer) verdict.policy_version = config.authorizer->version();
    return verdict;
  }

  // One request's way through the chain, kept alive across the Redis waits.
  struct Flow {
    const RequestView* request = nullptr;
    std::string route;
    std::string service;  // for discovery
    AuthnResult authn;
    SharedString identity;  // SPIFFE ID on the mTLS listener, else the token's sub
    std::optional<Result<bool>> revoked;
    std::optional<Result<RateDecision>> global;
  };

  // A verdict that waits for `start` (which must call its completion once) and then continues
  // with `next` on the data plane's loop.
  template <class Start, class Next>
  static FilterVerdict after(Start start, Next next) {
    FilterVerdict v;
    v.wait = std::move(start);
    v.resume = std::move(next);
    return v;
  }

  // authn -> revocation -> authz -> local rate limit -> global rate limit -> identity headers.
  FilterVerdict decide(const RequestView& request, std::string_view route,
                       std::string_view service) {
    auto flow = std::make_shared<Flow>();
    flow->request = &request;
    flow->route = std::string(route);
    flow->service = std::string(service);
    flow->authn = authn.check(request.authorization);
    const AuthnResult& result = flow->authn;
    (result.cache_hit ? token_cache_hits : token_cache_misses).inc();
    if (!result.allowed()) {
      FilterVerdict verdict = local(result.status, result.reason, result.description);
      if (result.status == 401)
        verdict.response_headers.emplace_back("WWW-Authenticate",
                                              bearer_challenge(result.description));
      return verdict;
    }
    flow->identity =
        request.peer_identity.empty() ? result.subject : SharedString(request.peer_identity);
    if (revocation && redis && !result.jti.empty()) {
      if (auto known = revocation->cached(result.jti)) {
        revocation_cache_hits.inc();
        if (*known) flow->revoked = true;
      } else {
        revocation_lookups.inc();
        return after(
            [this, flow](std::function<void()> done) {
              revocation->lookup(*redis, std::string(flow->authn.jti), flow->authn.exp,
                                 [flow, done = std::move(done)](Result<bool> r) {
                                   flow->revoked = std::move(r);
                                   done();
                                 });
            },
            [this, flow] { return after_revocation(*flow); });
      }
    }
    return after_revocation(*flow);
  }

  FilterVerdict after_revocation(Flow& flow) {
    if (flow.revoked) {
      if (!*flow.revoked) {
        if (!revocation->options().fail_open) {
          FilterVerdict v =
              local(503, "revocation_unavailable",
                    "cannot check token revocation: " + flow.revoked->error().message);
          v.response_headers.emplace_back("Retry-After", "1");
          v.response_headers.emplace_back("x-gatedrill-reason", "revocation_unavailable");
          v.identity = flow.identity;
          return v;
        }
        revocation_fail_open.inc();
      } else if (flow.revoked->value()) {
        FilterVerdict v = local(401, "token_revoked", "the token has been revoked");
        v.response_headers.emplace_back("WWW-Authenticate",
                                        bearer_challenge("the token has been revoked"));
        v.identity = flow.identity;
        return v;
      }
    }
    const RequestView& request = *flow.request;
    if (config.authorizer) {
      std::string_view path = request.target.substr(0, request.target.find('?'));
      auto q = request.target.find('?');
      AuthzRequest authz;
      authz.method = request.method;
      authz.path = path;
      authz.query = q == std::string_view::npos ? std::string_view{} : request.target.substr(q + 1);
      authz.route = flow.route;
      authz.protocol = request.secure ? "https" : "http";
      authz.authorization = request.authorization;
      authz.subject = flow.authn.subject;
      authz.spiffe_id = request.peer_identity;
      authz.headers = request.headers;
      AuthzDecision decision = config.authorizer->check(authz);
      if (!decision.allowed) {
        FilterVerdict denied = local(decision.status, decision.reason, decision.message);
        if (decision.status == 503)
          denied.response_headers.emplace_back("x-gatedrill-reason", decision.reason);
        denied.identity = flow.identity;
        return denied;
      }
    }
    if (limiter.enabled()) {
      RateDecision decision = limiter.check(flow.identity, flow.route);
      if (!decision.allowed) return rate_limited(flow, decision);
    }
    if (global_limiter.enabled() && redis) {
      if (auto over = global_limiter.known_over(flow.identity, flow.route))
        return rate_limited(flow, *over);
      auto shared = std::make_shared<Flow>(std::move(flow));
      return after(
          [this, shared](std::function<void()> done) {
            global_limiter.check(*redis, shared->identity, shared->route,
                                 [shared, done = std::move(done)](Result<RateDecision> r) {
                                   shared->global = std::move(r);
                                   done();
                                 });
          },
          [this, shared] { return after_global(*shared); });
    }
    return admitted(flow);
  }

  FilterVerdict after_global(Flow& flow) {
    if (flow.global && !*flow.global) {
      // Redis could not count: the local limits (already applied) are all there is (seed 003).
      ratelimit_fallback.inc();
    } else if (flow.global && !flow.global->value().allowed) {
      return rate_limited(flow, flow.global->value());
    }
    return admitted(flow);
  }

  static FilterVerdict rate_limited(const Flow& flow, const RateDecision& decision) {
    FilterVerdict limited =
        local(429, "rate_limited", "rate limit exceeded for this identity and route");
    limited.response_headers.emplace_back("Retry-After",
                                          std::to_string(decision.retry_after.count()));
    limited.identity = flow.identity;
    return limited;
  }

  FilterVerdict admitted(const Flow& flow) {
    // Checked last, so unauthenticated clients learn nothing about which services exist.
    if (discovery && !discovery->live(flow.service)) {
      FilterVerdict v = local(503, "service_not_found",
                              "no live registration for service '" + flow.service + "'");
      v.response_headers.emplace_back("x-gatedrill-reason", "service_not_found");
      v.identity = flow.identity;
      return v;
    }
    FilterVerdict verdict;
    verdict.identity = flow.identity;
    if (!flow.authn.subject.empty())
      verdict.upstream_headers.emplace_back(config.subject_header, flow.authn.subject.str());
    if (!flow.request->peer_identity.empty())
      verdict.upstream_headers.emplace_back(config.spiffe_header,
                                            std::string(flow.request->peer_identity));
    return verdict;
  }

  void on_response(const ResponseInfo& info) {
    requests.get(info.status, info.reason).inc();
    protocols.request(info.protocol);
    latency.observe_ns(info.latency_ns);
    if (siem) mirror(info);
    if (!audit) return;
    AuditRecord record;
    record.decision_id = std::string(info.request_id);
    record.time_ms = time.wall_ms();
    record.node = config.name;
    if (info.verdict) {
      record.identity = info.verdict->identity;
      record.route = info.verdict->route;
      record.policy_version = info.verdict->policy_version;
    }
    record.method = std::string(info.method);
    record.path = std::string(info.target.substr(0, info.target.find('?')));
    record.status = info.status;
    record.reason = std::string(info.reason);
    record.latency_us = info.latency_ns / 1000;
    record.grpc_status = info.grpc_status;
    record.request_bytes = info.request_bytes;
    record.response_bytes = info.response_bytes;
    if (!audit->submit(std::move(record))) audit_dropped.inc();
  }

  void mirror(const ResponseInfo& info) {
    SiemRecord record;
    record.decision_id = std::string(info.request_id);
    record.time_ms = time.wall_ms();
    record.node = config.name;
    record.remote = std::string(info.remote);
    record.method = std::string(info.method);
    record.target = std::string(info.target);
    record.status = info.status;
    record.reason = std::string(info.reason);
    if (info.verdict) {
      record.identity = info.verdict->identity;
      record.route = info.verdict->route;
      record.policy_version = info.verdict->policy_version;
    }
    if (info.headers)
      for (const auto& [name, value] : *info.headers)
        record.headers.emplace_back(name, siem_header_value(name, value));
    siem->submit(std::move(record));  // a full queue drops it (counted by the mirror)
  }

  // Registry policy, service discovery and the SIEM mirror, with their metrics.
  Result<void> start_control_plane() {
    if (!config.registry_url.empty()) {
      BundlePollerOptions po;
      po.registry_url = config.registry_url;
      po.node = config.name;
      po.interval = config.registry_poll;
      po.jitter = config.registry_jitter;
      po.time = &time;
      po.eval_timeout = config.policy_timeout;
      // Back off on outages, but not so far that a recovered registry waits long.
      po.max_backoff = std::max(config.registry_poll, std::min(config.registry_poll * 10,
                                                               std::chrono::milliseconds(30000)));
      poller = std::make_unique<BundlePoller>(po);
      poller->start();
      config.authorizer = std::make_shared<RegistryAuthorizer>(*poller, config.policy_query);
      metrics.add_collector([this](std::string& out) {
        const auto engine = poller->engine();
        out +=
            "# HELP gatedrill_gateway_policy_revision Registry policy revision enforced (0: "
            "none)\n";
        out += "# TYPE gatedrill_gateway_policy_revision gauge\n";
        out += "gatedrill_gateway_policy_revision " + std::to_string(poller->revision()) + "\n";
        out += "# HELP gatedrill_gateway_policy_info The enforced policy version\n";
        out += "# TYPE gatedrill_gateway_policy_info gauge\n";
        out += "gatedrill_gateway_policy_info{version=\"" +
               (engine ? engine->version() : std::string("none")) + "\",revision=\"" +
               std::to_string(poller->revision()) + "\"} 1\n";
        out += "# HELP gatedrill_gateway_registry_poll_failures Consecutive failed bundle polls\n";
        out += "# TYPE gatedrill_gateway_registry_poll_failures gauge\n";
        out +=
            "gatedrill_gateway_registry_poll_failures " + std::to_string(poller->failures()) + "\n";
      });
    }
    routes_from_registry_only = !config.discovery_url.empty() && !config.routes;
    if (routes_from_registry_only && config.registry_url.empty())
      return make_error("usage",
                        "service discovery needs a route table (--routes, or a --registry serving "
                        "one)");
    const std::vector<std::string> services =
        services_of(config.routes ? &*config.routes : nullptr);
    const bool quotas = !config.registry_url.empty() && config.registry_quotas;
    if (!config.discovery_url.empty()) {
      DiscoveryOptions d;
      d.url = config.discovery_url;
      d.interval = config.discovery_poll;
      d.services = services;
      // One poller for both when discovery is the registry itself.
      d.quotas = quotas && config.discovery_url == config.registry_url;
      d.on_round = [this, with_quotas = d.quotas] {
        if (with_quotas) apply_quotas(*discovery);
        push_cluster_endpoints();
      };
      const bool with_quotas = d.quotas;
      discovery = std::make_unique<DiscoveryWatcher>(std::move(d));
      if (with_quotas) quota_source = discovery.get();
      discovery->start();
      metrics.add_collector([this](std::string& out) {
        out += "# HELP gatedrill_gateway_discovery_failures_total Registry lookups that failed\n";
        out += "# TYPE gatedrill_gateway_discovery_failures_total counter\n";
        out += "gatedrill_gateway_discovery_failures_total " +
               std::to_string(discovery->failures()) + "\n";
      });
    }
    if (quotas && !(discovery && config.discovery_url == config.registry_url)) {
      DiscoveryOptions q;
      q.url = config.registry_url;
      q.interval = config.registry_poll;
      q.services = services;
      q.discovery = false;
      q.quotas = true;
      q.on_round = [this] { apply_quotas(*quota_watcher); };
      quota_watcher = std::make_unique<DiscoveryWatcher>(std::move(q));
      quota_source = quota_watcher.get();
      quota_watcher->start();
    }
    // After discovery and quotas: a new table updates their services before it is swapped in.
    if (!config.registry_url.empty()) start_registry_routes();
    if (config.siem) {
      siem = std::make_unique<SiemMirror>(*config.siem);
      if (auto r = siem->start(); !r) return r;
      metrics.add_collector([this](std::string& out) {
        out += "# HELP gatedrill_gateway_siem_sent_total Request records mirrored to the SIEM\n";
        out += "# TYPE gatedrill_gateway_siem_sent_total counter\n";
        out += "gatedrill_gateway_siem_sent_total " + std::to_string(siem->sent()) + "\n";
        out +=
            "# HELP gatedrill_gateway_siem_dropped_total Records not mirrored (sink slow or "
            "failing)\n";
        out += "# TYPE gatedrill_gateway_siem_dropped_total counter\n";
        out += "gatedrill_gateway_siem_dropped_total " + std::to_string(siem->dropped()) + "\n";
      });
    }
    return {};
  }

  // The services to watch (discovery, quotas): by route of `table`, or the one "default" route
  // without one, then those of discovery clusters (their instances are the endpoints).
  std::vector<std::string> services_of(const RouteTable* table) const {
    std::vector<std::string> services;
    std::set<std::string_view> seen;
    auto add = [&](const std::string& service) {
      if (seen.insert(service).second) services.push_back(service);
    };
    if (table) {
      for (const auto& route : table->routes())
        add(route.service.empty() ? route.name : route.service);
    } else if (!routes_from_registry_only) {
      add("default");
    }
    for (const auto& c : config.data.clusters)
      if (!c.service.empty()) add(c.service);
    return services;
  }

  // The registry's quotas (seed 003) as the local limiter's per-route limits, by the route's
  // service. Identity overrides (--rate-limit-override) still win.
  void apply_quotas(const DiscoveryWatcher& from) {
    RouteLimits limits;
    auto add = [&](const std::string& route, const std::string& service) {
      if (auto q = from.quota(service))
        limits[route] = RateLimit{q->requests_per_second, q->burst_capacity};
    };
    if (const auto routes = routes_now.load()) {
      for (const auto& route : routes->table.routes())
        add(route.name, route.service.empty() ? route.name : route.service);
    } else {
      add("default", "default");
    }
    auto current = limiter.route_limits();
    if (current && *current == limits) return;
    if (!current && limits.empty()) return;
    limiter.set_route_limits(std::move(limits));
    std::fprintf(stderr, "gateway %s: registry quotas applied\n", config.name.c_str());
  }

  void on_upstream_error(std::string_view kind) {
    if (kind == "connect")
      upstream_connect_errors.inc();
    else if (kind == "timeout")
      upstream_timeouts.inc();
    else if (kind == "tls")
      upstream_tls_errors.inc();
    else
      upstream_protocol_errors.inc();
  }

  // Each route's cluster as the data plane's index (0: the default cluster). Errors:
  // "bad_clusters" (a route naming an unknown cluster, a discovery cluster without discovery).
  Result<void> resolve_clusters() {
    const auto& clusters = config.data.clusters;
    for (const auto& c : clusters)
      if (!c.service.empty() && config.discovery_url.empty())
        return make_error("bad_clusters", "cluster " + c.name +
                                              " takes its endpoints from service '" + c.service +
                                              "': needs discovery (--discovery)");
    if (!config.routes) return {};
    auto indices = clusters_of(*config.routes);
    if (!indices) return indices.error();
    routes_now.store(std::make_shared<const RouteSnapshot>(
        RouteSnapshot{*config.routes, std::move(*indices), "file"}));
    return {};
  }

  // By route index, the data plane's cluster index of each route of `table`.
  Result<std::vector<size_t>> clusters_of(const RouteTable& table) const {
    const auto& clusters = config.data.clusters;
    std::vector<size_t> route_clusters;
    route_clusters.reserve(table.size());
    for (const auto& route : table.routes()) {
      size_t index = 0;
      if (!route.cluster.empty() && route.cluster != "default") {
        auto it = std::find_if(clusters.begin(), clusters.end(),
                               [&](const ClusterOptions& c) { return c.name == route.cluster; });
        if (it == clusters.end())
          return make_error("bad_clusters", "route " + route.name + " names cluster '" +
                                                route.cluster +
                                                "', which no --clusters entry defines");
        index = static_cast<size_t>(it - clusters.begin()) + 1;
      }
      route_clusters.push_back(index);
    }
    return route_clusters;
  }

  // The registry's route table (with --registry): polled beside the bundle, built and checked
  // on the poller's thread, swapped in whole; the --routes table routes until the first arrives.
  void start_registry_routes() {
    RegistryRoutesOptions o;
    o.registry_url = config.registry_url;
    o.node = config.name;
    o.interval = config.registry_poll;
    o.jitter = config.registry_jitter;
    o.max_backoff = std::max(config.registry_poll,
                             std::min(config.registry_poll * 10, std::chrono::milliseconds(30000)));
    o.resolve_clusters = [this](const RouteTable& table) { return clusters_of(table); };
    o.apply = [this](std::shared_ptr<const RouteSnapshot> next) {
      const size_t n = next->table.size();
      const std::string version = next->version;
      // The new table's services are asked for once before it routes, so a route of a service
      // new to this node is not refused as not live (nor unlimited) for a round.
      for (DiscoveryWatcher* w : {discovery.get(), quota_watcher.get()})
        if (w) {
          w->set_services(services_of(&next->table));
          w->poll_once();
        }
      routes_now.store(std::move(next));
      if (quota_source) apply_quotas(*quota_source);
      std::fprintf(stderr, "gateway %s: registry routes %s applied (%zu routes)\n",
                   config.name.c_str(), version.c_str(), n);
    };
    o.on_refused = [this](const std::string& why) {
      std::fprintf(stderr, "gateway %s: registry routes refused, keeping the last good table: %s\n",
                   config.name.c_str(), why.c_str());
    };
    registry_routes = std::make_unique<RegistryRoutes>(std::move(o));
    registry_routes->start();
    metrics.add_collector([this](std::string& out) {
      out +=
          "# HELP gatedrill_gateway_registry_routes_refused_total Registry route tables refused "
          "as invalid\n";
      out += "# TYPE gatedrill_gateway_registry_routes_refused_total counter\n";
      out += "gatedrill_gateway_registry_routes_refused_total " +
             std::to_string(registry_routes->refused()) + "\n";
      out +=
          "# HELP gatedrill_gateway_registry_routes_poll_failures Consecutive failed route "
          "polls\n";
      out += "# TYPE gatedrill_gateway_registry_routes_poll_failures gauge\n";
      out += "gatedrill_gateway_registry_routes_poll_failures " +
             std::to_string(registry_routes->failures()) + "\n";
    });
  }

  // The routes version enforced ("file", the registry's hash, or "none") and its size.
  void route_metrics(std::string& out) const {
    const auto routes = routes_now.load();
    out += "# HELP gatedrill_gateway_routes_info The enforced route table's version\n";
    out += "# TYPE gatedrill_gateway_routes_info gauge\n";
    out += "gatedrill_gateway_routes_info{version=\"" +
           (routes ? routes->version : std::string("none")) + "\"} 1\n";
    out += "# HELP gatedrill_gateway_routes Routes in the enforced table\n";
    out += "# TYPE gatedrill_gateway_routes gauge\n";
    out += "gatedrill_gateway_routes " + std::to_string(routes ? routes->table.size() : 0) + "\n";
  }

  // Discovery clusters get the live instances' addresses after every discovery round.
  void push_cluster_endpoints() {
    DataPlane* plane = data_for_discovery.load();
    if (!plane || !discovery) return;
    const auto& clusters = config.data.clusters;
    for (size_t i = 0; i < clusters.size(); ++i)
      if (!clusters[i].service.empty())
        plane->set_cluster_endpoints(i + 1, discovery->instances(clusters[i].service));
  }

  // The accept path: TLS handshakes running and waiting for a slot, the listen backlog.
  void listener_metrics(std::string& out) const {
    if (!data) return;
    const HandshakeStats stats = data->handshake_stats();
    for (auto [name, type, help, value] :
         {std::tuple{"gatedrill_gateway_tls_handshakes_in_flight", "gauge",
                     "TLS handshakes running (--max-handshakes-in-flight per worker)",
                     static_cast<uint64_t>(stats.in_flight)},
          std::tuple{"gatedrill_gateway_tls_handshakes_waiting", "gauge",
                     "Connections whose ClientHello waits for a handshake slot",
                     static_cast<uint64_t>(stats.waiting)},
          std::tuple{"gatedrill_gateway_tls_handshakes_total", "counter",
                     "TLS handshakes that succeeded", stats.done},
          std::tuple{"gatedrill_gateway_tls_handshakes_queued_total", "counter",
                     "TLS handshakes that waited for a slot (--max-handshakes-in-flight)",
                     stats.queued},

          std::tuple{"gatedrill_gateway_listen_backlog", "gauge",
                     "Connections waiting in the listen backlog to be accepted",
                     static_cast<uint64_t>(stats.backlog)},
          std::tuple{"gatedrill_gateway_listen_backlog_limit", "gauge",
                     "Size of the listen backlog (capped by net.core.somaxconn)",
                     static_cast<uint64_t>(stats.backlog_limit)}})
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
             name + " " + std::to_string(value) + "\n";
    out +=
        "# HELP gatedrill_gateway_tls_handshake_timeouts_total TLS connections past a handshake "
        "deadline, by stage (first_bytes 10 s, slot 30 s, handshake 10 s)\n"
        "# TYPE gatedrill_gateway_tls_handshake_timeouts_total counter\n";
    const char* stages[] = {"first_bytes", "slot", "handshake"};
    for (size_t i = 0; i < stats.timeouts.size(); ++i)
      out += std::string("gatedrill_gateway_tls_handshake_timeouts_total{stage=\"") + stages[i] +
             "\"} " + std::to_string(stats.timeouts[i]) + "\n";
  }

  // Per cluster: requests, errors by reason, breaker state, connections (the pool), endpoints.
  void cluster_metrics(std::string& out) const {
    if (!data) return;
    const auto stats = data->cluster_stats();
    auto family = [&](const char* name, const char* type, const char* help) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto label = [](const ClusterStats& c) { return "{cluster=\"" + c.name + "\""; };
    family("gatedrill_gateway_cluster_requests_total", "counter",
           "Requests routed to an upstream cluster");
    for (const auto& c : stats)
      out += "gatedrill_gateway_cluster_requests_total" + label(c) + "} " +
             std::to_string(c.requests) + "\n";
    family("gatedrill_gateway_cluster_errors_total", "counter",
           "Requests a cluster did not answer, by reason");
    for (const auto& c : stats)
      for (const auto& [reason, n] : c.errors)
        out += "gatedrill_gateway_cluster_errors_total" + label(c) + ",reason=\"" +
               std::string(reason) + "\"} " + std::to_string(n) + "\n";
    family("gatedrill_gateway_cluster_circuit_open", "gauge",
           "1 while the cluster's circuit breaker is open or half-open");
    for (const auto& c : stats)
      out += "gatedrill_gateway_cluster_circuit_open" + label(c) + "} " +
             (std::string_view(c.circuit) == "closed" ? "0" : "1") + "\n";
    for (auto [name, help, field] :
         {std::tuple{"gatedrill_gateway_cluster_connections", "Open upstream connections",
                     &ClusterStats::connections},
          std::tuple{"gatedrill_gateway_cluster_active_requests", "Requests in flight",
                     &ClusterStats::active_requests},
          std::tuple{"gatedrill_gateway_cluster_pending_requests",
                     "Requests waiting for a connection slot", &ClusterStats::pending},
          std::tuple{"gatedrill_gateway_cluster_endpoints",
                     "Endpoints known (discovery clusters: live instances)",
                     &ClusterStats::endpoints}}) {
      family(name, "gauge", help);
      for (const auto& c : stats) out += name + label(c) + "} " + std::to_string(c.*field) + "\n";
    }
  }
};

Gateway::Gateway(TimeSource& time, GatewayConfig config, JwksFetcher fetcher)
    : impl_(std::make_unique<Impl>(time, std::move(config), std::move(fetcher))) {}

Gateway::~Gateway() {
  stop();
}

Result<void> Gateway::start() {
  Impl& g = *impl_;
  if (!g.config.policy_paths.empty()) {
    PolicyOptions options;
    options.time = &g.time;
    options.timeout = g.config.policy_timeout;
    auto engine = PolicyEngine::load(g.config.policy_paths, options);
    if (!engine) return engine.error();
    g.config.authorizer = std::make_shared<RegoAuthorizer>(
        std::make_shared<const PolicyEngine>(std::move(*engine)), g.config.policy_query);
  }
  HttpServerOptions admin_options;
  admin_options.bind_address = g.config.admin_bind;
  admin_options.port = g.config.admin_port;
  g.admin = std::make_unique<AdminServer>(g.time, g.metrics, g.faults, admin_options);
  // Not ready while nothing can be routed (discovery waiting for the registry's first table).
  g.admin->set_health_check([&g] {
    return g.routes_from_registry_only && !g.routes_now.load()
               ? std::string("routes_not_loaded: waiting for the registry's first route table")
               : std::string();
  });
  // The first provider's state at the top level (as with one issuer), every one under
  // "providers".
  g.admin->route("GET", "/admin/jwks", [&g](const HttpRequest&) {
    boost::json::array providers;
    for (size_t i = 0; i < g.jwks.size(); ++i) {
      auto keys = g.jwks[i]->keys();
      providers.push_back(
          boost::json::object{{"issuer", g.providers[i].issuer},
                              {"loaded", keys != nullptr},
                              {"keys", keys ? static_cast<int64_t>(keys->entries().size()) : 0},
                              {"fetches", static_cast<int64_t>(g.jwks[i]->fetch_count())}});
    }
    boost::json::object body = providers.front().as_object();
    body["providers"] = std::move(providers);
    return json_ok(boost::json::serialize(body));
  });
  // The route table enforced: its version ("file", the registry's hash, "none") and size.
  g.admin->route("GET", "/admin/routes", [&g](const HttpRequest&) {
    const auto routes = g.routes_now.load();
    boost::json::object body{{"version", routes ? routes->version : std::string("none")},
                             {"routes", routes ? static_cast<int64_t>(routes->table.size()) : 0},
                             {"refused", g.registry_routes ? g.registry_routes->refused() : 0}};
    return json_ok(boost::json::serialize(body));
  });
  // Certificates and trust bundles from disk again, without dropping connections (seed 001).
  g.admin->route("POST", "/admin/tls/reload", [&g](const HttpRequest&) {
    if (!g.data) return json_error(503, "not_started", "the data plane is not running");
    auto reloaded = g.data->reload_tls();
    if (!reloaded) return json_error(400, reloaded.error().code, reloaded.error().message);
    g.tls_reloads.inc();
    return json_ok("{\"reloaded\":true}");
  });
  if (auto r = g.resolve_clusters(); !r) return r;
  if (auto r = g.start_control_plane(); !r) return r;
  if (g.config.audit) {
    g.audit = std::make_unique<AuditLog>(*g.config.audit);
    if (auto r = g.audit->start(); !r) return r;
  }
  if (auto r = g.admin->start(); !r) return r;

  for (auto& cache : g.jwks) cache->start();
  if (g.redis) {
    g.redis->start();
    // Ready should mean connected when Redis is there; a Redis that is down (a drill) is not an
    // error: requests then follow --revocation-fail and the local limits.
    const auto patience = std::max(std::chrono::milliseconds(1000), g.config.redis->timeout * 4);
    if (!g.redis->wait_up(patience))
      std::fprintf(stderr, "gateway %s: redis not reachable yet, continuing\n",
                   g.config.name.c_str());
  }
  DataPlaneHooks hooks;
  hooks.on_response = [&g](const ResponseInfo& info) { g.on_response(info); };
  hooks.on_upstream_error = [&g](std::string_view kind) { g.on_upstream_error(kind); };
  hooks.on_h2_event = [&g](std::string_view kind) { g.protocols.h2_event(kind); };
  if (g.overload.enabled()) {
    g.overload.start();
    hooks.overload_level = [&g] { return static_cast<int>(g.overload.level()); };
  }
  hooks.on_circuit_state = [&g](std::string_view cluster, const char* state) {
    if (cluster == "default") g.circuit_open.set(std::string_view(state) == "closed" ? 0 : 1);
    std::fprintf(stderr, "gateway %s: upstream circuit %s (cluster %.*s)\n", g.config.name.c_str(),
                 state, static_cast<int>(cluster.size()), cluster.data());
  };
  hooks.on_mtls_reject = [&g](std::string_view kind) {
    (kind == "plaintext" ? g.mtls_plaintext_rejects : g.mtls_handshake_rejects).inc();
  };
  if (g.config.authorizer && g.config.authz_cache_ttl.count() > 0)
    g.config.authorizer =
        std::make_shared<CachingAuthorizer>(g.config.authorizer, g.time, g.config.authz_cache_ttl);
  DataPlaneOptions data = g.config.data;
  data.filter_needs_headers =
      (g.config.authorizer && g.config.authorizer->reads_headers()) || g.siem != nullptr;
  data.strip_request_headers.push_back(g.config.subject_header);
  data.strip_request_headers.push_back(g.config.spiffe_header);
  g.data = std::make_unique<DataPlane>(
      g.time, std::move(data), [&g](const RequestView& r) { return g.filter(r); },
      std::move(hooks));
  if (auto r = g.data->start(); !r) {
    if (g.redis) g.redis->stop();
    for (auto& cache : g.jwks) cache->stop();
    g.admin->stop();
    return r;
  }
  g.data_for_discovery = g.data.get();
  g.push_cluster_endpoints();
  g.metrics.add_collector([&g](std::string& out) { g.cluster_metrics(out); });
  g.metrics.add_collector([&g](std::string& out) { g.listener_metrics(out); });
  g.metrics.add_collector([&g](std::string& out) { g.route_metrics(out); });
  g.metrics.add_collector([](std::string& out) {
    const TlsRecordCounts counts = tls_record_counts();
    out +=
        "# HELP gatedrill_gateway_tls_connections_total TLS handshakes completed, by the "
        "record layer the connection then used (own: TLS 1.3 with the SSL object freed)\n";
    out += "# TYPE gatedrill_gateway_tls_connections_total counter\n";
    out += "gatedrill_gateway_tls_connections_total{records=\"own\"} " +
           std::to_string(counts.own) + "\n";
    out += "gatedrill_gateway_tls_connections_total{records=\"openssl\"} " +
           std::to_string(counts.openssl) + "\n";
  });
  return {};
}

void Gateway::stop() {
  Impl& g = *impl_;
  // Redis first: its completions post to the data plane's loops, which must still exist.
  if (g.redis) g.redis->stop();
  g.data_for_discovery = nullptr;
  if (g.data) g.data->stop();
  for (auto& cache : g.jwks) cache->stop();
  if (g.admin) g.admin->stop();
  if (g.audit) g.audit->stop();
  if (g.siem) g.siem->stop();
  if (g.poller) g.poller->stop();
  if (g.registry_routes) g.registry_routes->stop();
  if (g.discovery) g.discovery->stop();
  if (g.quota_watcher) g.quota_watcher->stop();
  g.overload.stop();
}

void Gateway::sample_overload() {
  impl_->overload.sample_now();
}

void Gateway::flush_audit() {
  if (impl_->audit) impl_->audit->flush();
}

uint16_t Gateway::port() const {
  return impl_->data ? impl_->data->port() : 0;
}
void Gateway::flush_siem() {
  if (impl_->siem) impl_->siem->flush();
}

int64_t Gateway::policy_revision() const {
  return impl_->poller ? impl_->poller->revision() : 0;
}

bool Gateway::wait_policy_revision(int64_t want, std::chrono::milliseconds timeout) const {
  return impl_->poller && impl_->poller->wait_for_revision(want, timeout);
}

bool Gateway::wait_redis_up(std::chrono::milliseconds timeout) const {
  return impl_->redis && impl_->redis->wait_up(timeout);
}

uint16_t Gateway::mtls_port() const {
  return impl_->data ? impl_->data->mtls_port() : 0;
}
uint16_t Gateway::admin_port() const {
  return impl_->admin ? impl_->admin->port() : 0;
}

}  // namespace gatedrill::gateway

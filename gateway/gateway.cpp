#include "gateway/gateway.hpp"

#include <cstdio>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/admin/admin_server.hpp"
#include "core/admin/faults.hpp"
#include "core/admin/metrics.hpp"
#include "gateway/authn/jwt_authn.hpp"
#include "gateway/authz/decision_cache.hpp"
#include "gateway/overload/ballast_fault.hpp"
#include "gateway/policy/policy_engine.hpp"

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
  Counter& jwks_fetches;
  Counter& jwks_failures;
  Counter& token_cache_hits;
  Counter& token_cache_misses;
  Counter& upstream_connect_errors;
  Counter& upstream_timeouts;
  Counter& upstream_protocol_errors;
  Counter& mtls_handshake_rejects;
  Counter& mtls_plaintext_rejects;
  Gauge& circuit_open;
  Counter& audit_dropped;
  Counter& tls_reloads;
  LatencyMetric& latency;
  RequestCounters requests;
  JwksCache jwks;
  JwtAuthn authn;
  LocalRateLimiter limiter;
  OverloadManager overload;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<AdminServer> admin;
  std::unique_ptr<DataPlane> data;

  Impl(TimeSource& t, GatewayConfig c, JwksFetcher fetcher)
      : time(t),
        config(std::move(c)),
        faults(t),
        jwks_fetches(
            metrics.counter("gatedrill_gateway_jwks_fetches_total", "JWKS fetch attempts")),
        jwks_failures(
            metrics.counter("gatedrill_gateway_jwks_fetch_failures_total", "Failed JWKS fetches")),
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
        requests(metrics),
        jwks(t, config.jwks, fetcher ? std::move(fetcher) : http_jwks_fetcher(),
             JwksCacheHooks{[this] { jwks_fetches.inc(); },
                            [this](const std::string&) { jwks_failures.inc(); }}),
        authn(make_authn_config(config), jwks, t),
        limiter(t, config.rate_limit),
        overload(config.overload) {
    register_ballast_fault(faults);
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

  static JwtAuthnConfig make_authn_config(const GatewayConfig& c) {
    JwtAuthnConfig a;
    a.claims.issuer = c.issuer;
    a.claims.audiences = c.audiences;
    a.claims.leeway = c.leeway;
    a.algs = c.algs;
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
    if (config.routes) {
      std::string_view path = request.target.substr(0, request.target.find('?'));
      const Route* matched = config.routes->match(path);
      if (!matched) return local(404, "no_route", "no route for this path");
      route = matched->name;
    }
    FilterVerdict verdict = decide(request, route);
    verdict.route = std::string(route);
    if (config.authorizer) verdict.policy_version = config.authorizer->version();
    return verdict;
  }

  FilterVerdict decide(const RequestView& request, std::string_view route) {
    FilterVerdict verdict;
    AuthnResult result = authn.check(request.authorization);
    (result.cache_hit ? token_cache_hits : token_cache_misses).inc();
    if (!result.allowed()) {
      verdict.local_reply = true;
      verdict.status = result.status;
      verdict.reason = result.reason;
      verdict.message = result.description;
      if (result.status == 401)
        verdict.response_headers.emplace_back("WWW-Authenticate",
                                              bearer_challenge(result.description));
      return verdict;
    }
    if (config.authorizer) {
      std::string_view path = request.target.substr(0, request.target.find('?'));
      auto q = request.target.find('?');
      AuthzRequest authz;
      authz.method = request.method;
      authz.path = path;
      authz.query = q == std::string_view::npos ? std::string_view{} : request.target.substr(q + 1);
      authz.route = route;
      authz.protocol = request.secure ? "https" : "http";
      authz.authorization = request.authorization;
      authz.subject = result.subject;
      authz.spiffe_id = request.peer_identity;
      authz.headers = request.headers;
      AuthzDecision decision = config.authorizer->check(authz);
      if (!decision.allowed) {
        FilterVerdict denied = local(403, decision.reason, decision.message);
        denied.identity =
            std::string(request.peer_identity.empty() ? result.subject : request.peer_identity);
        return denied;
      }
    }
    if (limiter.enabled()) {
      std::string_view identity =
          request.peer_identity.empty() ? std::string_view(result.subject) : request.peer_identity;
      RateDecision decision = limiter.check(identity, route);
      if (!decision.allowed) {
        FilterVerdict limited =
            local(429, "rate_limited", "rate limit exceeded for this identity and route");
        limited.response_headers.emplace_back("Retry-After",
                                              std::to_string(decision.retry_after.count()));
        limited.identity = std::string(identity);
        return limited;
      }
    }
    verdict.identity =
        request.peer_identity.empty() ? result.subject : std::string(request.peer_identity);
    if (!result.subject.empty())
      verdict.upstream_headers.emplace_back(config.subject_header, result.subject);
    if (!request.peer_identity.empty())
      verdict.upstream_headers.emplace_back(config.spiffe_header,
                                            std::string(request.peer_identity));
    return verdict;
  }

  void on_response(const ResponseInfo& info) {
    requests.get(info.status, info.reason).inc();
    latency.observe_ns(info.latency_ns);
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
    if (!audit->submit(std::move(record))) audit_dropped.inc();
  }

  void on_upstream_error(std::string_view kind) {
    if (kind == "connect")
      upstream_connect_errors.inc();
    else if (kind == "timeout")
      upstream_timeouts.inc();
    else
      upstream_protocol_errors.inc();
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
  g.admin->set_health_check([] { return std::string(); });
  g.admin->route("GET", "/admin/jwks", [&g](const HttpRequest&) {
    auto keys = g.jwks.keys();
    boost::json::object body{{"loaded", keys != nullptr},
                             {"keys", keys ? static_cast<int64_t>(keys->entries().size()) : 0},
                             {"fetches", static_cast<int64_t>(g.jwks.fetch_count())}};
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
  if (g.config.audit) {
    g.audit = std::make_unique<AuditLog>(*g.config.audit);
    if (auto r = g.audit->start(); !r) return r;
  }
  if (auto r = g.admin->start(); !r) return r;

  g.jwks.start();
  DataPlaneHooks hooks;
  hooks.on_response = [&g](const ResponseInfo& info) { g.on_response(info); };
  hooks.on_upstream_error = [&g](std::string_view kind) { g.on_upstream_error(kind); };
  if (g.overload.enabled()) {
    g.overload.start();
    hooks.overload_level = [&g] { return static_cast<int>(g.overload.level()); };
  }
  hooks.on_circuit_state = [&g](const char* state) {
    g.circuit_open.set(std::string_view(state) == "closed" ? 0 : 1);
    std::fprintf(stderr, "gateway %s: upstream circuit %s\n", g.config.name.c_str(), state);
  };
  hooks.on_mtls_reject = [&g](std::string_view kind) {
    (kind == "plaintext" ? g.mtls_plaintext_rejects : g.mtls_handshake_rejects).inc();
  };
  if (g.config.authorizer && g.config.authz_cache_ttl.count() > 0)
    g.config.authorizer =
        std::make_shared<CachingAuthorizer>(g.config.authorizer, g.time, g.config.authz_cache_ttl);
  DataPlaneOptions data = g.config.data;
  data.filter_needs_headers = g.config.authorizer != nullptr;
  data.strip_request_headers.push_back(g.config.subject_header);
  data.strip_request_headers.push_back(g.config.spiffe_header);
  g.data = std::make_unique<DataPlane>(
      g.time, std::move(data), [&g](const RequestView& r) { return g.filter(r); },
      std::move(hooks));
  if (auto r = g.data->start(); !r) {
    g.jwks.stop();
    g.admin->stop();
    return r;
  }
  return {};
}

void Gateway::stop() {
  Impl& g = *impl_;
  if (g.data) g.data->stop();
  g.jwks.stop();
  if (g.admin) g.admin->stop();
  if (g.audit) g.audit->stop();
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
uint16_t Gateway::mtls_port() const {
  return impl_->data ? impl_->data->mtls_port() : 0;
}
uint16_t Gateway::admin_port() const {
  return impl_->admin ? impl_->admin->port() : 0;
}

}  // namespace gatedrill::gateway

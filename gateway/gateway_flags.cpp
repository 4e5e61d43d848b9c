#include "gateway/gateway_flags.hpp"

#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "core/util/strings.hpp"
#include "gateway/proxy/header_rules.hpp"

namespace gatedrill::gateway {

namespace {

Error usage(std::string message) {
  return make_error("usage", std::move(message));
}

Result<std::chrono::milliseconds> positive_ms(std::string_view flag, const std::string& text) {
  auto d = parse_duration(text);
  if (!d) return usage("--" + std::string(flag) + ": " + d.error().message);
  if (d->count() <= 0) return usage("--" + std::string(flag) + " must be > 0");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

Result<std::pair<std::string, uint16_t>> host_port(std::string_view flag, const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return usage("--" + std::string(flag) + " must be host:port (got '" + text + "')");
  try {
    size_t used = 0;
    int port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || port < 0 || port > 65535)
      throw std::out_of_range("port");
    return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
  } catch (const std::exception&) {
    return usage("--" + std::string(flag) + " port must be 0..65535 (got '" + text + "')");
  }
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<size_t> positive_size(std::string_view flag, const std::string& text) {
  auto s = parse_size(text);
  if (!s) return usage("--" + std::string(flag) + ": " + s.error().message);
  if (*s <= 0) return usage("--" + std::string(flag) + " must be > 0");
  return static_cast<size_t>(*s);
}

}  // namespace

void GatewayFlags::register_with(ArgParser& args) {
  args.option("name", &name, "node name (default gw-1)");
  args.option("listen", &listen, "data-plane address host:port (default 127.0.0.1:0)");
  args.option("admin-port", &admin_port, "admin port on 127.0.0.1 (0: any free port)");
  args.option("tls-cert", &tls_cert, "server certificate chain (PEM)");
  args.option("tls-key", &tls_key, "server private key (PEM)");
  args.flag("plaintext", &plaintext, "serve plain HTTP instead of TLS (tests, local drills)");
  args.option("issuer", &issuer, "expected iss of tokens (required)");
  args.option("jwks-uri", &jwks_uri, "issuer JWKS URL (required)");
  args.option("audience", &audience, "expected aud (any when empty)");
  args.option("algs", &algs, "accepted algs (default RS256,ES256,PS256,EdDSA)");
  args.option("leeway", &leeway, "clock leeway for exp/nbf/iat (default 60s)");
  args.option("providers", &providers_file,
              "JSON trusted issuers [{\"issuer\", \"jwks_uri\", \"audiences\": [...], \"algs\": "
              "[...], \"leeway\"}]; the token's iss picks one (instead of --issuer, --jwks-uri, "
              "--audience, --algs, --leeway)");
  args.option("upstream", &upstream,
              "the default cluster: upstream URL http://host:port or https://host:port (required)");
  args.option("upstream-ca", &upstream_ca,
              "https:// --upstream: CA bundle (PEM) its certificate must chain to (default: the "
              "system's)");
  args.option("upstream-sni", &upstream_sni,
              "https:// --upstream: the name sent as SNI and required in its certificate "
              "(default: its host)");
  args.option("upstream-cert", &upstream_cert,
              "https:// --upstream: client certificate chain (PEM) for mTLS to the upstream");
  args.option("upstream-key", &upstream_key, "the --upstream-cert private key (PEM)");
  args.option("clusters", &clusters_file,
              "JSON upstream clusters [{\"name\":..., \"endpoints\": [\"http://h:p\"] | "
              "\"service\": ..., \"lb\", \"tls\", limits}]; routes pick one with \"cluster\"");
  args.option("max-upstream-pending", &max_upstream_pending,
              "requests that may wait for an upstream connection slot (default 0: none wait)");
  args.option("threads", &threads, "event-loop threads (default 1)");
  args.option("upstream-timeout", &upstream_timeout, "upstream request timeout (default 5s)");
  args.option("upstream-connect-timeout", &upstream_connect_timeout,
              "upstream connect timeout (default 2s)");
  args.option("jwks-ttl", &jwks_ttl, "JWKS refresh interval (default 300s)");
  args.option("jwks-cooldown", &jwks_cooldown,
              "minimum time between unknown-kid refetches (default 30s)");
  args.option("token-cache-entries", &token_cache_entries,
              "verified tokens remembered, so a repeated token skips the signature check "
              "(default 10000; 0: off, every request is verified with the JWKS keys)");
  args.option("max-uri", &max_uri, "longest request target (default 8k; longer: 414)");
  args.option("max-headers", &max_headers, "header bytes (default 16k; more: 431)");
  args.option("max-header-count", &max_header_count, "header fields (default 100; more: 431)");
  args.option("max-body", &max_body, "request body bytes (default 1M; more: 413)");
  args.option("header-timeout", &header_timeout, "time to receive headers and body (default 10s)");
  args.option("idle-timeout", &idle_timeout,
              "idle timeout: HTTP/1.1 between requests, HTTP/2 while no stream is open, "
              "WebSocket both ways silent (default 60s)");
  args.option("write-timeout", &write_timeout,
              "close a client connection when 64 KB of its answer does not go out within this "
              "(HTTP/1.1, WebSocket, HTTP/2) (default 10s)");
  args.option("stream-idle-timeout", &stream_idle_timeout,
              "HTTP/2: end a stream with nothing moving either way this long (gRPC: "
              "grpc-status 4) (default 300s; 0: off)");
  args.option("mtls-listen", &mtls_listen,
              "mTLS listener host:port (same host as --listen), needs --client-ca");
  args.option("client-ca", &client_ca, "trust bundle (PEM) client certificates must chain to");
  args.option("crl", &crl, "PEM CRL(s) of the client CA (revoked client certificates are refused)");
  args.option("trust-domain", &trust_domain,
              "required SPIFFE trust domain of clients (any when empty)");
  args.option("subject-header", &subject_header,
              "upstream header carrying the token's sub (default x-gatedrill-sub)");
  args.option("spiffe-header", &spiffe_header,
              "upstream header carrying the client's SPIFFE ID (default x-gatedrill-spiffe-id)");
  args.option("rate-limit", &rate_limit, "requests/s per identity and route (default 0: off)");
  args.option("burst", &burst, "token-bucket size (default: the rate, at least 1)");
  args.repeated("rate-limit-override", &rate_limit_overrides,
                "ID=RPS[:BURST] for one identity (sub or SPIFFE ID)");
  args.option("routes", &routes_file,
              "JSON route table [{\"name\":..., \"prefix\"|\"exact\": \"/...\"}]");
  args.repeated("allow", &allow_rules, "authz allow rule IDENTITY@ROUTE[:GET,POST] ('*' for any)");
  args.repeated("policy", &policy_paths,
                "Rego policy file or directory (authz through the policy engine)");
  args.option("policy-query", &policy_query, "the decision (default data.gatedrill.authz.allow)");
  args.option("policy-timeout", &policy_timeout,
              "evaluation budget; over it denies (default 50ms)");
  args.option("max-upstream-connections", &max_upstream_connections,
              "upstream connections, all threads (default 4096)");
  args.option("max-upstream-requests", &max_upstream_requests,
              "requests in flight upstream (default 4096)");
  args.option("upstream-max-streams", &upstream_max_streams,
              "gRPC streams per upstream h2 connection before another opens (default 100)");
  args.option("breaker-failures", &breaker_failures,
              "consecutive upstream failures that open the circuit (default 5, 0: never)");
  args.option("breaker-open-for", &breaker_open_for,
              "how long the circuit stays open before a probe (default 5s)");
  args.option("audit-log", &audit_log, "decision log file (one JSON line per request)");
  args.option("audit-max-size", &audit_max_size,
              "rotate the decision log past this size (default 64M)");
  args.option("audit-keep", &audit_keep, "rotated decision logs kept (default 3)");
  args.option("jwks-unavailable-status", &jwks_unavailable_status,
              "answer while no JWKS was ever fetched: 401 (default) or 500");
  args.option("memory-budget", &memory_budget,
              "memory budget, e.g. 512M: keep-alive off at 80%, 503 at 95% (default: off)");
  args.option("authz-cache-ttl", &authz_cache_ttl,
              "cache allow decisions per credential, method and path for this long (default: off)");
  args.option("redis", &redis,
              "redis://127.0.0.1:PORT: JTI revocation (key gatedrill:revoked:jti:<jti>, set by "
              "the IdP's POST /admin/revoke) and the global rate limit");
  args.option("redis-timeout", &redis_timeout,
              "connect and reply budget of the Redis link; over it the link is down (default "
              "250ms)");
  args.option("revocation-fail", &revocation_fail,
              "Redis unreachable during a revocation check: closed (default: 503 "
              "revocation_unavailable) or open (let the token through, counted)");
  args.option("revocation-cache-ttl", &revocation_cache_ttl,
              "trust a 'not revoked' answer this long (default 1s; 0: ask every time)");
  args.option("global-rate-limit", &global_rate_limit,
              "requests per window per identity and route across all nodes, counted in Redis "
              "(default 0: off; Redis down: local limits only)");
  args.option("global-window", &global_window, "the global rate-limit window (default 1s)");
  args.option("registry", &registry,
              "policy registry http://host:port: enforce its bundle (polled; last good bundle "
              "kept while it is offline; none yet: 503 no_policy). Excludes --policy/--allow");
  args.option("registry-poll", &registry_poll,
              "bundle and quota poll interval (default 1s); the registry's quotas (seed 003) set "
              "the local rate limit per route by its service");
  args.flag("no-registry-jitter", &no_registry_jitter,
            "retry a failed registry poll after exactly the backoff cap (default: full jitter)");
  args.flag("ignore-registry-quotas", &ignore_registry_quotas,
            "keep --rate-limit/--burst, whatever quotas the registry publishes");
  args.option("discovery", &discovery,
              "registry http://host:port serving /v1/discovery, or 'registry' for --registry's: "
              "a route whose service has no live registration answers 503 service_not_found "
              "(needs --routes, or --registry: then 503 routes_not_loaded until its first table)");
  args.option("discovery-poll", &discovery_poll, "discovery poll interval (default 1s)");
  args.option("siem-url", &siem_url,
              "mirror request metadata and headers (no bodies, no credentials) to "
              "http://host:port/path (NDJSON batches) or udp://host:port (one JSON datagram each)");
  args.option("siem-queue", &siem_queue,
              "records waiting for the SIEM sink; more are dropped and counted (default 10000)");
  args.flag("reuse-port", &reuse_port, "SO_REUSEPORT on the listeners (several worker processes)");
  args.option("max-handshakes-in-flight", &max_handshakes_in_flight,
              "TLS handshakes running at once per worker; more wait for one to end, first come "
              "first served (default 256, 0: no cap)");
  args.flag("no-http2", &no_http2, "HTTP/1.1 only (no ALPN h2, no h2c prior knowledge)");
  args.option("tls-records", &tls_records,
              "own | openssl: after a TLS 1.3 handshake the gateway's own record layer protects "
              "the connection and OpenSSL's SSL object is freed (own, default), or OpenSSL "
              "keeps it");
  args.option("grpc-upstream", &grpc_upstream,
              "gRPC calls go over HTTP/2 to this http://host:port (h2c) or https://host:port "
              "(TLS with ALPN h2 and the --upstream-ca/--upstream-sni/--upstream-cert settings) "
              "(default: --upstream)");
  args.option("h2-max-streams", &h2_max_streams,
              "concurrent streams per HTTP/2 connection (default 100)");
  args.option("h2-max-resets", &h2_max_resets,
              "RST_STREAM per second and connection before GOAWAY ENHANCE_YOUR_CALM (default 100)");
  args.flag("mtls-permissive", &mtls_permissive,
            "serve plaintext on the mTLS port too (default: strict)");
}

Result<GatewayConfig> GatewayFlags::to_config() const {
  GatewayConfig c;
  c.name = name;
  auto listen_at = host_port("listen", listen);
  if (!listen_at) return listen_at.error();
  c.data.bind_address = listen_at->first;
  c.data.port = listen_at->second;
  if (admin_port < 0 || admin_port > 65535) return usage("--admin-port must be 0..65535");
  c.admin_port = static_cast<uint16_t>(admin_port);
  if (threads < 1 || threads > 256) return usage("--threads must be 1..256");
  c.data.threads = static_cast<int>(threads);

  if (plaintext && mtls_listen.empty() && (!tls_cert.empty() || !tls_key.empty()))
    return usage(
        "--plaintext and --tls-cert/--tls-key exclude each other (unless --mtls-listen uses them)");
  if (!plaintext) {
    if (tls_cert.empty() || tls_key.empty())
      return usage("TLS needs --tls-cert and --tls-key (or pass --plaintext)");
    c.data.tls = TlsServerConfig{tls_cert, tls_key};
  }

  if (!mtls_listen.empty()) {
    auto at = host_port("mtls-listen", mtls_listen);
    if (!at) return at.error();
    if (at->first != c.data.bind_address)
      return usage("--mtls-listen must use the same host as --listen");
    if (client_ca.empty()) return usage("--mtls-listen needs --client-ca");
    if (tls_cert.empty() || tls_key.empty())
      return usage("--mtls-listen needs --tls-cert and --tls-key");
    MtlsListenerOptions m;
    m.port = at->second;
    m.cert_chain_file = tls_cert;
    m.key_file = tls_key;
    m.client_ca_file = client_ca;
    m.crl_file = crl;
    m.trust_domain = trust_domain;
    m.strict = !mtls_permissive;
    c.data.mtls = m;
  } else if (!client_ca.empty() || !crl.empty() || !trust_domain.empty() || mtls_permissive) {
    return usage("--client-ca, --crl, --trust-domain and --mtls-permissive need --mtls-listen");
  }

  for (const auto& [flag, header] :
       {std::pair<const char*, const std::string*>{"subject-header", &subject_header},
        {"spiffe-header", &spiffe_header}}) {
    bool token = !header->empty();
    for (char ch : *header)
      token = token && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_');
    if (!token)
      return usage(std::string("--") + flag + " must be a header name (letters, digits, '-')");
    if (is_hop_by_hop(*header) || iequals(*header, "host") || iequals(*header, "authorization"))
      return usage(std::string("--") + flag + " cannot be " + *header);
  }
  c.subject_header = to_lower(subject_header);
  c.spiffe_header = to_lower(spiffe_header);

  if (rate_limit < 0 || burst < 0) return usage("--rate-limit and --burst must be >= 0");
  c.rate_limit.defaults = RateLimit{rate_limit, burst > 0 ? burst : rate_limit};
  for (const auto& text : rate_limit_overrides) {
    auto eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0)
      return usage("--rate-limit-override must be ID=RPS[:BURST] (got '" + text + "')");
    std::string numbers = text.substr(eq + 1);
    auto colon = numbers.find(':');
    try {
      size_t used = 0;
      RateLimit limit;
      limit.requests_per_second = std::stod(numbers.substr(0, colon), &used);
      if (used != numbers.substr(0, colon).size()) throw std::invalid_argument("rps");
      limit.burst_capacity = limit.requests_per_second;
      if (colon != std::string::npos) {
        limit.burst_capacity = std::stod(numbers.substr(colon + 1), &used);
        if (used != numbers.size() - colon - 1) throw std::invalid_argument("burst");
      }
      if (limit.requests_per_second < 0 || limit.burst_capacity < 0)
        throw std::invalid_argument("negative");
      c.rate_limit.overrides[text.substr(0, eq)] = limit;
    } catch (const std::exception&) {
      return usage("--rate-limit-override must be ID=RPS[:BURST] with numbers >= 0 (got '" + text +
                   "')");
    }
  }
  if (!routes_file.empty()) {
    auto text = read_text(routes_file);
    if (!text) return usage("--routes: cannot read " + routes_file);
    auto table = RouteTable::from_json(*text);
    if (!table) return usage("--routes " + routes_file + ": " + table.error().message);
    c.routes = std::move(*table);
  }

  if (!allow_rules.empty() && !policy_paths.empty())
    return usage("--allow and --policy exclude each other");
  if (!allow_rules.empty()) {
    std::vector<AllowRule> rules;
    for (const auto& text : allow_rules) {
      auto rule = AllowRule::parse(text);
      if (!rule) return usage("--allow: " + rule.error().message);
      rules.push_back(std::move(*rule));
    }
    c.authorizer = std::make_shared<AllowListAuthorizer>(std::move(rules));
  }
  if (!policy_paths.empty()) {
    auto timeout = positive_ms("policy-timeout", policy_timeout);
    if (!timeout) return timeout.error();
    c.policy_paths = policy_paths;
    c.policy_query = policy_query;
    c.policy_timeout = *timeout;
  }

  if (auto r = providers_to_config(c); !r) return r.error();
  if (c.providers.empty()) {
    if (issuer.empty()) return usage("--issuer is required (or --providers)");
    if (jwks_uri.empty()) return usage("--jwks-uri is required");
    if (auto u = Url::parse(jwks_uri); !u) return usage("--jwks-uri: " + u.error().message);
    c.issuer = issuer;
    c.jwks.jwks_uri = jwks_uri;
    if (!audience.empty()) c.audiences.push_back(audience);
    for (auto name : split(algs, ',')) {
      auto alg = parse_jws_alg(trim(name));
      if (!alg)
        return usage("--algs: '" + std::string(trim(name)) +
                     "' is not one of RS256, ES256, PS256, EdDSA");
      c.algs.push_back(*alg);
    }
    if (c.algs.empty()) return usage("--algs must name at least one algorithm");
    auto leeway_d = parse_duration(leeway);
    if (!leeway_d) return usage("--leeway: " + leeway_d.error().message);
    if (leeway_d->count() < 0) return usage("--leeway must be >= 0");
    c.leeway = std::chrono::duration_cast<std::chrono::seconds>(*leeway_d);
  }

  if (upstream.empty()) return usage("--upstream is required");
  auto up = Url::parse(upstream);
  if (!up) return usage("--upstream: " + up.error().message);
  c.data.upstream = *up;
  if (up->scheme == "https") {
    UpstreamTlsOptions tls{upstream_ca, upstream_sni, upstream_cert, upstream_key};
    if (!upstream_key.empty() && upstream_cert.empty())
      return usage("--upstream-key needs --upstream-cert");
    for (auto [flag, file] :
         {std::pair{"upstream-ca", &upstream_ca}, std::pair{"upstream-cert", &upstream_cert},
          std::pair{"upstream-key", &upstream_key}})
      if (!file->empty() && !std::ifstream(*file))
        return usage("--" + std::string(flag) + ": cannot read " + *file);
    c.data.upstream_tls = tls;
  } else if (!upstream_ca.empty() || !upstream_sni.empty() || !upstream_cert.empty() ||
             !upstream_key.empty()) {
    return usage("--upstream-ca/-sni/-cert/-key need an https:// --upstream");
  }

  auto set_ms = [](std::string_view flag, const std::string& text,
                   std::chrono::milliseconds& out) -> Result<void> {
    auto v = positive_ms(flag, text);
    if (!v) return v.error();
    out = *v;
    return {};
  };
  auto set_size = [](std::string_view flag, const std::string& text, size_t& out) -> Result<void> {
    auto v = positive_size(flag, text);
    if (!v) return v.error();
    out = *v;
    return {};
  };
  for (auto r : {set_ms("upstream-timeout", upstream_timeout, c.data.upstream_timeout),
                 set_ms("upstream-connect-timeout", upstream_connect_timeout,
                        c.data.upstream_connect_timeout),
                 set_ms("jwks-ttl", jwks_ttl, c.jwks.ttl),
                 set_ms("jwks-cooldown", jwks_cooldown, c.jwks.unknown_kid_cooldown),
                 set_ms("header-timeout", header_timeout, c.data.header_timeout),
                 set_ms("idle-timeout", idle_timeout, c.data.idle_timeout),
                 set_ms("write-timeout", write_timeout, c.data.write_timeout),
                 set_size("max-uri", max_uri, c.data.max_uri_bytes),
                 set_size("max-headers", max_headers, c.data.max_header_bytes),
                 set_size("max-body", max_body, c.data.max_body_bytes)})
    if (!r) return r.error();
  if (max_header_count < 1) return usage("--max-header-count must be >= 1");
  auto stream_idle = parse_duration(stream_idle_timeout);  // 0 turns it off
  if (!stream_idle) return usage("--stream-idle-timeout: " + stream_idle.error().message);
  if (stream_idle->count() < 0) return usage("--stream-idle-timeout must be >= 0 (0: off)");
  c.data.stream_idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*stream_idle);
  if (!audit_log.empty()) {
    AuditLogOptions a;
    a.path = audit_log;
    auto size = positive_size("audit-max-size", audit_max_size);
    if (!size) return size.error();
    a.max_file_bytes = *size;
    if (audit_keep < 0 || audit_keep > 100) return usage("--audit-keep must be 0..100");
    a.keep_files = static_cast<int>(audit_keep);
    c.audit = a;
  }
  if (jwks_unavailable_status != 401 && jwks_unavailable_status != 500)
    return usage("--jwks-unavailable-status must be 401 or 500");
  c.jwks_unavailable_status = static_cast<int>(jwks_unavailable_status);
  if (token_cache_entries < 0 || token_cache_entries > 10'000'000)
    return usage("--token-cache-entries must be 0..10000000");
  c.token_cache_entries = static_cast<size_t>(token_cache_entries);
  c.data.reuse_port = reuse_port;
  if (max_handshakes_in_flight < 0 || max_handshakes_in_flight > 1'000'000)
    return usage("--max-handshakes-in-flight must be 0..1000000");
  c.data.max_handshakes_in_flight = static_cast<size_t>(max_handshakes_in_flight);
  c.data.http2 = !no_http2;
  if (tls_records != "own" && tls_records != "openssl")
    return usage("--tls-records must be own or openssl (got '" + tls_records + "')");
  c.data.own_tls_records = tls_records == "own";
  if (h2_max_streams < 1 || h2_max_streams > 1'000'000)
    return usage("--h2-max-streams must be 1..1000000");
  c.data.h2_max_concurrent_streams = static_cast<uint32_t>(h2_max_streams);
  if (h2_max_resets < 1 || h2_max_resets > 1'000'000)
    return usage("--h2-max-resets must be 1..1000000");
  c.data.h2_max_resets_per_second = static_cast<int>(h2_max_resets);
  if (!grpc_upstream.empty()) {
    auto grpc = Url::parse(grpc_upstream);
    if (!grpc) return usage("--grpc-upstream: " + grpc.error().message);
    if (grpc->scheme != "http" && grpc->scheme != "https")
      return usage("--grpc-upstream must be an http:// (h2c) or https:// URL");
    c.data.grpc_upstream = *grpc;
  }
  if (!authz_cache_ttl.empty()) {
    auto ttl = positive_ms("authz-cache-ttl", authz_cache_ttl);
    if (!ttl) return ttl.error();
    c.authz_cache_ttl = *ttl;
  }
  if (!memory_budget.empty()) {
    auto budget = positive_size("memory-budget", memory_budget);
    if (!budget) return budget.error();
    c.overload.memory_budget_bytes = static_cast<int64_t>(*budget);
  }
  if (max_upstream_connections < 1) return usage("--max-upstream-connections must be >= 1");
  if (max_upstream_requests < 1) return usage("--max-upstream-requests must be >= 1");
  if (upstream_max_streams < 1 || upstream_max_streams > 10'000'000)
    return usage("--upstream-max-streams must be 1..10000000");
  c.data.upstream_max_streams = static_cast<size_t>(upstream_max_streams);
  if (breaker_failures < 0 || breaker_failures > 1000000)
    return usage("--breaker-failures must be 0..1000000");
  c.data.max_upstream_connections = static_cast<size_t>(max_upstream_connections);
  c.data.max_upstream_requests = static_cast<size_t>(max_upstream_requests);
  c.data.breaker.consecutive_failures = static_cast<int>(breaker_failures);
  auto open_for = positive_ms("breaker-open-for", breaker_open_for);
  if (!open_for) return open_for.error();
  c.data.breaker.open_for = *open_for;
  c.data.max_header_count = static_cast<size_t>(max_header_count);
  if (auto r = redis_to_config(c); !r) return r.error();
  if (max_upstream_pending < 0 || max_upstream_pending > 10'000'000)
    return usage("--max-upstream-pending must be 0..10000000");
  c.data.max_upstream_pending = static_cast<size_t>(max_upstream_pending);
  if (auto r = control_plane_to_config(c); !r) return r.error();
  if (auto r = clusters_to_config(c); !r) return r.error();
  return c;
}

Result<void> GatewayFlags::clusters_to_config(GatewayConfig& c) const {
  if (!clusters_file.empty()) {
    auto text = read_text(clusters_file);
    if (!text) return usage("--clusters: cannot read " + clusters_file);
    // What a cluster leaves out, it takes from the default cluster's flags.
    ClusterOptions defaults;
    defaults.connect_timeout = c.data.upstream_connect_timeout;
    defaults.timeout = c.data.upstream_timeout;
    defaults.max_connections = c.data.max_upstream_connections;
    defaults.max_pending = c.data.max_upstream_pending;
    defaults.max_requests = c.data.max_upstream_requests;
    defaults.max_concurrent_streams = c.data.upstream_max_streams;
    defaults.breaker = c.data.breaker;
    auto clusters = parse_clusters_json(*text, defaults);
    if (!clusters) return usage("--clusters " + clusters_file + ": " + clusters.error().message);
    c.data.clusters = std::move(*clusters);
  }
  for (const auto& cluster : c.data.clusters)
    if (!cluster.service.empty() && c.discovery_url.empty())
      return usage("--clusters " + clusters_file + ": cluster " + cluster.name +
                   " takes its endpoints from service '" + cluster.service +
                   "', which needs --discovery");
  if (!c.routes) return {};
  for (const auto& route : c.routes->routes()) {
    if (route.cluster.empty() || route.cluster == "default") continue;
    bool known = false;
    for (const auto& cluster : c.data.clusters) known = known || cluster.name == route.cluster;
    if (!known)
      return usage(
          "--routes " + routes_file + ": route " + route.name + " names cluster '" + route.cluster +
          "', which " +
          (clusters_file.empty() ? "needs --clusters" : "is not in --clusters " + clusters_file));
  }
  return {};
}

Result<void> GatewayFlags::providers_to_config(GatewayConfig& c) const {
  if (providers_file.empty()) return {};
  // One way to name the issuers: the file or the single-issuer flags, never a mix.
  if (!issuer.empty() || !jwks_uri.empty() || !audience.empty() || algs != GatewayFlags{}.algs ||
      leeway != GatewayFlags{}.leeway)
    return usage(
        "--providers excludes --issuer, --jwks-uri, --audience, --algs and --leeway (put them in "
        "the providers file)");
  auto text = read_text(providers_file);
  if (!text) return usage("--providers: cannot read " + providers_file);
  auto providers = parse_providers_json(*text);
  if (!providers) return usage("--providers " + providers_file + ": " + providers.error().message);
  c.providers = std::move(*providers);
  return {};
}

Result<void> GatewayFlags::control_plane_to_config(GatewayConfig& c) const {
  auto http_url = [](std::string_view flag, const std::string& text) -> Result<void> {
    auto u = Url::parse(text);
    if (!u) return usage("--" + std::string(flag) + ": " + u.error().message);
    if (u->scheme != "http") return usage("--" + std::string(flag) + " must be an http:// URL");
    return {};
  };
  if (!registry.empty()) {
    if (!allow_rules.empty() || !policy_paths.empty())
      return usage("--registry excludes --policy and --allow");
    if (auto r = http_url("registry", registry); !r) return r;
    auto poll = positive_ms("registry-poll", registry_poll);
    if (!poll) return poll.error();
    c.registry_url = registry;
    while (!c.registry_url.empty() && c.registry_url.back() == '/') c.registry_url.pop_back();
    c.registry_poll = *poll;
    c.registry_quotas = !ignore_registry_quotas;
    c.registry_jitter = !no_registry_jitter;
  }
  if (!discovery.empty()) {
    // "registry": the registry given by --registry also serves discovery (seed 003).
    const bool via_registry = discovery == "registry";
    if (via_registry && registry.empty()) return usage("--discovery registry needs --registry");
    if (!via_registry)
      if (auto r = http_url("discovery", discovery); !r) return r;
    // Services are per route: from the --routes file, or from the registry's table (nothing is
    // served until it arrives).
    if (routes_file.empty() && registry.empty())
      return usage(
          "--discovery needs --routes, or --registry serving the routes (services are "
          "per route)");
    auto poll = positive_ms("discovery-poll", discovery_poll);
    if (!poll) return poll.error();
    c.discovery_url = via_registry ? c.registry_url : discovery;
    while (!c.discovery_url.empty() && c.discovery_url.back() == '/') c.discovery_url.pop_back();
    c.discovery_poll = *poll;
  }
  if (!siem_url.empty()) {
    if (auto r = check_siem_url(siem_url); !r) return r;
    if (siem_queue < 1 || siem_queue > 10000000) return usage("--siem-queue must be 1..10000000");
    SiemOptions s;
    s.url = siem_url;
    s.queue_capacity = static_cast<size_t>(siem_queue);
    c.siem = s;
  }
  return {};
}

Result<void> GatewayFlags::redis_to_config(GatewayConfig& c) const {
  if (revocation_fail != "closed" && revocation_fail != "open")
    return usage("--revocation-fail must be closed or open (got '" + revocation_fail + "')");
  c.revocation.fail_open = revocation_fail == "open";
  auto ttl = parse_duration(revocation_cache_ttl);
  if (!ttl) return usage("--revocation-cache-ttl: " + ttl.error().message);
  if (ttl->count() < 0) return usage("--revocation-cache-ttl must be >= 0");
  c.revocation.cache_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(*ttl);
  if (global_rate_limit < 0) return usage("--global-rate-limit must be >= 0");
  c.global_rate_limit.requests_per_window = global_rate_limit;
  auto window = positive_ms("global-window", global_window);
  if (!window) return window.error();
  c.global_rate_limit.window = *window;
  if (redis.empty()) {
    if (global_rate_limit > 0) return usage("--global-rate-limit needs --redis");
    return {};
  }
  auto link = parse_redis_url(redis);
  if (!link) return usage("--redis: " + link.error().message);
  auto timeout = positive_ms("redis-timeout", redis_timeout);
  if (!timeout) return timeout.error();
  link->timeout = *timeout;
  c.redis = *link;
  return {};
}

}  // namespace gatedrill::gateway

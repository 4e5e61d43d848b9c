#pragma once
// What a scenario file declares, after validation: the topology to start, the load phases, the
// fault timeline, thresholds and expectations. Built by ScenarioScript (scenario_script.hpp).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gatedrill {

struct UpstreamSpec {
  std::chrono::nanoseconds latency{0};
  int64_t body_bytes = 512;
  int status = 200;
  int threads = 1;
};

// A named upstream cluster (topology.upstreams): an upstream peer of its own (a node named after
// the cluster), an entry in the gateways' --clusters file, and a stream "<name>@gw-N" of the load
// on its first route. Limits left at 0 come from the gateway's default cluster flags.
struct ClusterSpec {
  std::string name;
  UpstreamSpec upstream;
  int max_requests = 0;
  int max_connections = 0;
  int max_pending = 0;
  int breaker_failures = 0;
  std::chrono::nanoseconds timeout{0};
  std::chrono::nanoseconds connect_timeout{0};
  std::chrono::nanoseconds breaker_open_for{0};
};

// What one further issuer (jwt.issuers) does differently from the topology's jwt settings.
struct IssuerSettings {
  std::string idp_alg;                             // what its IdP signs with; "" = jwt.idp_alg
  std::vector<std::string> algs;                   // the gateways accept from it; {} = jwt.algs
  std::optional<std::chrono::nanoseconds> leeway;  // the gateways allow it; none = jwt.leeway
};

// topology.routes: a path prefix and the cluster it goes to ("app": the default cluster).
struct RouteSpec {
  std::string prefix;
  std::string cluster;
};

// Gateway flags a scenario can set (the rest keep the gateway's defaults).
struct GatewaySpec {
  int64_t memory_budget_bytes = 0;  // --memory-budget; 0 = off
  double rate_limit = 0;            // --rate-limit requests/s per identity and route; 0 = off
  double burst = 0;                 // --burst; 0 = the gateway's default
  std::vector<std::string> rate_limit_overrides;  // --rate-limit-override ID=RPS[:BURST]
  std::chrono::nanoseconds jwks_ttl{0};           // --jwks-ttl; 0 = default
  std::chrono::nanoseconds jwks_cooldown{0};      // --jwks-cooldown; 0 = default
  std::vector<std::string> args;                  // passed as they are, last
};

// mTLS through the CA peer (tls = "mtls") and the policy registry peer (registry = true).
struct PkiSpec {
  std::string trust_domain = "gatedrill.test";
  std::chrono::nanoseconds svid_ttl =
      std::chrono::hours(1);  // gateways' serving SVIDs, rotated at half-life
  std::chrono::nanoseconds client_ttl = std::chrono::hours(24);  // the load's client SVID
  int requests_per_connection = 0;  // > 0: the load re-handshakes (and is re-verified) this often
};

struct RegistrySpec {
  bool enabled = false;
  std::string policy_file;  // as written, relative to the scenario's folder
  std::string policy_path;  // resolved
  std::string policy_text;  // read at validation
  std::chrono::nanoseconds poll = std::chrono::seconds(1);
  std::chrono::nanoseconds heartbeat_ttl = std::chrono::seconds(2);  // of the "app" registration
  bool discovery = false;  // gateways check the route's service in the registry's discovery
  bool jitter = true;      // the gateways' pollers back off with full jitter (false: in lockstep)
  // With discovery: the routes are published to the registry (PUT /v1/routes) and the gateways
  // start without a --routes file, ready once they enforce the registry's table.
  bool publish_routes = false;
  // Further services beside "app" (with discovery): each registered at the app's address with
  // its own heartbeat, routed at <path>/<name>, and loaded as its own stream "<name>@gw-N".
  std::vector<std::string> services;
};

struct TopologySpec {
  int gateways = 1;
  std::string path = "/api/orders";  // what the load requests through the gateways
  std::string tls = "tls";           // "plain" | "tls" | "mtls"
  std::chrono::nanoseconds leeway = std::chrono::seconds(60);
  std::vector<std::string> algs{"RS256"};                        // accepted by the gateways
  std::string idp_alg = "RS256";                                 // what the IdP signs with
  std::chrono::nanoseconds token_ttl = std::chrono::minutes(5);  // of the minted token pool
  int gateway_threads = 1;
  UpstreamSpec upstream;
  GatewaySpec gateway;
  bool redis = false;  // a real redis-server peer named "redis"
  std::vector<std::string>
      proxies;  // nodes fronted by the fault proxy: "app", "redis", "idp", "gw-N"
  // Further load identities (token sub claims), each its own stream per gateway, recorded as
  // "<identity>@gw-N" and not merged into "all".
  std::vector<std::string> identities;
  bool tls_resume = true;  // the load offers the previous session when it reconnects
  // Requests/s of a client that mints tokens from the IdP's token endpoint (client_credentials)
  // through the whole run, recorded as the stream "token@idp"; 0 = none (the load's tokens come
  // from the IdP's admin API up front).
  int token_client = 0;
  PkiSpec pki;
  RegistrySpec registry;
  // Named upstream clusters, by name, and the routes to them (sorted by prefix).
  std::vector<ClusterSpec> upstreams;
  std::vector<RouteSpec> routes;
  // Further JWT issuers (jwt.issuers): each an IdP peer named after it, a provider of the
  // gateways (--providers), and a stream "<name>@gw-N" of the load with its tokens.
  std::vector<std::string> issuers;
  std::map<std::string, IssuerSettings> issuer_settings;  // by issuer, for those that set any
};

struct PhaseSpec {
  std::string name;
  double rate = 0;      // requests/s over all gateways; 0 = max (closed loop)
  double rate_to = -1;  // ramp end; -1 = constant
  std::chrono::nanoseconds duration{0};
  int connections = 0;        // 0 = derived from the rate
  int tokens = 100;           // distinct JWTs rotated per request
  bool fresh_tokens = false;  // mint the phase's tokens when it starts (after earlier faults)
  int64_t body_bytes = 0;     // > 0: POST a body of this size instead of a GET
  std::map<std::string, double> identity_rates;  // identity -> requests/s over all gateways
  // An upstream cluster's, issuer's or registry service's stream -> requests/s over all
  // gateways (absent: a quarter of the phase's rate).
  std::map<std::string, double> stream_rates;
  std::string where;  // file:line of the declaration
};

// One call in the fault timeline, recorded by a dry run so it is validated before anything
// starts, then replayed at its time.
struct FaultAction {
  std::string type;                           // "clock_skew", "kill", "pause", "latency", ...
  std::string node;                           // "gw-1", "idp", "app"
  std::map<std::string, std::string> params;  // as written: offset="+5m", latency="50ms"
  std::chrono::nanoseconds duration{0};       // 0: until cleared or the end of the run
  std::string where;
};

struct TimelineEntry {
  std::chrono::nanoseconds at{0};    // since the first load phase started
  int lua_function_ref = 0;          // the callback, run again at `at`
  std::vector<FaultAction> actions;  // what the dry run saw it do
  std::string where;
};

struct ThresholdSpec {
  std::string phase;   // "" = whole run
  std::string metric;  // p50 p90 p99 p999 max mean rps requests error_rate status_401_share ...
  std::string node;    // "" = all nodes
  std::string op;      // < <= > >=
  double limit = 0;    // nanoseconds for latency metrics, a ratio for shares/rates
  std::string text;    // the expression as written: "steady.p99 < 10ms"
  bool abort_on_fail = false;
  // abort_on_fail: judged live once a second after this long into the load (k6's
  // delayAbortEval), so early noise does not stop the run.
  std::chrono::nanoseconds abort_delay{0};
  std::string where;
};

struct ExpectSpec {
  enum class When { kDuring, kAfter };
  When when = When::kDuring;
  std::string fault;  // fault type whose window is meant
  std::string node;   // "" = all nodes
  // During: metric conditions over the seconds inside the window.
  std::vector<ThresholdSpec> conditions;
  // After: the first clean second must start within this long after the window ends.
  std::optional<std::chrono::nanoseconds> recovered_within;
  std::string text;
  std::string where;
};

struct Scenario {
  std::string file;
  std::string name;
  std::string description;
  std::vector<std::string> seeds;
  std::map<std::string, std::string> params;  // -e K=V as given
  TopologySpec topology;
  std::vector<PhaseSpec> phases;
  std::vector<TimelineEntry> timeline;
  std::vector<ThresholdSpec> thresholds;
  std::vector<ExpectSpec> expectations;

  std::chrono::nanoseconds total_duration() const;
  // Node names the topology has: gw-1..gw-N, idp, app, the upstream clusters and issuers, and
  // redis / proxy when declared.
  std::vector<std::string> node_names() const;
  // A recorded stream that is not a gateway's own load: "hot@gw-1" (a declared identity, registry
  // service, upstream cluster or issuer on a gateway) or "token@idp" (topology.token_client).
  bool is_stream(const std::string& node) const;
  // The cluster named `name` (topology.upstreams), or nullptr.
  const ClusterSpec* cluster(const std::string& name) const;
  // The first route (by prefix) to the cluster `name`; "" when none.
  std::string first_route(const std::string& cluster) const;
};

// The stream of the token client (topology.token_client).
inline constexpr const char* kTokenClientStream = "token@idp";

}  // namespace gatedrill

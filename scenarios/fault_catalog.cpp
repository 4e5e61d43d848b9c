#include "scenarios/fault_catalog.hpp"

#include <algorithm>

#include "core/util/strings.hpp"
#include "scenarios/drill_faults.hpp"
#include "scenarios/pki_fault_catalog.hpp"

namespace gatedrill {

namespace {
const std::vector<std::string> kToxicParams = {
    "stream",  "toxicity",     "latency",        "jitter", "rate", "delay",
    "timeout", "average_size", "size_variation", "bytes",  "mtu"};
}  // namespace

const std::vector<FaultType>& fault_catalog() {
  static const std::vector<FaultType> catalog = {
      {"clock_skew",
       "",
       {"gateway", "idp", "app"},
       {"offset"},
       {},
       false,
       "moves the node's wall clock by offset (\"+5m\", \"-90s\")"},
      {"kill",
       "",
       {"gateway", "idp", "app"},
       {},
       {},
       false,
       "SIGKILL; the restart policy applies; with a duration, started again when it ends"},
      {"pause",
       "",
       {"gateway", "idp", "app"},
       {},
       {},
       true,
       "SIGSTOP for the duration, then SIGCONT"},
      {"restart", "", {"gateway", "idp", "app"}, {}, {}, false, "SIGTERM, then start it again"},
      {"latency", "app", {"app", "idp"}, {"latency"}, {}, false, "adds latency to every answer"},
      {"error",
       "app",
       {"app"},
       {},
       {"status", "probability"},
       false,
       "answers status (503) with probability (1)"},
      {"stall", "app", {"app"}, {}, {}, true, "holds every answer until the window ends"},
      {"upstream_down", "app", {"app"}, {}, {}, false, "503 and close for every request"},
      {"idp_down", "idp", {"idp"}, {}, {}, false, "the IdP's public endpoints answer 503"},
      {"jwks_down", "idp", {"idp"}, {}, {}, false, "only the JWKS endpoint fails"},
      // The CA (topology tls = "mtls") and the policy registry (registry = true): checked further
      // in pki_fault_catalog.cpp, carried out in pki_faults.cpp.
      {"ca_roll_intermediate",
       "ca",
       {"ca"},
       {},
       {},
       false,
       "the CA issues from a new intermediate; nodes learn it through their trust bundle"},
      {"ca_desync",
       "ca",
       {"ca"},
       {"nodes"},
       {"mode", "delay"},
       false,
       "trust bundle + CRL updates withheld from (or delayed to) nodes = {\"gw-2\"}"},
      {"crl_revoke",
       "ca",
       {"ca"},
       {},
       {"identity", "nodes", "mode", "delay"},
       false,
       "revokes the load's client SVID; with nodes, the new CRL reaches them late (mode, delay)"},
      {"ca_stop_rotation",
       "ca",
       {"ca"},
       {},
       {},
       false,
       "SVIDs are no longer renewed at half-life, so they expire"},
      {"ca_expired_crl",
       "ca",
       {"ca"},
       {},
       {},
       false,
       "the CA publishes CRLs whose nextUpdate has passed"},
      {"registry_offline",
       "registry",
       {"registry"},
       {},
       {},
       false,
       "every registry API call answers 503"},
      {"registry_slow",
       "registry",
       {"registry"},
       {"latency"},
       {},
       false,
       "every registry answer is delayed"},
      {"registry_partial",
       "registry",
       {"registry"},
       {"nodes"},
       {},
       false,
       "nodes = {\"gw-2\"} keep receiving the previous policy revision"},
      {"policy_publish",
       "registry",
       {"registry"},
       {"file"},
       {},
       false,
       "publishes file (next to the scenario) as the next revision; rolled back when the duration "
       "ends"},
      {"break_glass",
       "registry",
       {"registry"},
       {},
       {"state", "file", "reason", "actor"},
       false,
       "state = \"on\" (file, reason): the audited emergency policy; \"off\" or the duration's "
       "end: back"},
      {"deregister",
       "registry",
       {"registry"},
       {"service"},
       {},
       false,
       "the service's registration heartbeat stops (service = \"app\"); resumes when cleared"},
      // Drill faults (scenarios/drill_faults.hpp validates their parameters).
      {"cpu_starve",
       "",
       {"gateway", "idp", "app", "redis"},
       {},
       {"share", "period", "mechanism"},
       false,
       "CPU quota (cgroup cpu.max / cfs_quota), else a SIGSTOP/SIGCONT duty cycle; share of one "
       "core (\"20%\")"},
      {"memory_limit",
       "",
       {"gateway", "idp", "app", "redis"},
       {"limit"},
       {"mechanism"},
       false,
       "cgroup memory limit (over it: OOM kill, exit 137), else RLIMIT_AS on the live process"},
      {"ballast",
       "",
       {"gateway"},
       {"size"},
       {"ramp"},
       false,
       "the gateway allocates and touches size bytes (over ramp: a leak); freed when cleared"},
      {"toxic",
       "",
       {"gateway", "idp", "app", "redis"},
       {"type"},
       kToxicParams,
       false,
       "a fault-proxy toxic on the proxy in front of the node (topology.proxies)"},
      // Network faults: real in network namespaces where the machine allows (mode = "auto"),
      // else the fault proxy's emulation; the window records which (network_faults.hpp).
      {"mtu",
       "",
       {"gateway", "idp", "app", "redis"},
       {},
       {"mtu", "stream", "mode"},
       false,
       "path MTU black hole in front of the node: segments over mtu vanish (namespaces with the "
       "router's ICMP dropped, or the fault proxy's mtu_blackhole)"},
      {"loss",
       "",
       {"gateway", "idp", "app", "redis"},
       {"probability"},
       {"stream", "mode"},
       false,
       "drops that share of the packets to/from the node (iptables statistic in namespaces, or "
       "a 200 ms retransmission delay on that share of the connections)"},
      {"bandwidth",
       "",
       {"gateway", "idp", "app", "redis"},
       {"rate"},
       {"stream", "mode"},
       false,
       "caps the path to/from the node at rate KB/s (tbf in namespaces, or the bandwidth toxic)"},
      {"redis_down",
       "redis",
       {"redis"},
       {},
       {"mode"},
       false,
       "redis killed (mode kill, restarted when cleared), hung (hang: SIGSTOP) or black-holed "
       "(blackhole, via its proxy)"},
      {"jwks_rotate",
       "idp",
       {"idp"},
       {"mode"},
       {"delay"},
       false,
       "key rotation: sign_first (new kid signs before it is published; cleared = published) or "
       "publish_first"},
      // The load itself as the fault (rate-limit): the phases send the identity over its limit;
      // the window marks when, so expectations and reports see the burst like any fault.
      {"load_surge",
       "load",
       {"load"},
       {"identity"},
       {},
       true,
       "marks the window in which the load phases send identity over its limit (node \"load\")"},
  };
  return catalog;
}

const FaultType* find_fault_type(const std::string& name) {
  for (const auto& t : fault_catalog())
    if (t.name == name) return &t;
  return nullptr;
}

std::string node_kind(const Scenario& scenario, const std::string& node) {
  if (node == "idp" || node == "app") return node;
  // An upstream cluster's peer is an app; a further issuer's is an IdP.
  if (scenario.cluster(node)) return "app";
  const auto& issuers = scenario.topology.issuers;
  if (std::find(issuers.begin(), issuers.end(), node) != issuers.end()) return "idp";
  if (node == "load") return node;  // the load generators (load_surge)
  if (node == "ca") return scenario.topology.tls == "mtls" ? node : "";
  if (node == "registry") return scenario.topology.registry.enabled ? node : "";
  if (node == "redis" && scenario.topology.redis) return node;
  if (node.rfind("gw-", 0) == 0) {
    std::string digits = node.substr(3);
    if (!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit) &&
        digits.size() < 4) {
      int n = std::stoi(digits);
      if (n >= 1 && n <= scenario.topology.gateways) return "gateway";
    }
  }
  return "";
}

Result<void> validate_fault(const Scenario& scenario, FaultAction& action) {
  const FaultType* type = find_fault_type(action.type);
  if (!type) return make_error("bad_fault", "unknown fault '" + action.type + "'");
  if (action.node.empty()) action.node = type->default_node;
  if (auto peer = check_pki_peer(scenario, action); !peer) return peer;
  if (action.node.empty())
    return make_error("bad_fault", action.type + " needs node = \"gw-1\" (or idp, app)");
  std::string kind = node_kind(scenario, action.node);
  if (kind.empty()) {
    std::string known;
    for (const auto& n : scenario.node_names()) known += (known.empty() ? "" : ", ") + n;
    return make_error("bad_fault", action.type + ": unknown node '" + action.node +
                                       "' (this topology has " + known + ")");
  }
  if (std::find(type->node_kinds.begin(), type->node_kinds.end(), kind) == type->node_kinds.end())
    return make_error("bad_fault", action.type + " does not apply to " + action.node);
  for (const auto& [key, value] : action.params) {
    bool known =
        std::find(type->required.begin(), type->required.end(), key) != type->required.end() ||
        std::find(type->optional.begin(), type->optional.end(), key) != type->optional.end();
    if (!known) return make_error("bad_fault", action.type + ": unknown parameter '" + key + "'");
  }
  for (const auto& key : type->required)
    if (!action.params.count(key)) return make_error("bad_fault", action.type + " needs " + key);
  if (type->needs_duration && action.duration.count() <= 0)
    return make_error("bad_fault", action.type + " needs duration = \"5s\"");
  if (action.duration.count() < 0)
    return make_error("bad_fault", action.type + ": duration must be > 0");

  if (action.type == "load_surge") {
    const auto& ids = scenario.topology.identities;
    if (std::find(ids.begin(), ids.end(), action.params["identity"]) == ids.end())
      return make_error("bad_fault", "load_surge: identity '" + action.params["identity"] +
                                         "' is not one of topology.identities");
    return {};
  }
  if (auto r = validate_drill_fault(scenario, action); !r) return r;
  if (action.type == "toxic" || is_network_fault(action.type) || action.type == "cpu_starve" ||
      action.type == "memory_limit" || action.type == "ballast" || action.type == "redis_down" ||
      action.type == "jwks_rotate")
    return {};

  auto check_duration = [&](const char* key, bool allow_negative) -> Result<void> {
    auto it = action.params.find(key);
    if (it == action.params.end()) return {};
    auto d = parse_duration(it->second);
    if (!d) return make_error("bad_fault", action.type + ": " + key + ": " + d.error().message);
    if (!allow_negative && d->count() < 0)
      return make_error("bad_fault", action.type + ": " + key + " must be >= 0");
    return {};
  };
  if (auto r = check_duration("offset", true); !r) return r;
  if (auto r = check_duration("latency", false); !r) return r;
  if (auto it = action.params.find("status"); it != action.params.end()) {
    char* end = nullptr;
    long s = std::strtol(it->second.c_str(), &end, 10);
    if (*end != '\0' || s < 100 || s > 599)
      return make_error("bad_fault", action.type + ": status must be 100..599");
  }
  if (auto it = action.params.find("probability"); it != action.params.end()) {
    char* end = nullptr;
    double p = std::strtod(it->second.c_str(), &end);
    if (*end != '\0' || p < 0 || p > 1)
      return make_error("bad_fault", action.type + ": probability must be 0..1");
  }
  return validate_pki_fault(scenario, action);
}

}  // namespace gatedrill

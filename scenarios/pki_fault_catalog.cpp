#include "scenarios/pki_fault_catalog.hpp"

#include <algorithm>
#include <cstdint>

#include "core/util/strings.hpp"
#include "scenarios/scenario_files.hpp"

namespace gatedrill {

namespace {

Error bad(const std::string& message) {
  return make_error("bad_fault", message);
}

bool is_ca_fault(const std::string& type) {
  return type.rfind("ca_", 0) == 0 || type == "crl_revoke";
}
bool is_registry_fault(const std::string& type) {
  return type.rfind("registry_", 0) == 0 || type == "policy_publish" || type == "break_glass" ||
         type == "deregister";
}

std::string param(const FaultAction& a, const char* key) {
  auto it = a.params.find(key);
  return it == a.params.end() ? std::string() : it->second;
}

// nodes = {"gw-2"} arrives as "gw-2" (one) or "gw-1,gw-2" (a Lua list, joined by the loader).
Result<void> check_nodes(const Scenario& s, FaultAction& a, bool required) {
  auto it = a.params.find("nodes");
  if (it == a.params.end()) {
    if (required) return bad(a.type + " needs nodes = {\"gw-2\"} (the gateways that lag)");
    return {};
  }
  std::vector<std::string> nodes = split_nodes(it->second);
  if (nodes.empty()) return bad(a.type + ": nodes must name at least one gateway, e.g. {\"gw-2\"}");
  for (const auto& n : nodes) {
    bool gateway = n.rfind("gw-", 0) == 0 && n.size() > 3 && n.size() < 7 &&
                   std::all_of(n.begin() + 3, n.end(), ::isdigit) && std::stoi(n.substr(3)) >= 1 &&
                   std::stoi(n.substr(3)) <= s.topology.gateways;
    if (!gateway)
      return bad(a.type + ": nodes: '" + n + "' is not a gateway of this topology (gw-1..gw-" +
                 std::to_string(s.topology.gateways) + ")");
  }
  std::sort(nodes.begin(), nodes.end());
  if (std::adjacent_find(nodes.begin(), nodes.end()) != nodes.end())
    return bad(a.type + ": nodes names a gateway twice");
  if (static_cast<int>(nodes.size()) == s.topology.gateways && a.type != "crl_revoke")
    return bad(a.type +
               ": nodes lists every gateway; a desync needs at least one node that stays current");
  std::string joined;
  for (const auto& n : nodes) joined += (joined.empty() ? "" : ",") + n;
  it->second = joined;
  return {};
}

// mode = "withhold" (default) | "delay" with delay = "3s" (default: the fault's duration).
Result<void> check_lag_mode(FaultAction& a) {
  std::string mode = param(a, "mode");
  if (mode.empty()) mode = "withhold";
  if (mode != "withhold" && mode != "delay")
    return bad(a.type + ": mode must be \"withhold\" or \"delay\", got \"" + mode + "\"");
  if (!param(a, "delay").empty()) {
    if (mode != "delay") return bad(a.type + ": delay only applies to mode = \"delay\"");
    auto d = parse_duration(param(a, "delay"));
    if (!d) return bad(a.type + ": delay: " + d.error().message);
    if (d->count() <= 0) return bad(a.type + ": delay must be > 0");
  } else if (mode == "delay" && a.duration.count() <= 0) {
    return bad(a.type + ": mode = \"delay\" needs delay = \"3s\" or a duration");
  }
  if ((a.params.count("mode") || a.params.count("delay")) && !a.params.count("nodes"))
    return bad(a.type + ": mode and delay need nodes = {\"gw-2\"}");
  return {};
}

Result<void> check_policy_file(const Scenario& s, FaultAction& a, bool required) {
  std::string file = param(a, "file");
  if (file.empty()) {
    if (required) return bad(a.type + " needs file = \"policy.rego\" (next to the scenario)");
    return {};
  }
  auto text = read_scenario_file(s.file, file);
  if (!text) return bad(a.type + ": " + text.error().message);
  a.params["path"] = resolve_scenario_path(s.file, file);
  return {};
}

uint64_t node_hash(const std::string& node) {
  // The registry's choice of stale nodes (FNV-1a of the X-Gatedrill-Node header).
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : node) h = (h ^ c) * 1099511628211ULL;
  return h % 100;
}

}  // namespace

std::vector<std::string> split_nodes(const std::string& list) {
  std::vector<std::string> out;
  for (const auto& part : split(list, ',')) {
    std::string n(trim(part));
    if (!n.empty()) out.push_back(n);
  }
  return out;
}

Result<int> partial_percent_for(const std::vector<std::string>& all,
                                const std::vector<std::string>& stale) {
  uint64_t lowest_stale = 100, highest_fresh = 0;
  bool any_fresh = false;
  for (const auto& n : all) {
    bool is_stale = std::find(stale.begin(), stale.end(), n) != stale.end();
    if (is_stale) {
      lowest_stale = std::min(lowest_stale, node_hash(n));
    } else {
      highest_fresh = std::max(highest_fresh, node_hash(n));
      any_fresh = true;
    }
  }
  int percent = any_fresh ? static_cast<int>(highest_fresh) + 1 : 0;
  if (static_cast<uint64_t>(percent) > lowest_stale) {
    std::string names;
    for (const auto& n : stale) names += (names.empty() ? "" : ",") + n;
    return bad(
        "registry_partial: the registry picks lagging nodes by a hash of their names; it cannot "
        "hold back {" +
        names + "} alone in this topology (try another node)");
  }
  return percent;
}

Result<void> check_pki_peer(const Scenario& s, const FaultAction& a) {
  if (is_ca_fault(a.type) && s.topology.tls != "mtls")
    return bad(a.type + " needs the CA: topology { tls = \"mtls\" }");
  if (is_registry_fault(a.type) && !s.topology.registry.enabled)
    return bad(a.type +
               " needs the policy registry: topology { registry = true, policy = \"file.rego\" }");
  return {};
}

Result<void> validate_pki_fault(const Scenario& s, FaultAction& a) {
  const std::string& t = a.type;
  if (t == "ca_desync") {
    if (auto r = check_nodes(s, a, true); !r) return r;
    return check_lag_mode(a);
  }
  if (t == "crl_revoke") {
    std::string identity = param(a, "identity");
    if (!identity.empty() && identity != "client")
      return bad("crl_revoke: identity must be \"client\" (the load's SVID) or left out");
    if (auto r = check_nodes(s, a, false); !r) return r;
    return check_lag_mode(a);
  }
  if (t == "registry_partial") {
    if (auto r = check_nodes(s, a, true); !r) return r;
    std::vector<std::string> all;
    for (int i = 1; i <= s.topology.gateways; ++i) all.push_back("gw-" + std::to_string(i));
    auto percent = partial_percent_for(all, split_nodes(param(a, "nodes")));
    if (!percent) return percent.error();
    return {};
  }
  if (t == "policy_publish") return check_policy_file(s, a, true);
  if (t == "break_glass") {
    std::string state = param(a, "state");
    if (!state.empty() && state != "on" && state != "off")
      return bad("break_glass: state must be \"on\" or \"off\", got \"" + state + "\"");
    if (state == "off") {
      if (a.params.count("file") || a.params.count("reason"))
        return bad("break_glass: state = \"off\" takes no file or reason");
      return {};
    }
    if (param(a, "reason").empty())
      return bad("break_glass needs reason = \"...\" (every emergency switch is audited with one)");
    return check_policy_file(s, a, true);
  }
  if (t == "deregister") {
    const auto& services = s.topology.registry.services;
    if (param(a, "service") != "app" && !s.cluster(param(a, "service")) &&
        std::find(services.begin(), services.end(), param(a, "service")) == services.end())
      return bad(
          "deregister: service must be \"app\", one of topology.registry.services or an "
          "upstream cluster, got \"" +
          param(a, "service") + "\"");
    if (!s.topology.registry.discovery)
      return bad(
          "deregister needs the gateways to look services up: topology { registry = { discovery = "
          "true } }");
    return {};
  }
  return {};
}

}  // namespace gatedrill

// The CA and policy-registry faults (validated in pki_fault_catalog.cpp): carried out through
// the CA's admin fault API, the registry's HTTP API and the run's trust agent.
#include <boost/json.hpp>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "scenarios/fault_executor.hpp"
#include "scenarios/pki_fault_catalog.hpp"
#include "scenarios/scenario_files.hpp"
#include "scenarios/trust_agent.hpp"

namespace gatedrill {

namespace {

using Clear = std::function<Result<void>()>;

Result<HttpResponse> call(const std::string& method, const std::string& url,
                          const std::string& body) {
  HttpClientOptions options;
  options.timeout = std::chrono::seconds(5);
  auto r = http_request(method, url, {{"content-type", "application/json"}}, body, options);
  if (!r) return make_error(r.error().code, method + " " + url + ": " + r.error().message);
  if (r->status / 100 != 2)
    return make_error("admin_api", method + " " + url + " answered " + std::to_string(r->status) +
                                       ": " + r->body);
  return r;
}

// A fault on the CA's admin API; clearing deletes it by id (404: it is gone already).
Result<Clear> ca_fault(const std::string& admin, const std::string& type,
                       boost::json::object params) {
  boost::json::object body{{"type", type}, {"params", std::move(params)}};
  auto r = call("POST", admin + "/admin/faults", boost::json::serialize(body));
  if (!r) return r.error();
  auto doc = parse_json_object(r->body);
  if (!doc) return doc.error();
  auto id = json_string(*doc, "id");
  if (!id || !id->has_value())
    return make_error("admin_api", "POST /admin/faults answered without an id");
  std::string url = admin + "/admin/faults/" + **id;
  return Clear([url]() -> Result<void> {
    auto response = http_request("DELETE", url);
    if (response && (response->status == 404 || response->status / 100 == 2)) return {};
    if (!response) return response.error();
    return make_error("admin_api",
                      "DELETE " + url + " answered " + std::to_string(response->status));
  });
}

Result<void> registry_mode(const std::string& url, boost::json::object body) {
  auto r = call("POST", url + "/admin/fault", boost::json::serialize(body));
  if (!r) return r.error();
  return {};
}

Result<Clear> registry_fault(const std::string& url, boost::json::object body) {
  if (auto r = registry_mode(url, std::move(body)); !r) return r.error();
  return Clear([url] { return registry_mode(url, {{"mode", "none"}}); });
}

// The revision the registry answered with (publish, break-glass, rollback).
Result<int64_t> revision_of(const HttpResponse& r) {
  auto doc = parse_json_object(r.body);
  if (!doc) return doc.error();
  auto revision = json_int(*doc, "revision");
  if (!revision || !revision->has_value())
    return make_error("registry", "answer without a revision: " + r.body);
  return **revision;
}

// Back to `revision`, as a new revision (the registry's rollback, audited).
Clear rollback_to(const std::string& url, int64_t revision) {
  return [url, revision]() -> Result<void> {
    boost::json::object body{{"revision", revision}, {"actor", "gatedrill run"}};
    auto r = call("POST", url + "/v1/rollback", boost::json::serialize(body));
    if (!r) return r.error();
    return {};
  };
}

Result<boost::json::object> modules_from(const FaultAction& a) {
  auto path = a.params.find("path");  // resolved at validation
  if (path == a.params.end()) return make_error("bad_fault", a.type + ": no policy file");
  auto text = read_scenario_file("", path->second);
  if (!text) return text.error();
  std::string name = path->second.substr(path->second.find_last_of('/') + 1);
  return boost::json::object{{name, *text}};
}

// mode/delay of a lagging set of nodes, for the CA's bundle_desync.
boost::json::object desync_params(const FaultAction& a) {
  boost::json::array nodes;
  for (const auto& n : split_nodes(a.params.at("nodes"))) nodes.emplace_back(n);
  auto mode = a.params.count("mode") ? a.params.at("mode") : std::string("withhold");
  boost::json::object params{{"nodes", std::move(nodes)}, {"mode", mode}};
  if (mode == "delay") {
    auto d = a.params.count("delay") ? parse_duration(a.params.at("delay"))
                                     : Result<std::chrono::nanoseconds>(a.duration);
    params["delay_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(d ? *d : a.duration).count();
  }
  return params;
}

}  // namespace

std::optional<Result<Clear>> FaultExecutor::carry_out_pki(const FaultAction& action) {
  const std::string& type = action.type;
  const std::string& ca = endpoints_.ca.admin;
  const std::string& registry = endpoints_.registry.url;
  auto param = [&](const char* key) {
    auto it = action.params.find(key);
    return it == action.params.end() ? std::string() : it->second;
  };
  if (type == "ca_roll_intermediate") {
    auto rolled = ca_fault(ca, "roll_intermediate", {});
    if (!rolled) return rolled.error();
    // The load's workload rotates onto the new intermediate at once (its next SVID is signed by
    // it); load generators created from now on (a phase with fresh_tokens) present it.
    if (trust_agent_)
      if (auto r = trust_agent_->issue_client(); !r) return r.error();
    return rolled;
  }
  if (type == "ca_stop_rotation") return ca_fault(ca, "stop_rotation", {});
  if (type == "ca_expired_crl") return ca_fault(ca, "expired_crl", {});
  if (type == "ca_desync") return ca_fault(ca, "bundle_desync", desync_params(action));
  if (type == "crl_revoke") {
    // The lag first, so the lagging nodes never see the CRL that revokes the client early.
    Clear heal = [] { return Result<void>(); };
    if (!param("nodes").empty()) {
      auto lag = ca_fault(ca, "bundle_desync", desync_params(action));
      if (!lag) return lag.error();
      heal = std::move(*lag);
    }
    boost::json::object body{
        {"serial", trust_agent_ ? trust_agent_->client_serial() : endpoints_.client_serial}};
    if (auto r = call("POST", ca + "/admin/revoke", boost::json::serialize(body)); !r) {
      (void)heal();
      return r.error();
    }
    return heal;  // a revocation is not undone; clearing ends the lag
  }
  if (type == "registry_offline") return registry_fault(registry, {{"mode", "offline"}});
  if (type == "registry_slow") {
    auto d = parse_duration(param("latency"));
    int64_t ms = d ? std::chrono::duration_cast<std::chrono::milliseconds>(*d).count() : 0;
    return registry_fault(registry, {{"mode", "slow"}, {"delay_ms", ms}});
  }
  if (type == "registry_partial") {
    std::vector<std::string> all;
    for (const auto& g : endpoints_.gateways) all.push_back(g.name);
    auto percent = partial_percent_for(all, split_nodes(param("nodes")));
    if (!percent) return percent.error();
    return registry_fault(registry, {{"mode", "partial"}, {"percent", *percent}});
  }
  if (type == "policy_publish" || (type == "break_glass" && param("state") != "off")) {
    auto modules = modules_from(action);
    if (!modules) return modules.error();
    bool glass = type == "break_glass";
    boost::json::object body{{"modules", std::move(*modules)}};
    if (glass) {
      body["actor"] = param("actor").empty() ? "gatedrill run" : param("actor");
      body["reason"] = param("reason");
    } else {
      body["author"] = "gatedrill run";
    }
    auto r = call(glass ? "POST" : "PUT", registry + (glass ? "/v1/break-glass" : "/v1/policies"),
                  boost::json::serialize(body));
    if (!r) return r.error();
    auto revision = revision_of(*r);
    if (!revision) return revision.error();
    // With a duration the change is a window: the revision before it comes back at its end.
    if (action.duration.count() > 0 && *revision > 1) return rollback_to(registry, *revision - 1);
    return Clear([] { return Result<void>(); });
  }
  if (type == "break_glass") {  // state = "off"
    auto r = call("GET", registry + "/v1/bundle", "");
    if (!r) return r.error();
    auto doc = parse_json_object(r->body);
    if (!doc) return doc.error();
    auto glass = doc->if_contains("break_glass");
    auto revision = revision_of(*r);
    if (!revision) return revision.error();
    if (!glass || !glass->is_bool() || !glass->as_bool() || *revision < 2)
      return make_error("bad_fault", "break_glass off: the active policy is not a break-glass one");
    if (auto back = rollback_to(registry, *revision - 1)(); !back) return back.error();
    return Clear([] { return Result<void>(); });
  }
  if (type == "deregister") {
    if (!trust_agent_)
      return make_error("bad_fault", "deregister: this run has no registration agent");
    const std::string service = param("service");
    trust_agent_->set_heartbeat(service, false);
    TrustAgent* agent = trust_agent_;
    return Clear([agent, service] {
      agent->set_heartbeat(service, true);
      return Result<void>();
    });
  }
  return std::nullopt;
}

}  // namespace gatedrill

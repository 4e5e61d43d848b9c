// The topology's further issuers (jwt.issuers) and upstream clusters (topology.upstreams,
// topology.routes): a peer process of their own each, so a fault can hit one of them, and the
// files the gateways read them from (--providers, --clusters, --routes).
#include <boost/json.hpp>

#include "core/supervisor/supervisor.hpp"
#include "scenarios/topology.hpp"
#include "scenarios/trust_agent.hpp"

namespace gatedrill {

namespace {

std::string millis(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

// A providers file entry; `name` is a further issuer whose own settings win ("" = the idp).
boost::json::object provider(const std::string& issuer, const std::string& jwks_uri,
                             const std::string& audience, const TopologySpec& t,
                             const std::string& name = "") {
  auto own = t.issuer_settings.find(name);
  const IssuerSettings none;
  const IssuerSettings& s = own == t.issuer_settings.end() ? none : own->second;
  boost::json::array algs;
  for (const auto& a : s.algs.empty() ? t.algs : s.algs) algs.emplace_back(a);
  return {{"issuer", issuer},
          {"jwks_uri", jwks_uri},
          {"audiences", boost::json::array{boost::json::value(audience)}},
          {"algs", std::move(algs)},
          {"leeway", millis(s.leeway.value_or(t.leeway))}};
}

}  // namespace

// One `gatedrill idp` per issuer (not tenants of the one IdP: faults and clocks are per
// process, and a drill takes one issuer down alone), with the run's client and audience.
Result<void> Topology::start_issuers() {
  for (const auto& name : scenario_.topology.issuers) {
    auto port = allocate_port();
    if (!port) return port.error();
    NodeEndpoint idp;
    idp.kind = "idp";
    idp.url = "http://127.0.0.1:" + std::to_string(*port);
    auto own = scenario_.topology.issuer_settings.find(name);
    const std::string alg =
        own == scenario_.topology.issuer_settings.end() ? "" : own->second.idp_alg;
    if (auto r = start_node(name, idp_args(*port, alg), idp, RestartPolicy{}); !r) return r;
    endpoints_.issuers.push_back(std::move(idp));
  }
  return {};
}

// One `gatedrill upstream` per cluster.
Result<void> Topology::start_clusters() {
  for (const auto& c : scenario_.topology.upstreams) {
    auto port = allocate_port();
    if (!port) return port.error();
    NodeEndpoint up;
    up.kind = "app";
    up.url = "http://127.0.0.1:" + std::to_string(*port);
    if (auto r = start_node(c.name, upstream_args(c.name, *port, c.upstream), up, RestartPolicy{});
        !r)
      return r;
    endpoints_.upstreams.push_back(std::move(up));
  }
  return {};
}

// After the fault proxy (a proxied issuer's JWKS or cluster goes through it): the providers file
// (the run's IdP first, then each issuer), the clusters file (each cluster's peer as its one
// endpoint, its limits) and a routes file: the load's path to the app (the default cluster)
// unless a route takes it, and each declared route to its cluster.
Result<void> Topology::write_gateway_files() {
  const TopologySpec& t = scenario_.topology;
  if (!t.issuers.empty()) {
    boost::json::array providers{
        provider(endpoints_.issuer, via_proxy("idp", endpoints_.jwks_uri), endpoints_.audience, t)};
    for (const auto& idp : endpoints_.issuers)
      providers.push_back(provider(idp.url, via_proxy(idp.name, idp.url + "/jwks.json"),
                                   endpoints_.audience, t, idp.name));
    if (auto w =
            write_file_atomically(run_dir_ + "/providers.json", boost::json::serialize(providers));
        !w)
      return w;
  }
  if (t.upstreams.empty()) return {};
  boost::json::array clusters;
  for (size_t i = 0; i < t.upstreams.size(); ++i) {
    const ClusterSpec& c = t.upstreams[i];
    const std::string url = via_proxy(c.name, endpoints_.upstreams[i].url);
    boost::json::object entry{{"name", c.name},
                              {"endpoints", boost::json::array{boost::json::value(url)}}};
    for (auto [key, value] :
         {std::pair{"max_requests", c.max_requests},
          std::pair{"max_connections", c.max_connections}, std::pair{"max_pending", c.max_pending},
          std::pair{"breaker_failures", c.breaker_failures}})
      if (value > 0) entry[key] = value;
    for (auto [key, value] :
         {std::pair{"timeout", c.timeout}, std::pair{"connect_timeout", c.connect_timeout},
          std::pair{"breaker_open_for", c.breaker_open_for}})
      if (value.count() > 0) entry[key] = millis(value);
    clusters.push_back(std::move(entry));
  }
  if (auto w = write_file_atomically(run_dir_ + "/clusters.json", boost::json::serialize(clusters));
      !w)
    return w;
  // With registry discovery the registry's routes (file or published) carry the clusters' too.
  if (t.registry.discovery) return {};
  return write_file_atomically(run_dir_ + "/routes.json", routes_json());
}

std::string Topology::routes_json(bool for_registry) const {
  const TopologySpec& t = scenario_.topology;
  const bool discovery = t.registry.discovery;
  boost::json::array routes;
  // Route names are unique: the cluster's name, then name-2, name-3 for its further routes.
  std::map<std::string, int> per_cluster;
  // The load's path goes to the app, unless a route takes it; with discovery it belongs to the
  // service "app", whose registration the trust agent renews.
  if (std::none_of(t.routes.begin(), t.routes.end(),
                   [&](const RouteSpec& r) { return r.prefix == t.path; })) {
    boost::json::object app{{"name", "app"}, {"prefix", t.path}};
    if (discovery) app["service"] = "app";
    routes.push_back(std::move(app));
    per_cluster["app"] = 1;
  }
  // Each further registry service under the app's path (the longest prefix wins).
  for (const auto& name : t.registry.services)
    routes.push_back(
        boost::json::object{{"name", name}, {"prefix", t.path + "/" + name}, {"service", name}});
  for (const auto& r : t.routes) {
    int n = ++per_cluster[r.cluster];
    boost::json::object route{{"name", n == 1 ? r.cluster : r.cluster + "-" + std::to_string(n)},
                              {"prefix", r.prefix}};
    if (r.cluster != "app") route["cluster"] = r.cluster;
    // A cluster's routes belong to its service (registered at its peer), the app's to "app".
    if (discovery) route["service"] = r.cluster;
    routes.push_back(std::move(route));
  }
  if (for_registry)
    for (auto& route : routes) route.as_object().erase("name");
  return boost::json::serialize(routes);
}

std::vector<std::string> Topology::gateway_cluster_args() const {
  const TopologySpec& t = scenario_.topology;
  if (t.upstreams.empty()) return {};
  // With discovery the routes come with the registry's (gateway_policy_args).
  if (t.registry.discovery) return {"--clusters", run_dir_ + "/clusters.json"};
  return {"--clusters", run_dir_ + "/clusters.json", "--routes", run_dir_ + "/routes.json"};
}

}  // namespace gatedrill

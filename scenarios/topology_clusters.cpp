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

boost::json::object provider(const std::string& issuer, const std::string& jwks_uri,
                             const std::string& audience, const TopologySpec& t) {
  boost::json::array algs;
  for (const auto& a : t.algs) algs.emplace_back(a);
  return {{"issuer", issuer},
          {"jwks_uri", jwks_uri},
          {"audiences", boost::json::array{boost::json::value(audience)}},
          {"algs", std::move(algs)},
          {"leeway", millis(t.leeway)}};
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
    if (auto r = start_node(name, idp_args(*port), idp, RestartPolicy{}); !r) return r;
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
      providers.push_back(
          provider(idp.url, via_proxy(idp.name, idp.url + "/jwks.json"), endpoints_.audience, t));
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
  boost::json::array routes;
  // Route names are unique: the cluster's name, then name-2, name-3 for its further routes.
  std::map<std::string, int> per_cluster;
  if (std::none_of(t.routes.begin(), t.routes.end(),
                   [&](const RouteSpec& r) { return r.prefix == t.path; })) {
    routes.push_back(boost::json::object{{"name", "app"}, {"prefix", t.path}});
    per_cluster["app"] = 1;
  }
  for (const auto& r : t.routes) {
    int n = ++per_cluster[r.cluster];
    boost::json::object route{{"name", n == 1 ? r.cluster : r.cluster + "-" + std::to_string(n)},
                              {"prefix", r.prefix}};
    if (r.cluster != "app") route["cluster"] = r.cluster;
    routes.push_back(std::move(route));
  }
  if (auto w = write_file_atomically(run_dir_ + "/clusters.json", boost::json::serialize(clusters));
      !w)
    return w;
  return write_file_atomically(run_dir_ + "/routes.json", boost::json::serialize(routes));
}

std::vector<std::string> Topology::gateway_cluster_args() const {
  if (scenario_.topology.upstreams.empty()) return {};
  return {"--clusters", run_dir_ + "/clusters.json", "--routes", run_dir_ + "/routes.json"};
}

}  // namespace gatedrill

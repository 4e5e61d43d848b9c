#pragma once
// Starts a scenario's processes (IdP, upstream, gateway nodes) as children of the runner, waits
// until each answers /healthz, and describes them in the endpoints file users and drills read.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/supervisor/supervisor.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

class FaultNetworks;
class RedisServer;
class TrustAgent;

struct NodeEndpoint {
  std::string name;        // "gw-1", "idp", "app", "redis", "proxy"
  std::string kind;        // "gateway", "idp", "app", "redis", "proxy"
  std::string url;         // data-plane URL (the fault proxy's when the node is behind one)
  std::string direct_url;  // the node's own address when url goes through the proxy
  std::string mtls_url;    // gateways with tls = "mtls": the listener that requires a client SVID
  std::string admin;       // admin URL (healthz, metrics, faults, clock)
  std::string log_file;
};

struct Endpoints {
  std::vector<NodeEndpoint> gateways;
  NodeEndpoint idp;
  NodeEndpoint app;
  NodeEndpoint redis;                          // name empty unless topology.redis
  NodeEndpoint proxy;                          // name empty unless topology.proxies
  std::map<std::string, std::string> proxied;  // node -> proxy listen address (host:port)
  NodeEndpoint ca;                             // name empty unless tls = "mtls"
  NodeEndpoint registry;                       // name empty unless topology.registry
  std::vector<NodeEndpoint> upstreams;         // topology.upstreams: one upstream peer each
  std::vector<NodeEndpoint> issuers;           // jwt.issuers: one IdP each (url: its issuer)
  // The load's client SVID (tls = "mtls"): certificate chain and key files, SPIFFE ID, serial.
  std::string client_cert, client_key, client_spiffe_id, client_serial;
  std::string issuer, jwks_uri, token_endpoint, client_id, client_secret, audience;
  std::string ca_bundle;  // trust anchor for the gateways' TLS certificates
  std::string run_dir;

  const NodeEndpoint* find(const std::string& name) const;
  // The shape ARCHITECTURE.md documents (pids filled from the supervisor).
  std::string to_json(const Supervisor& supervisor) const;
  // The same, readable on a terminal.
  std::string describe() const;
};

class Topology {
 public:
  // binary: the gatedrill executable to start children from.
  Topology(const Scenario& scenario, std::string run_dir, std::string binary,
           Supervisor& supervisor, TimeSource& time);

  // Generates the PKI, starts every node, waits for health. Errors name the node and include
  // the tail of its log.
  Result<void> start();
  void stop();
  ~Topology();
  const Endpoints& endpoints() const { return endpoints_; }
  // The redis peer (nullptr without topology.redis), for the redis_down fault.
  RedisServer* redis() const { return redis_.get(); }
  // The per-node trust/registration agent (nullptr without a CA or registry), for PKI and
  // registry faults.
  TrustAgent* trust_agent() const { return trust_agent_.get(); }
  // The network namespaces of the real network faults (network_faults.hpp); never nullptr
  // after start().
  const FaultNetworks* networks() const { return networks_.get(); }

  // A pool of distinct tokens from the IdP's admin API (count up to 100000).
  // subject: the tokens' sub claim (an identity of its own); empty = the IdP's client id.
  // issuer: which IdP mints them (one of jwt.issuers); empty = "idp".
  Result<std::vector<std::string>> mint_tokens(int count, std::chrono::seconds ttl,
                                               const std::string& subject = "",
                                               const std::string& issuer = "") const;

 private:
  Result<void> write_pki();
  Result<void> start_redis();
  // topology_pki.cpp: the CA child, the client SVID, each gateway's files; the registry child
  // with the first policy and the app's registration; the agent that keeps them current.
  Result<void> start_ca();
  Result<void> start_registry();
  Result<void> start_trust_agent();
  std::vector<std::string> gateway_pki_args(const std::string& name, uint16_t mtls_port) const;
  // --registry / --policy; with a registry also the node's decision log in logs/.
  std::vector<std::string> gateway_policy_args(const std::string& name) const;
  // topology_clusters.cpp: the IdP of each further issuer, the upstream peer of each cluster;
  // then (after the fault proxy) the gateways' providers, clusters and routes files.
  Result<void> start_issuers();
  Result<void> start_clusters();
  Result<void> write_gateway_files();
  // The gateways' routes as a JSON array: the load's path to the app, the registry's services,
  // the clusters' routes (with discovery each names its service); a --routes file's entries, or
  // for_registry the registry's (no names: routes are named after their service there).
  std::string routes_json(bool for_registry = false) const;
  // --providers FILE with further issuers, else --issuer/--jwks-uri/--audience/--algs/--leeway.
  std::vector<std::string> gateway_jwt_args() const;
  // --clusters and --routes with upstream clusters; nothing otherwise.
  std::vector<std::string> gateway_cluster_args() const;
  // `gatedrill idp` / `gatedrill upstream` arguments of an IdP or upstream peer on `port`.
  // alg: what it signs with; "" = jwt.idp_alg.
  std::vector<std::string> idp_args(uint16_t port, const std::string& alg = "") const;
  static std::vector<std::string> upstream_args(const std::string& name, uint16_t port,
                                                const UpstreamSpec& upstream);
  Result<void> start_peer(const std::string& name, std::vector<std::string> args,
                          NodeEndpoint& endpoint, const std::string& health_url);
  Result<void> start_proxy(const std::map<std::string, std::string>& upstreams);
  // The URL a client of `node` should use: the proxy's when proxied.
  std::string via_proxy(const std::string& node, const std::string& url) const;
  Result<void> start_node(const std::string& name, std::vector<std::string> args,
                          NodeEndpoint& endpoint, RestartPolicy restart);

  const Scenario& scenario_;
  std::string run_dir_;
  std::string binary_;
  Supervisor& supervisor_;
  TimeSource& time_;
  Endpoints endpoints_;
  std::string gateway_cert_, gateway_key_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<TrustAgent> trust_agent_;
  std::unique_ptr<FaultNetworks> networks_;
};

}  // namespace gatedrill

#pragma once
// Starts a scenario's processes (IdP, upstream, gateway nodes) as children of the runner, waits
// until each answers /healthz, and describes them in the endpoints file users and drills read.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/supervisor/supervisor.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

struct NodeEndpoint {
  std::string name;   // "gw-1", "idp", "app"
  std::string kind;   // "gateway", "idp", "app"
  std::string url;    // data-plane URL
  std::string admin;  // admin URL (healthz, metrics, faults, clock)
  std::string log_file;
};

struct Endpoints {
  std::vector<NodeEndpoint> gateways;
  NodeEndpoint idp;
  NodeEndpoint app;
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
  Topology(const Scenario& scenario, std::string run_dir, std::string binary, Supervisor& supervisor,
           TimeSource& time);

  // Generates the PKI, starts every node, waits for health. Errors name the node and include
  // the tail of its log.
  Result<void> start();
  void stop();
  const Endpoints& endpoints() const { return endpoints_; }

  // A pool of distinct tokens from the IdP's admin API (count up to 100000).
  Result<std::vector<std::string>> mint_tokens(int count, std::chrono::seconds ttl) const;

 private:
  Result<void> write_pki();
  Result<void> start_node(const std::string& name, std::vector<std::string> args, NodeEndpoint& endpoint,
                          RestartPolicy restart);

  const Scenario& scenario_;
  std::string run_dir_;
  std::string binary_;
  Supervisor& supervisor_;
  TimeSource& time_;
  Endpoints endpoints_;
  std::string gateway_cert_, gateway_key_;
};

}  // namespace gatedrill

// Topology parts for the CA (tls = "mtls") and the policy registry (registry = true).
#include <sys/stat.h>

#include <boost/json.hpp>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "scenarios/topology.hpp"
#include "scenarios/trust_agent.hpp"

namespace gatedrill {

namespace {

std::string seconds_flag(std::chrono::nanoseconds d) {
  return std::to_string(
             std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count())) +
         "s";
}

std::string base_name(const std::string& path) {
  return path.substr(path.find_last_of('/') + 1);
}

}  // namespace

Result<void> Topology::start_peer(const std::string& name, std::vector<std::string> args,
                                  NodeEndpoint& endpoint, const std::string& health_url) {
  endpoint.name = name;
  endpoint.log_file = run_dir_ + "/logs/" + name + ".log";
  ProcessSpec spec;
  spec.name = name;
  spec.argv = {binary_};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.log_file = endpoint.log_file;
  spec.health_url = health_url;
  if (auto spawned = supervisor_.spawn(spec); !spawned) return spawned.error();
  return supervisor_.wait_healthy(name, std::chrono::seconds(20));
}

Result<void> Topology::start_ca() {
  const PkiSpec& p = scenario_.topology.pki;
  std::string dir = run_dir_ + "/pki";
  ::mkdir(dir.c_str(), 0755);
  std::string out = dir + "/ca";
  ::mkdir(out.c_str(), 0755);
  endpoints_.ca.kind = "ca";
  if (auto r = start_node("ca",
                          {"ca", "serve", "--trust-domain", p.trust_domain, "--out", out,
                           "--svid-ttl", seconds_flag(p.svid_ttl)},
                          endpoints_.ca, RestartPolicy{});
      !r)
    return r;
  endpoints_.ca.url = endpoints_.ca.admin;
  endpoints_.ca_bundle = out + "/bundle.pem";

  // The load's identity (issued by the trust agent, which can issue it again after a roll).
  endpoints_.client_spiffe_id = "spiffe://" + p.trust_domain + "/loadgen";
  endpoints_.client_cert = dir + "/client.pem";
  endpoints_.client_key = dir + "/client.key";
  return {};
}

Result<void> Topology::start_registry() {
  const RegistrySpec& r = scenario_.topology.registry;
  auto port = allocate_port();
  if (!port) return port.error();
  endpoints_.registry.kind = "registry";
  endpoints_.registry.url = "http://127.0.0.1:" + std::to_string(*port);
  endpoints_.registry.admin = endpoints_.registry.url;
  if (auto started = start_peer("registry", {"registry", "--port", std::to_string(*port)},
                                endpoints_.registry, endpoints_.registry.url + "/health");
      !started)
    return started;
  // Revision 1: what every gateway enforces once it has polled.
  boost::json::object body{
      {"modules", boost::json::object{{base_name(r.policy_path), r.policy_text}}},
      {"author", "gatedrill run"}};
  HttpClientOptions options;
  options.timeout = std::chrono::seconds(10);
  auto response =
      http_request("PUT", endpoints_.registry.url + "/v1/policies",
                   {{"content-type", "application/json"}}, boost::json::serialize(body), options);
  if (!response)
    return make_error(response.error().code,
                      "registry: publishing the policy: " + response.error().message);
  if (response->status / 100 != 2)
    return make_error("registry", "publishing " + r.policy_file + " answered " +
                                      std::to_string(response->status) + ": " + response->body);
  if (!r.discovery) return {};
  if (!r.publish_routes) return write_file_atomically(run_dir_ + "/routes.json", routes_json());
  // The registry's table instead of a file.
  auto published = http_request("PUT", endpoints_.registry.url + "/v1/routes",
                                {{"content-type", "application/json"}},
                                "{\"routes\":" + routes_json(true) + "}", options);
  if (!published)
    return make_error(published.error().code,
                      "registry: publishing the routes: " + published.error().message);
  if (published->status / 100 != 2)
    return make_error("registry", "publishing the routes answered " +
                                      std::to_string(published->status) + ": " + published->body);
  return {};
}

Result<void> Topology::start_trust_agent() {
  const TopologySpec& t = scenario_.topology;
  TrustAgentOptions options;
  if (t.tls == "mtls") {
    options.ca_admin = endpoints_.ca.admin;
    options.client_spiffe_id = endpoints_.client_spiffe_id;
    options.client_cert_file = endpoints_.client_cert;
    options.client_key_file = endpoints_.client_key;
    options.client_ttl = std::chrono::duration_cast<std::chrono::seconds>(t.pki.client_ttl);
    for (int i = 1; i <= t.gateways; ++i) {
      std::string name = "gw-" + std::to_string(i);
      options.nodes.push_back({name, run_dir_ + "/pki/" + name,
                               "spiffe://" + t.pki.trust_domain + "/gateway/" + name, ""});
    }
  }
  if (t.registry.enabled) {
    options.registry_url = endpoints_.registry.url;
    options.services = {"app"};
    for (const auto& name : t.registry.services) options.services.push_back(name);
    options.service_address = endpoints_.app.url;
    // Each upstream cluster's service, at its own peer's address.
    for (size_t i = 0; i < t.upstreams.size() && t.registry.discovery; ++i) {
      options.services.push_back(t.upstreams[i].name);
      options.service_addresses[t.upstreams[i].name] = endpoints_.upstreams[i].url;
    }
    options.heartbeat_ttl =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.registry.heartbeat_ttl);
  }
  trust_agent_ = std::make_unique<TrustAgent>(time_, options);
  // Every file the gateways start with exists before they start.
  if (auto r = trust_agent_->sync_once(); !r)
    return make_error(r.error().code, "trust agent: " + r.error().message);
  endpoints_.client_serial = trust_agent_->client_serial();
  return {};
}

std::vector<std::string> Topology::gateway_pki_args(const std::string& name,
                                                    uint16_t mtls_port) const {
  const TopologySpec& t = scenario_.topology;
  std::vector<std::string> args;
  if (t.tls == "mtls") {
    std::string dir = run_dir_ + "/pki/" + name;
    args = {"--tls-cert",      dir + "/svid.pem",   "--tls-key",
            dir + "/svid.key", "--mtls-listen",     "127.0.0.1:" + std::to_string(mtls_port),
            "--client-ca",     dir + "/bundle.pem", "--crl",
            dir + "/crl.pem",  "--trust-domain",    t.pki.trust_domain};
  }
  return args;
}

std::vector<std::string> Topology::gateway_policy_args(const std::string& name) const {
  const RegistrySpec& r = scenario_.topology.registry;
  if (r.enabled) {
    std::string poll =
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(r.poll).count()) +
        "ms";
    // The decision log records every allow and deny with the policy version that made it.
    std::vector<std::string> args = {
        "--registry", endpoints_.registry.url, "--registry-poll",
        poll,         "--audit-log",           run_dir_ + "/logs/" + name + ".decisions.jsonl"};
    if (!r.jitter) args.emplace_back("--no-registry-jitter");
    if (r.discovery)
      args.insert(args.end(), {"--discovery", endpoints_.registry.url, "--discovery-poll", poll});
    if (r.discovery && !r.publish_routes)
      args.insert(args.end(), {"--routes", run_dir_ + "/routes.json"});
    return args;
  }
  if (!r.policy_path.empty()) return {"--policy", r.policy_path};
  return {};
}

}  // namespace gatedrill

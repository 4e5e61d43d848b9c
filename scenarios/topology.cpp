#include "scenarios/topology.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <random>

#include "core/crypto/keys.hpp"
#include "core/crypto/x509.hpp"
#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "scenarios/network_faults.hpp"
#include "scenarios/peers/redis_server.hpp"
#include "scenarios/trust_agent.hpp"

namespace gatedrill {

namespace {

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string ms_flag(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) + "us";
}

Result<void> write_file(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error("run_dir", "cannot write " + path);
  out << content;
  out.close();
  chmod(path.c_str(), mode);
  if (!out) return make_error("run_dir", "cannot write " + path);
  return {};
}

std::string random_secret() {
  std::random_device device;
  std::string out;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) out += hex[device() % 16];
  return out;
}

std::string http_url(uint16_t port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// "{redis}" in a gateway argument becomes the redis URL the gateways should use.
std::string substitute(std::string arg, const std::string& key, const std::string& value) {
  for (size_t at = arg.find(key); at != std::string::npos; at = arg.find(key, at + value.size()))
    arg.replace(at, key.size(), value);
  return arg;
}

}  // namespace

const NodeEndpoint* Endpoints::find(const std::string& name) const {
  for (const auto& g : gateways)
    if (g.name == name) return &g;
  if (name == "idp") return &idp;
  if (name == "app") return &app;
  if (name == "redis" && !redis.name.empty()) return &redis;
  if (name == "proxy" && !proxy.name.empty()) return &proxy;
  if (name == "ca" && !ca.name.empty()) return &ca;
  if (name == "registry" && !registry.name.empty()) return &registry;
  for (const auto* peers : {&upstreams, &issuers})
    for (const auto& p : *peers)
      if (p.name == name) return &p;
  return nullptr;
}

std::string Endpoints::to_json(const Supervisor& supervisor) const {
  namespace json = boost::json;
  auto pid_of = [&](const std::string& name) -> json::value {
    auto pid = supervisor.pid(name);
    return pid ? json::value(*pid) : json::value(nullptr);
  };
  json::array gws;
  for (const auto& g : gateways) {
    json::object o{{"name", g.name}, {"url", g.url}, {"admin", g.admin}, {"pid", pid_of(g.name)}};
    if (!g.direct_url.empty()) o["direct_url"] = g.direct_url;
    if (!g.mtls_url.empty()) o["mtls_url"] = g.mtls_url;
    gws.push_back(std::move(o));
  }
  json::object doc{
      {"gateways", gws},
      {"idp", json::object{{"issuer", issuer},
                           {"jwks_uri", jwks_uri},
                           {"token_endpoint", token_endpoint},
                           {"admin", idp.admin},
                           {"client_id", client_id},
                           {"client_secret", client_secret},
                           {"audience", audience},
                           {"pid", pid_of("idp")}}},
      {"ca", ca.name.empty()
                 ? json::object{{"bundle", ca_bundle}}
                 : json::object{{"bundle", ca_bundle}, {"admin", ca.admin}, {"pid", pid_of("ca")}}},
      {"run_dir", run_dir}};
  json::array ups{json::object{
      {"name", app.name}, {"url", app.url}, {"admin", app.admin}, {"pid", pid_of("app")}}};
  for (const auto& u : upstreams)
    ups.push_back(json::object{{"name", u.name},
                               {"url", u.url},
                               {"admin", u.admin},
                               {"pid", pid_of(u.name)},
                               {"cluster", u.name}});
  doc["upstreams"] = std::move(ups);
  if (!issuers.empty()) {
    json::array list;
    for (const auto& i : issuers)
      list.push_back(json::object{{"name", i.name},
                                  {"issuer", i.url},
                                  {"jwks_uri", i.url + "/jwks.json"},
                                  {"token_endpoint", i.url + "/token"},
                                  {"admin", i.admin},
                                  {"pid", pid_of(i.name)}});
    doc["issuers"] = std::move(list);
  }
  if (!client_cert.empty())
    doc["client"] =
        json::object{{"cert", client_cert}, {"key", client_key}, {"spiffe_id", client_spiffe_id}};
  if (!registry.name.empty())
    doc["registry"] = json::object{{"url", registry.url}, {"pid", pid_of("registry")}};
  if (!redis.name.empty()) {
    json::object r{{"url", redis.url}, {"pid", pid_of("redis")}};
    if (!redis.direct_url.empty()) r["direct_url"] = redis.direct_url;
    doc["redis"] = std::move(r);
  }
  if (!proxy.name.empty()) {
    json::object fronts;
    for (const auto& [node, address] : proxied) fronts[node] = address;
    doc["fault_proxy"] =
        json::object{{"admin", proxy.admin}, {"pid", pid_of("proxy")}, {"proxies", fronts}};
  }
  return json::serialize(doc);
}

std::string Endpoints::describe() const {
  std::string out;
  for (const auto& g : gateways) out += "  " + g.name + "  " + g.url + "   admin " + g.admin + "\n";
  out += "  idp   " + issuer + "   admin " + idp.admin + "\n";
  out += "        token " + token_endpoint + "  client " + client_id + " / " + client_secret + "\n";
  for (const auto& i : issuers)
    out += "  " + i.name + "  issuer " + i.url + "   admin " + i.admin + "\n";
  out += "  app   " + app.url + "   admin " + app.admin + "\n";
  for (const auto& u : upstreams)
    out += "  " + u.name + "  cluster " + u.url + "   admin " + u.admin + "\n";
  if (!redis.name.empty()) out += "  redis " + redis.url + "\n";
  if (!proxy.name.empty()) {
    out += "  fault proxy   admin " + proxy.admin + "\n";
    for (const auto& [node, address] : proxied) out += "        " + node + " via " + address + "\n";
  }
  if (!ca_bundle.empty()) out += "  CA bundle " + ca_bundle + "\n";
  if (!ca.name.empty()) out += "  ca    admin " + ca.admin + "\n";
  if (!client_cert.empty()) out += "  client SVID " + client_spiffe_id + "  " + client_cert + "\n";
  if (!registry.name.empty()) out += "  registry " + registry.url + "\n";
  out += "  logs  " + run_dir + "/logs/\n";
  return out;
}

Topology::Topology(const Scenario& scenario, std::string run_dir, std::string binary,
                   Supervisor& supervisor, TimeSource& time)
    : scenario_(scenario),
      run_dir_(std::move(run_dir)),
      binary_(std::move(binary)),
      supervisor_(supervisor),
      time_(time) {}

Topology::~Topology() = default;

std::string Topology::via_proxy(const std::string& node, const std::string& url) const {
  auto it = endpoints_.proxied.find(node);
  if (it == endpoints_.proxied.end()) return url;
  // Same scheme and path, the proxy's host:port.
  auto scheme_end = url.find("://");
  auto host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  auto path_start = url.find('/', host_start);
  return url.substr(0, host_start) + it->second +
         (path_start == std::string::npos ? "" : url.substr(path_start));
}

Result<void> Topology::start_redis() {
  RedisServerOptions options;
  options.name = "redis";
  options.work_dir = run_dir_ + "/redis";
  mkdir(options.work_dir.c_str(), 0755);
  // Down stays down until the fault clears it (redis_down restarts it then).
  options.restart.mode = RestartPolicy::Mode::kNever;
  redis_ = std::make_unique<RedisServer>(supervisor_, time_, options);
  if (auto r = redis_->start(); !r)
    return make_error(r.error().code, "redis: " + r.error().message);
  endpoints_.redis.name = "redis";
  endpoints_.redis.kind = "redis";
  endpoints_.redis.url = redis_->url();
  endpoints_.redis.log_file = options.work_dir + "/redis.log";
  return {};
}

// One `gatedrill fault-proxy` child with a named proxy per fronted node; upstreams are
// host:port. Proxies only forward on connect, so the nodes behind them may start later.
Result<void> Topology::start_proxy(const std::map<std::string, std::string>& upstreams) {
  std::vector<std::string> args = {"fault-proxy"};
  for (const auto& [node, upstream] : upstreams) {
    auto port = allocate_port();
    if (!port) return port.error();
    std::string listen = "127.0.0.1:" + std::to_string(*port);
    for (auto& flag : networks_->proxy_flags(node, listen, upstream))
      args.insert(args.end(), {"--proxy", std::move(flag)});
    endpoints_.proxied[node] = listen;
  }
  endpoints_.proxy.kind = "proxy";
  return start_node("proxy", args, endpoints_.proxy, RestartPolicy{});
}

Result<void> Topology::write_pki() {
  std::string dir = run_dir_ + "/pki";
  mkdir(dir.c_str(), 0755);
  auto ca_key = Key::generate(KeyType::kEcP256);
  auto server_key = Key::generate(KeyType::kEcP256);
  if (!ca_key) return ca_key.error();
  if (!server_key) return server_key.error();
  int64_t now = time_.wall_seconds();
  CertRequest ca_request;
  ca_request.common_name = "gatedrill run CA";
  ca_request.is_ca = true;
  ca_request.server_auth = false;
  ca_request.not_before_s = now - 3600;
  ca_request.not_after_s = now + 30 * 86400;
  auto ca = issue_certificate(ca_request, *ca_key, "", *ca_key);
  if (!ca) return ca.error();
  CertRequest server_request;
  server_request.common_name = "gatedrill gateway";
  server_request.dns_names = {"localhost"};
  server_request.ip_addresses = {"127.0.0.1"};
  server_request.not_before_s = now - 3600;
  server_request.not_after_s = now + 30 * 86400;
  auto server = issue_certificate(server_request, *server_key, ca->pem, *ca_key);
  if (!server) return server.error();
  endpoints_.ca_bundle = dir + "/ca.pem";
  gateway_cert_ = dir + "/gateway.pem";
  gateway_key_ = dir + "/gateway.key";
  if (auto r = write_file(endpoints_.ca_bundle, ca->pem); !r) return r;
  if (auto r = write_file(gateway_cert_, server->pem + ca->pem); !r) return r;
  return write_file(gateway_key_, server_key->private_pem(), 0600);
}

Result<void> Topology::start_node(const std::string& name, std::vector<std::string> args,
                                  NodeEndpoint& endpoint, RestartPolicy restart) {
  auto admin_port = allocate_port();
  if (!admin_port) return admin_port.error();
  endpoint.name = name;
  endpoint.admin = http_url(*admin_port);
  endpoint.log_file = run_dir_ + "/logs/" + name + ".log";
  ProcessSpec spec;
  spec.name = name;
  spec.argv = {binary_};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.argv.push_back("--admin-port");
  spec.argv.push_back(std::to_string(*admin_port));
  spec.log_file = endpoint.log_file;
  spec.health_url = endpoint.admin + "/healthz";
  spec.restart = restart;
  if (auto spawned = supervisor_.spawn(spec); !spawned) return spawned.error();
  return supervisor_.wait_healthy(name, std::chrono::seconds(20));
}

Result<void> Topology::start() {
  std::string logs = run_dir_ + "/logs";
  mkdir(logs.c_str(), 0755);
  endpoints_.run_dir = run_dir_;
  const TopologySpec& t = scenario_.topology;
  if (t.tls == "tls")
    if (auto pki = write_pki(); !pki) return pki;
  if (t.tls == "mtls")
    if (auto ca = start_ca(); !ca) return ca;

  // The IdP first: the gateways fetch its JWKS at start.
  auto idp_port = allocate_port();
  if (!idp_port) return idp_port.error();
  endpoints_.client_id = "gatedrill-loadgen";
  endpoints_.client_secret = random_secret();
  endpoints_.audience = "gatedrill";
  endpoints_.issuer = http_url(*idp_port);
  endpoints_.jwks_uri = endpoints_.issuer + "/jwks.json";
  endpoints_.token_endpoint = endpoints_.issuer + "/token";
  endpoints_.idp.kind = "idp";
  endpoints_.idp.url = endpoints_.issuer;
  if (auto r = start_node("idp", idp_args(*idp_port), endpoints_.idp, RestartPolicy{}); !r)
    return r;
  auto app_port = allocate_port();
  if (!app_port) return app_port.error();
  endpoints_.app.kind = "app";
  endpoints_.app.url = http_url(*app_port);
  if (auto r = start_node("app", upstream_args("app", *app_port, t.upstream), endpoints_.app,
                          RestartPolicy{});
      !r)
    return r;
  if (auto r = start_clusters(); !r) return r;
  if (auto r = start_issuers(); !r) return r;

  if (t.redis)
    if (auto r = start_redis(); !r) return r;
  if (t.registry.enabled)
    if (auto r = start_registry(); !r) return r;
  if (t.tls == "mtls" || t.registry.enabled)
    if (auto r = start_trust_agent(); !r) return r;

  // Gateway ports first: the fault proxy needs every address it fronts.
  std::vector<uint16_t> gateway_ports;
  for (int i = 1; i <= t.gateways; ++i) {
    auto port = allocate_port();
    if (!port) return port.error();
    gateway_ports.push_back(*port);
  }
  // Real network faults relay through namespaces from the nodes' proxies (or, not possible
  // here, fall back to the proxies' toxics); a forced real mode that cannot run stops here.
  networks_ = std::make_unique<FaultNetworks>();
  if (auto r = networks_->prepare(scenario_); !r) return r;
  if (!t.proxies.empty()) {
    std::map<std::string, std::string> upstreams;
    auto host_port = [](const std::string& url) {
      auto start = url.find("://") + 3;
      auto end = url.find('/', start);
      return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    };
    for (const auto& node : t.proxies) {
      if (node == "app")
        upstreams[node] = host_port(endpoints_.app.url);
      else if (node == "idp")
        upstreams[node] = host_port(endpoints_.issuer);
      else if (node == "redis")
        upstreams[node] = host_port(endpoints_.redis.url);
      else if (const NodeEndpoint* peer = endpoints_.find(node))  // a cluster or an issuer
        upstreams[node] = host_port(peer->url);
      else
        upstreams[node] =
            "127.0.0.1:" + std::to_string(gateway_ports[std::stoi(node.substr(3)) - 1]);
    }
    if (auto r = start_proxy(upstreams); !r) return r;
    if (!endpoints_.redis.name.empty() && endpoints_.proxied.count("redis")) {
      endpoints_.redis.direct_url = endpoints_.redis.url;
      endpoints_.redis.url = "redis://" + endpoints_.proxied["redis"];
    }
  }

  // They name proxied JWKS and clusters through their proxies, so they are written now.
  if (auto r = write_gateway_files(); !r) return r;
  // Gateways come back after a kill or restart fault, like a pod under a Deployment.
  RestartPolicy gateway_restart;
  gateway_restart.mode = RestartPolicy::Mode::kAlways;
  gateway_restart.max_restarts = 10;
  for (int i = 1; i <= t.gateways; ++i) {
    std::string name = "gw-" + std::to_string(i);
    uint16_t port = gateway_ports[static_cast<size_t>(i - 1)];
    NodeEndpoint gw;
    gw.kind = "gateway";
    gw.url = (t.tls == "plain" ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(port);
    if (endpoints_.proxied.count(name)) {
      gw.direct_url = gw.url;
      gw.url = via_proxy(name, gw.url);
    }
    std::vector<std::string> args = {"gateway",
                                     "--name",
                                     name,
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port),
                                     "--upstream",
                                     via_proxy("app", endpoints_.app.url),
                                     "--threads",
                                     std::to_string(t.gateway_threads)};
    for (auto& a : gateway_jwt_args()) args.push_back(std::move(a));
    for (auto& a : gateway_cluster_args()) args.push_back(std::move(a));
    const GatewaySpec& g = t.gateway;
    if (g.memory_budget_bytes > 0)
      args.insert(args.end(), {"--memory-budget", std::to_string(g.memory_budget_bytes)});
    if (g.rate_limit > 0) args.insert(args.end(), {"--rate-limit", format_number(g.rate_limit)});
    if (g.burst > 0) args.insert(args.end(), {"--burst", format_number(g.burst)});
    for (const auto& o : g.rate_limit_overrides)
      args.insert(args.end(), {"--rate-limit-override", o});
    if (g.jwks_ttl.count() > 0) args.insert(args.end(), {"--jwks-ttl", ms_flag(g.jwks_ttl)});
    if (g.jwks_cooldown.count() > 0)
      args.insert(args.end(), {"--jwks-cooldown", ms_flag(g.jwks_cooldown)});
    // With a redis peer the gateways use it (JTI revocation, global rate limit), through its
    // proxy when it has one, unless the scenario passes its own --redis.
    bool own_redis = std::find(g.args.begin(), g.args.end(), "--redis") != g.args.end();
    if (!endpoints_.redis.name.empty() && !own_redis)
      args.insert(args.end(), {"--redis", endpoints_.redis.url});
    for (const auto& a : g.args) args.push_back(substitute(a, "{redis}", endpoints_.redis.url));
    if (t.tls == "plain") {
      args.emplace_back("--plaintext");
    } else if (t.tls == "mtls") {
      auto mtls_port = allocate_port();
      if (!mtls_port) return mtls_port.error();
      gw.mtls_url = "https://127.0.0.1:" + std::to_string(*mtls_port);
      auto pki_args = gateway_pki_args(name, *mtls_port);
      args.insert(args.end(), pki_args.begin(), pki_args.end());
    } else {
      args.insert(args.end(), {"--tls-cert", gateway_cert_, "--tls-key", gateway_key_});
    }
    for (auto& a : gateway_policy_args(name)) args.push_back(std::move(a));
    if (auto r = start_node(name, args, gw, gateway_restart); !r) return r;
    endpoints_.gateways.push_back(gw);
  }
  if (trust_agent_) {
    // From now on the agent also asks the nodes to reload what changed.
    for (const auto& g : endpoints_.gateways) trust_agent_->set_admin(g.name, g.admin);
    trust_agent_->start();
  }
  return {};
}

std::vector<std::string> Topology::idp_args(uint16_t port, const std::string& alg) const {
  return {"idp",
          "--port",
          std::to_string(port),
          "--alg",
          alg.empty() ? scenario_.topology.idp_alg : alg,
          "--audience",
          endpoints_.audience,
          "--client-id",
          endpoints_.client_id,
          "--client-secret",
          endpoints_.client_secret};
}

std::vector<std::string> Topology::upstream_args(const std::string& name, uint16_t port,
                                                 const UpstreamSpec& u) {
  return {"upstream",
          "--name",
          name,
          "--port",
          std::to_string(port),
          "--latency",
          ms_flag(u.latency),
          "--body-size",
          std::to_string(u.body_bytes),
          "--status",
          std::to_string(u.status),
          "--threads",
          std::to_string(u.threads)};
}

std::vector<std::string> Topology::gateway_jwt_args() const {
  const TopologySpec& t = scenario_.topology;
  if (!t.issuers.empty()) return {"--providers", run_dir_ + "/providers.json"};
  std::string algs;
  for (const auto& a : t.algs) algs += (algs.empty() ? "" : ",") + a;
  return {"--issuer",   endpoints_.issuer,   "--jwks-uri", via_proxy("idp", endpoints_.jwks_uri),
          "--audience", endpoints_.audience, "--algs",     algs,
          "--leeway",   ms_flag(t.leeway)};
}

void Topology::stop() {
  if (trust_agent_) trust_agent_->stop();  // before the CA and the nodes it talks to go away
  supervisor_.stop_all(std::chrono::seconds(3));
}

Result<std::vector<std::string>> Topology::mint_tokens(int count, std::chrono::seconds ttl,
                                                       const std::string& subject,
                                                       const std::string& issuer) const {
  const NodeEndpoint* idp = issuer.empty() ? &endpoints_.idp : endpoints_.find(issuer);
  if (!idp || idp->kind != "idp") return make_error("tokens", "no issuer named '" + issuer + "'");
  boost::json::object request{{"count", count}, {"ttl_s", ttl.count()}};
  if (!subject.empty()) request["claims"] = boost::json::object{{"sub", subject}};
  HttpClientOptions options;
  options.timeout = std::chrono::seconds(30);
  auto response =
      http_post_json(idp->admin + "/admin/tokens", boost::json::serialize(request), options);
  if (!response) return response.error();
  if (response->status != 200)
    return make_error("tokens", "the IdP refused to mint tokens: " +
                                    std::to_string(response->status) + " " + response->body);
  auto doc = parse_json_object(response->body);
  if (!doc) return doc.error();
  std::vector<std::string> tokens;
  if (auto it = doc->find("tokens"); it != doc->end() && it->value().is_array()) {
    for (const auto& t : it->value().as_array())
      if (t.is_string()) tokens.emplace_back(t.as_string());
  } else if (auto one = doc->find("token"); one != doc->end() && one->value().is_string()) {
    tokens.emplace_back(one->value().as_string());
  }
  if (static_cast<int>(tokens.size()) != count)
    return make_error("tokens", "asked the IdP for " + std::to_string(count) + " tokens, got " +
                                    std::to_string(tokens.size()));
  return tokens;
}

}  // namespace gatedrill

#include "gateway/policy/registry_server.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>

#include "core/http/http_server.hpp"
#include "core/time/time_source.hpp"
#include "core/util/cli.hpp"
#include "core/util/json.hpp"
#include "core/util/signals.hpp"
#include "gateway/policy/quota_config.hpp"
#include "gateway/policy/registry.hpp"
#include "gateway/policy/window_counter.hpp"

namespace gatedrill {
namespace {

boost::json::object bundle_meta(const PolicyBundle& b) {
  return {{"revision", b.revision},
          {"hash", b.hash},
          {"author", b.author},
          {"published_ms", b.published_ms},
          {"break_glass", b.break_glass}};
}

HttpResponse error_response(const Error& e) {
  int status =
      e.code == "service_not_found" || e.code == "unknown_revision" || e.code == "no_bundle"
          ? 404
          : 400;  // bad_yaml, bad_quota, rego_*: 400
  return json_error(status, e.code, e.message);
}

Result<std::vector<PolicyModule>> modules_of(const boost::json::object& body) {
  const auto* m = body.if_contains("modules");
  if (!m || !m->is_object() || m->as_object().empty()) {
    return make_error("bad_request", "\"modules\" must be an object of file name -> Rego text");
  }
  std::vector<PolicyModule> out;
  for (const auto& kv : m->as_object()) {
    if (!kv.value().is_string())
      return make_error("bad_request", "module " + std::string(kv.key()) + " must be a string");
    out.push_back({std::string(kv.key()), std::string(kv.value().as_string())});
  }
  return out;
}

std::string string_field(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

struct RegistryServer::Impl {
  explicit Impl(const TimeSource& t) : time(t), registry(t), discovery(t) {}
  const TimeSource& time;
  PolicyRegistry registry;
  ServiceDiscovery discovery;
  RouteTable routes_table;
  std::unique_ptr<HttpServer> server;
  std::atomic<int> mode{0};  // 0 none, 1 offline, 2 slow, 3 partial
  std::atomic<int64_t> delay_ms{0};
  std::atomic<int64_t> partial_percent{100};
  // Bundle fetches the registry answered, per 100 ms (the last 10 minutes of windows with any).
  WindowCounter fetches{100, 6000};
  std::mutex quota_mutex;
  std::optional<QuotaConfig> quotas;
  std::mutex nodes_mutex;
  std::map<std::string, std::string> routes_enforced;  // node -> the routes hash it enforces

  // Applies the drill fault, then the handler.
  HttpHandler guarded(std::function<HttpResponse(const HttpRequest&)> h) {
    return [this, h = std::move(h)](const HttpRequest& r) {
      if (mode.load() == 1)
        return json_error(503, "registry_offline", "registry offline (drill fault)");
      HttpResponse resp = h(r);
      if (mode.load() == 2) resp.delay = std::chrono::milliseconds(delay_ms.load());
      return resp;
    };
  }

  static Result<boost::json::object> body_object(const HttpRequest& r) {
    auto j = parse_json_object(r.body);
    if (!j) return make_error("bad_request", j.error().message);
    return std::move(*j);
  }

  void routes() {
    server->route("GET", "/health", [](const HttpRequest&) { return json_ok("{}"); });
    server->route("PUT", "/v1/policies", guarded([this](const HttpRequest& r) {
                    auto body = body_object(r);
                    if (!body) return error_response(body.error());
                    auto mods = modules_of(*body);
                    if (!mods) return error_response(mods.error());
                    const auto* data = body->if_contains("data");
                    auto b = registry.publish(std::move(*mods), data ? to_json(*data) : "{}",
                                              string_field(*body, "author"));
                    if (!b) return error_response(b.error());
                    return json_ok(to_json(bundle_meta(*b)));
                  }));
    server->route("GET", "/v1/bundle", guarded([this](const HttpRequest& r) {
                    fetches.add(time.wall_ms());
                    auto b = registry.active();
                    if (!b) return json_error(404, "no_bundle", "no policy has been published yet");
                    // Partial propagation: nodes outside the chosen share keep getting the previous
                    // revision.
                    if (mode.load() == 3 && b->revision > 1) {
                      uint64_t h = 1469598103934665603ULL;
                      for (unsigned char c : r.header("x-gatedrill-node"))
                        h = (h ^ c) * 1099511628211ULL;
                      if (static_cast<int64_t>(h % 100) >= partial_percent.load())
                        b = registry.get(b->revision - 1);
                    }
                    HttpResponse resp;
                    if (r.header("if-none-match") == b->hash) {
                      resp.status = 304;
                    } else {
                      boost::json::object o = bundle_meta(*b);
                      boost::json::object mods;
                      for (const auto& m : b->modules) mods[m.name] = m.text;
                      o["modules"] = std::move(mods);
                      o["data"] = *parse_json(b->data_json);
                      resp.body = to_json(o);
                    }
                    resp.headers.push_back({"etag", b->hash});
                    return resp;
                  }));
    server->route("POST", "/v1/break-glass", guarded([this](const HttpRequest& r) {
                    auto body = body_object(r);
                    if (!body) return error_response(body.error());
                    auto mods = modules_of(*body);
                    if (!mods) return error_response(mods.error());
                    auto b = registry.break_glass(std::move(*mods), string_field(*body, "actor"),
                                                  string_field(*body, "reason"));
                    if (!b) return error_response(b.error());
                    return json_ok(to_json(bundle_meta(*b)));
                  }));
    server->route("POST", "/v1/rollback", guarded([this](const HttpRequest& r) {
                    auto body = body_object(r);
                    if (!body) return error_response(body.error());
                    auto rev = json_int(*body, "revision");
                    if (!rev || !*rev)
                      return json_error(400, "bad_request", "\"revision\" must be a number");
                    auto b = registry.rollback(**rev, string_field(*body, "actor"));
                    if (!b) return error_response(b.error());
                    return json_ok(to_json(bundle_meta(*b)));
                  }));
    server->route("GET", "/v1/audit", guarded([this](const HttpRequest&) {
                    boost::json::array a;
                    for (const auto& e : registry.audit()) {
                      a.push_back({{"at_ms", e.at_ms},
                                   {"actor", e.actor},
                                   {"action", e.action},
                                   {"revision", e.revision},
                                   {"detail", e.detail}});
                    }
                    return json_ok(to_json(boost::json::object{{"audit", a}}));
                  }));
    server->route("POST", "/v1/nodes/*", guarded([this](const HttpRequest& r) {
                    auto body = body_object(r);
                    if (!body) return error_response(body.error());
                    // {"revision": N} (the policy) and/or {"routes_hash": "..."} (the routes).
                    auto rev = json_int(*body, "revision");
                    auto routes = json_string(*body, "routes_hash");
                    const bool has_rev = rev && *rev, has_routes = routes && *routes;
                    if (!rev || !routes || (!has_rev && !has_routes))
                      return json_error(400, "bad_request",
                                        "needs a number \"revision\" or a string \"routes_hash\"");
                    const std::string node(r.path.substr(std::string_view("/v1/nodes/").size()));
                    if (has_rev) registry.report_enforced(node, **rev);
                    if (has_routes) {
                      std::lock_guard<std::mutex> lock(nodes_mutex);
                      routes_enforced[node] = **routes;
                    }
                    return json_ok("{}");
                  }));
    server->route("GET", "/v1/nodes", guarded([this](const HttpRequest&) {
                    boost::json::object enforced;
                    for (const auto& [n, rev] : registry.enforced()) enforced[n] = rev;
                    boost::json::array lagging;
                    for (const auto& n : registry.lagging_nodes())
                      lagging.push_back(boost::json::string(n));
                    auto active = registry.active();
                    // Routes: what each node enforces, and who is behind the current table.
                    const std::string routes_hash = routes_table.hash();
                    boost::json::object routes;
                    boost::json::array routes_lagging;
                    {
                      std::lock_guard<std::mutex> lock(nodes_mutex);
                      for (const auto& [n, h] : routes_enforced) {
                        routes[n] = h;
                        if (h != routes_hash) routes_lagging.push_back(boost::json::string(n));
                      }
                    }
                    return json_ok(to_json(
                        boost::json::object{{"active_revision", active ? active->revision : 0},
                                            {"enforced", enforced},
                                            {"lagging", lagging},
                                            {"routes_hash", routes_hash},
                                            {"routes_enforced", routes},
                                            {"routes_lagging", routes_lagging}}));
                  }));
    server->route("POST", "/v1/discovery/*", guarded([this](const HttpRequest& r) {
                    auto body = body_object(r);
                    if (!body) return error_response(body.error());
                    std::string address = string_field(*body, "address");
                    auto ttl = json_int(*body, "ttl_ms");
                    if (address.empty() || !ttl || !*ttl || **ttl <= 0) {
                      return json_error(400, "bad_request",
                                        "needs \"address\" and a positive \"ttl_ms\"");
                    }
                    discovery.heartbeat(r.path.substr(std::string_view("/v1/discovery/").size()),
                                        address, std::chrono::milliseconds(**ttl));
                    return json_ok("{}");
                  }));
    server->route("GET", "/v1/discovery/*", guarded([this](const HttpRequest& r) {
                    auto found =
                        discovery.lookup(r.path.substr(std::string_view("/v1/discovery/").size()));
                    if (!found) return error_response(found.error());
                    boost::json::array a;
                    for (const auto& s : *found) a.push_back(boost::json::string(s));
                    return json_ok(to_json(boost::json::object{{"instances", a}}));
                  }));
    server->route(
        "PUT", "/v1/routes", guarded([this](const HttpRequest& r) {
          auto body = parse_json(r.body);
          if (!body || !body->is_object() || !body->as_object().contains("routes")) {
            return json_error(400, "bad_routes",
                              "body must be {\"routes\": [{\"prefix\": ..., \"service\": ...}]}");
          }
          auto hash = routes_table.replace(body->at("routes"));
          if (!hash) return error_response(hash.error());
          return json_ok(
              to_json(boost::json::object{{"hash", *hash}, {"routes", routes_table.size()}}));
        }));
    // The whole table for gateway nodes, conditional on its hash (ETag; 304 when unchanged).
    server->route("GET", "/v1/routes", guarded([this](const HttpRequest& r) {
                    auto snap = routes_table.snapshot();
                    if (snap.hash.empty())
                      return json_error(404, "no_routes", "no routes have been published yet");
                    HttpResponse resp;
                    if (r.header("if-none-match") == snap.hash) {
                      resp.status = 304;
                    } else {
                      boost::json::array routes;
                      routes.reserve(snap.routes.size());
                      for (const auto& e : snap.routes) {
                        boost::json::object o{{"prefix", e.prefix}, {"service", e.service}};
                        if (!e.cluster.empty()) o["cluster"] = e.cluster;
                        routes.push_back(std::move(o));
                      }
                      resp.body = to_json(
                          boost::json::object{{"hash", snap.hash}, {"routes", std::move(routes)}});
                    }
                    resp.headers.push_back({"etag", snap.hash});
                    return resp;
                  }));
    server->route("GET", "/v1/routes/match", guarded([this](const HttpRequest& r) {
                    std::string_view q = r.query;
                    if (q.rfind("path=", 0) != 0)
                      return json_error(400, "bad_request", "needs ?path=/some/path");
                    auto svc = routes_table.match(q.substr(5));
                    if (!svc) return json_error(404, svc.error().code, svc.error().message);
                    return json_ok(to_json(
                        boost::json::object{{"service", *svc}, {"hash", routes_table.hash()}}));
                  }));
    server->route("PUT", "/v1/quotas", guarded([this](const HttpRequest& r) {
                    auto c = parse_quota_config(r.body);
                    if (!c) return error_response(c.error());
                    size_t n = c->overrides.size();
                    std::lock_guard<std::mutex> lock(quota_mutex);
                    quotas = std::move(*c);
                    return json_ok(to_json(boost::json::object{{"overrides", n}}));
                  }));
    server->route(
        "GET", "/v1/quotas/*", guarded([this](const HttpRequest& r) {
          std::lock_guard<std::mutex> lock(quota_mutex);
          if (!quotas)
            return json_error(404, "no_quotas", "no quota configuration has been published");
          Quota q = quotas->for_service(r.path.substr(std::string_view("/v1/quotas/").size()));
          return json_ok(to_json(boost::json::object{{"requests_per_second", q.requests_per_second},
                                                     {"burst_capacity", q.burst_capacity},
                                                     {"backend", quotas->backend}}));
        }));
    // Outside /v1, so a drill reads it while the registry is "offline".
    server->route("GET", "/admin/stats/fetches", [this](const HttpRequest&) {
      boost::json::array windows;
      for (const auto& [start, count] : fetches.windows())
        windows.push_back(boost::json::array{start, count});
      return json_ok(
          to_json(boost::json::object{{"window_ms", fetches.window_ms()}, {"windows", windows}}));
    });
    server->route("POST", "/admin/fault", [this](const HttpRequest& r) {
      auto body = body_object(r);
      if (!body) return error_response(body.error());
      std::string m = string_field(*body, "mode");
      auto delay = json_int(*body, "delay_ms");
      if (m == "none")
        mode = 0;
      else if (m == "offline")
        mode = 1;
      else if (m == "slow")
        mode = 2;
      else if (m == "partial")
        mode = 3;
      else
        return json_error(400, "bad_request", "mode must be none, offline, slow or partial");
      delay_ms = delay && *delay ? **delay : 0;
      auto percent = json_int(*body, "percent");
      partial_percent = percent && *percent ? std::clamp<int64_t>(**percent, 0, 100) : 50;
      return json_ok("{}");
    });
  }
};

RegistryServer::RegistryServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegistryServer::~RegistryServer() {
  if (impl_ && impl_->server) impl_->server->stop();
}

Result<std::unique_ptr<RegistryServer>> RegistryServer::start(const TimeSource& time,
                                                              RegistryServerOptions options) {
  auto impl = std::make_unique<Impl>(time);
  HttpServerOptions so;
  so.bind_address = options.bind_address;
  so.port = options.port;
  so.threads = options.threads;
  so.max_body_bytes = 8 << 20;
  impl->server = std::make_unique<HttpServer>(so);
  impl->routes();
  if (auto r = impl->server->start(); !r) return r.error();
  return std::unique_ptr<RegistryServer>(new RegistryServer(std::move(impl)));
}

uint16_t RegistryServer::port() const {
  return impl_->server->port();
}
void RegistryServer::stop() {
  impl_->server->stop();
}

int registry_command(int argc, char** argv) {
  int64_t port = 8282, threads = 2;
  std::string bind = "127.0.0.1";
  ArgParser p("registry",
              "Policy registry: versioned bundles, break-glass audit, node versions, discovery.");
  p.option("port", &port, "listen port (0: any free port)");
  p.option("bind", &bind, "listen address (default 127.0.0.1)");
  p.option("threads", &threads, "server threads (default 2)");
  if (int code = parse_or_exit_code(p, argc, argv); code >= 0) return code;
  if (port < 0 || port > 65535 || threads < 1 || threads > 64) {
    std::fprintf(stderr, "error: --port must be 0..65535 and --threads 1..64\n");
    return 2;
  }
  TerminationSignals signals;
  SystemTimeSource clock;
  RegistryServerOptions o;
  o.bind_address = bind;
  o.port = static_cast<uint16_t>(port);
  o.threads = static_cast<int>(threads);
  auto server = RegistryServer::start(clock, o);
  if (!server) {
    std::fprintf(stderr, "error: %s: %s\n", server.error().code.c_str(),
                 server.error().message.c_str());
    return 1;
  }
  print_ready_line("registry", (*server)->port(), 0);
  signals.wait();
  (*server)->stop();
  return 0;
}

}  // namespace gatedrill

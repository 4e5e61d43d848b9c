#include "scenarios/faults/fault_proxy_api.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/util/json.hpp"
#include "core/util/strings.hpp"

namespace gatedrill {

namespace {

int status_for(const std::string& code) {
  if (code.rfind("no_such_", 0) == 0) return 404;
  if (code.rfind("duplicate_", 0) == 0 || code == "bind_failed") return 409;
  return 400;
}

HttpResponse error_response(const Error& e) {
  return json_error(status_for(e.code), e.code, e.message);
}

boost::json::object proxy_json(const ProxyInfo& info) {
  boost::json::object o;
  o["name"] = info.config.name;
  o["listen"] = info.config.listen;
  o["upstream"] = info.config.upstream;
  o["enabled"] = info.config.enabled;
  // Only when set: the Toxiproxy shape stays as it is for proxies on the host.
  if (!info.config.listen_netns.empty()) o["listen_netns"] = info.config.listen_netns;
  if (!info.config.upstream_netns.empty()) o["upstream_netns"] = info.config.upstream_netns;
  o["connections"] = info.connections;
  boost::json::array toxics;
  for (const auto& t : info.toxics) toxics.push_back(toxic_to_json(t));
  o["toxics"] = std::move(toxics);
  return o;
}

HttpResponse ok(const boost::json::value& v, int status = 200) {
  HttpResponse r = json_ok(to_json(v));
  r.status = status;
  return r;
}

HttpResponse no_content() {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

HttpResponse create_proxy(FaultProxy& proxy, const HttpRequest& request) {
  auto body = parse_json_object(request.body);
  if (!body) return json_error(400, "bad_json", body.error().message);
  ProxyConfig config;
  for (auto [key, target] : {std::pair<const char*, std::string*>{"name", &config.name},
                             {"listen", &config.listen},
                             {"upstream", &config.upstream}}) {
    auto v = json_string(*body, key);
    if (!v) return json_error(400, "bad_proxy", v.error().message);
    if (!v->has_value()) {
      return json_error(400, "bad_proxy", std::string("a proxy needs \"") + key + "\"");
    }
    *target = **v;
  }
  // Optional (an extension of Toxiproxy's shape): network namespaces for either side.
  for (auto [key, target] :
       {std::pair<const char*, std::string*>{"listen_netns", &config.listen_netns},
        {"upstream_netns", &config.upstream_netns}}) {
    auto v = json_string(*body, key);
    if (!v) return json_error(400, "bad_proxy", v.error().message);
    if (v->has_value()) *target = **v;
  }
  auto enabled = json_bool(*body, "enabled");
  if (!enabled) return json_error(400, "bad_proxy", enabled.error().message);
  config.enabled = enabled->value_or(true);
  auto info = proxy.add_proxy(config);
  if (!info) return error_response(info.error());
  return ok(proxy_json(*info), 201);
}

HttpResponse add_toxic(FaultProxy& proxy, const std::string& name, const HttpRequest& request) {
  auto body = parse_json_object(request.body);
  if (!body) return json_error(400, "bad_json", body.error().message);
  auto toxic = parse_toxic(*body);
  if (!toxic) return error_response(toxic.error());
  auto added = proxy.add_toxic(name, std::move(*toxic));
  if (!added) return error_response(added.error());
  return ok(toxic_to_json(*added));
}

HttpResponse method_not_allowed(const std::string& allowed) {
  HttpResponse r = json_error(405, "method_not_allowed", "allowed: " + allowed);
  r.headers.emplace_back("allow", allowed);
  return r;
}

}  // namespace

void FaultProxyApi::install(AdminServer& admin) {
  admin.route("*", "/proxies*", [this](const HttpRequest& r) { return handle(r); });
}

void FaultProxyApi::register_faults(FaultRegistry& faults) {
  faults.register_type(
      "toxic", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
        auto proxy = json_string(params, "proxy");
        if (!proxy || !proxy->has_value()) {
          return make_error("bad_params", "a toxic fault needs \"proxy\" (the proxy's name)");
        }
        boost::json::object body = params;
        body.erase("proxy");
        auto toxic = parse_toxic(body);
        if (!toxic) return make_error("bad_params", toxic.error().message);
        auto added = proxy_.add_toxic(**proxy, std::move(*toxic));
        if (!added) return make_error("bad_params", added.error().message);
        const std::string proxy_name = **proxy, toxic_name = added->name;
        return FaultRegistry::Clear([this, proxy_name, toxic_name] {
          (void)proxy_.remove_toxic(proxy_name,
                                    toxic_name);  // gone already if deleted over /proxies
        });
      });
}

void FaultProxyApi::add_metrics(MetricsRegistry& metrics) {
  metrics.add_collector([this](std::string& out) {
    const auto proxies = proxy_.proxies();
    out += "# HELP gatedrill_fault_proxy_connections_total Connections accepted per proxy.\n";
    out += "# TYPE gatedrill_fault_proxy_connections_total counter\n";
    for (const auto& p : proxies) {
      out += "gatedrill_fault_proxy_connections_total{proxy=\"" + p.config.name + "\"} " +
             std::to_string(p.connections) + "\n";
    }
    out += "# HELP gatedrill_fault_proxy_toxics Toxics active per proxy.\n";
    out += "# TYPE gatedrill_fault_proxy_toxics gauge\n";
    for (const auto& p : proxies) {
      out += "gatedrill_fault_proxy_toxics{proxy=\"" + p.config.name + "\"} " +
             std::to_string(p.toxics.size()) + "\n";
    }
  });
}

HttpResponse FaultProxyApi::handle(const HttpRequest& request) {
  // "/proxies", "/proxies/NAME", "/proxies/NAME/toxics", "/proxies/NAME/toxics/TOXIC"
  std::vector<std::string_view> parts;
  for (auto p : split(request.path, '/')) {
    if (!p.empty()) parts.push_back(p);
  }
  const std::string& m = request.method;
  if (parts.empty() || parts[0] != "proxies" || parts.size() > 4 ||
      (parts.size() >= 3 && parts[2] != "toxics")) {
    return json_error(404, "not_found", "no route for " + request.path);
  }
  if (parts.size() == 1) {
    if (m == "GET") {
      boost::json::object all;
      for (const auto& info : proxy_.proxies()) all[info.config.name] = proxy_json(info);
      return ok(all);
    }
    if (m == "POST") return create_proxy(proxy_, request);
    return method_not_allowed("GET, POST");
  }
  const std::string name(parts[1]);
  if (parts.size() == 2) {
    if (m == "GET") {
      auto info = proxy_.proxy(name);
      return info ? ok(proxy_json(*info)) : error_response(info.error());
    }
    if (m == "DELETE") {
      auto removed = proxy_.remove_proxy(name);
      return removed ? no_content() : error_response(removed.error());
    }
    return method_not_allowed("GET, DELETE");
  }
  if (parts.size() == 3) {
    if (m == "GET") {
      auto info = proxy_.proxy(name);
      if (!info) return error_response(info.error());
      boost::json::array toxics;
      for (const auto& t : info->toxics) toxics.push_back(toxic_to_json(t));
      return ok(toxics);
    }
    if (m == "POST") return add_toxic(proxy_, name, request);
    return method_not_allowed("GET, POST");
  }
  const std::string toxic(parts[3]);
  if (m == "GET") {
    auto info = proxy_.proxy(name);
    if (!info) return error_response(info.error());
    for (const auto& t : info->toxics) {
      if (t.name == toxic) return ok(toxic_to_json(t));
    }
    return json_error(404, "no_such_toxic",
                      "proxy '" + name + "' has no toxic named '" + toxic + "'");
  }
  if (m == "DELETE") {
    auto removed = proxy_.remove_toxic(name, toxic);
    return removed ? no_content() : error_response(removed.error());
  }
  return method_not_allowed("GET, DELETE");
}

}  // namespace gatedrill

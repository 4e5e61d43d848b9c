#include "core/admin/admin_server.hpp"

#include <boost/json/object.hpp>

#include "core/util/json.hpp"

namespace gatedrill {

namespace {

constexpr std::string_view kFaultsPrefix = "/admin/faults/";

HttpResponse error_response(const Error& error) {
  int status = 400;
  if (error.code == "no_such_fault") status = 404;
  return json_error(status, error.code, error.message);
}

}  // namespace

AdminServer::AdminServer(TimeSource& time, MetricsRegistry& metrics, FaultRegistry& faults,
                         HttpServerOptions options)
    : time_(time),
      metrics_(metrics),
      faults_(faults),
      server_(std::make_unique<HttpServer>(std::move(options))) {
  install_routes();
}

AdminServer::~AdminServer() {
  stop();
}

// Read by the /healthz handler without a lock: set it before start().
void AdminServer::set_health_check(std::function<std::string()> check) {
  health_check_ = std::move(check);
}

void AdminServer::route(std::string method, std::string path, HttpHandler handler) {
  server_->route(std::move(method), std::move(path), std::move(handler));
}

Result<void> AdminServer::start() {
  return server_->start();
}
void AdminServer::stop() {
  server_->stop();
}
uint16_t AdminServer::port() const {
  return server_->port();
}

void AdminServer::install_routes() {
  server_->route("GET", "/healthz", [this](const HttpRequest&) {
    std::string reason = health_check_ ? health_check_() : std::string();
    if (!reason.empty()) return json_error(503, "unhealthy", reason);
    HttpResponse response;
    response.content_type = "text/plain";
    response.body = "ok";
    return response;
  });

  server_->route("GET", "/metrics", [this](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_.render();
    return response;
  });

  auto clock_state = [this] {
    boost::json::object out;
    out["skew_ms"] = time_.skew().count();
    out["wall_ms"] = time_.wall_ms();
    out["monotonic_ms"] = time_.monotonic_ms();
    return json_ok(to_json(out));
  };
  server_->route("GET", "/admin/clock",
                 [clock_state](const HttpRequest&) { return clock_state(); });
  server_->route("POST", "/admin/clock", [this, clock_state](const HttpRequest& request) {
    auto body = parse_json_object(request.body);
    if (!body) return json_error(400, "bad_params", body.error().message);
    auto skew = json_int(*body, "skew_ms");
    if (!skew)
      return json_error(400, "bad_params", "skew_ms must be an integer number of milliseconds");
    if (!skew->has_value()) return json_error(400, "bad_params", "skew_ms is required");
    time_.set_skew(std::chrono::milliseconds(**skew));
    return clock_state();
  });

  server_->route("GET", "/admin/faults",
                 [this](const HttpRequest&) { return json_ok(to_json(faults_.list())); });
  server_->route("POST", "/admin/faults", [this](const HttpRequest& request) {
    auto body = parse_json_object(request.body);
    if (!body) return json_error(400, "bad_params", body.error().message);
    auto type = json_string(*body, "type");
    if (!type) return error_response(type.error());
    if (!type->has_value() || (*type)->empty())
      return json_error(400, "bad_params", "type is required");
    boost::json::object params;
    if (auto it = body->find("params"); it != body->end()) {
      if (!it->value().is_object())
        return json_error(400, "bad_params", "params must be an object");
      params = it->value().as_object();
    }
    auto id = faults_.add(**type, params);
    if (!id) return error_response(id.error());
    boost::json::object out;
    out["id"] = *id;
    return json_ok(to_json(out));
  });
  server_->route("DELETE", "/admin/faults", [this](const HttpRequest&) {
    faults_.clear();
    return json_ok("{}");
  });

  server_->route("GET", "/admin/faults/*", [this](const HttpRequest& request) {
    std::string id = request.path.substr(kFaultsPrefix.size());
    auto all = faults_.list();
    for (const auto& fault : all.as_object().at("faults").as_array()) {
      if (fault.as_object().at("id").as_string() == id) return json_ok(to_json(fault));
    }
    return json_error(404, "no_such_fault", "no active fault with id '" + id + "'");
  });
  server_->route("DELETE", "/admin/faults/*", [this](const HttpRequest& request) {
    auto removed = faults_.remove(request.path.substr(kFaultsPrefix.size()));
    if (!removed) return error_response(removed.error());
    return json_ok("{}");
  });
}

}  // namespace gatedrill

#include "ca-sim/ca_server.hpp"

#include <fstream>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/util/json.hpp"

namespace gatedrill {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
               hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

HttpResponse pem_response(std::string pem) {
  HttpResponse r;
  r.content_type = "application/x-pem-file";
  r.body = std::move(pem);
  return r;
}

boost::json::object cert_json(const IssuedCert& c) {
  boost::json::object o;
  o["cert"] = c.cert_pem;
  o["key"] = c.key_pem;
  o["chain"] = c.chain_pem;
  o["serial"] = c.serial_hex;
  o["not_before_s"] = c.not_before_s;
  o["not_after_s"] = c.not_after_s;
  if (!c.spiffe_id.empty()) o["spiffe_id"] = c.spiffe_id;
  return o;
}

int status_for(const Error& e) {
  return e.code == "unknown_serial" ? 404 : e.code.rfind("bad_", 0) == 0 ? 400 : 500;
}

Result<std::vector<std::string>> string_list(const boost::json::object& o, const char* key) {
  std::vector<std::string> out;
  auto it = o.find(key);
  if (it == o.end()) return out;
  if (!it->value().is_array())
    return make_error("bad_request", std::string(key) + " must be an array of strings");
  for (const auto& v : it->value().as_array()) {
    if (!v.is_string())
      return make_error("bad_request", std::string(key) + " must be an array of strings");
    out.emplace_back(v.as_string());
  }
  return out;
}

}  // namespace

std::string query_value(std::string_view query, std::string_view name) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    start = end + 1;
  }
  return "";
}

CaServer::CaServer(TimeSource& time, CaServerOptions options)
    : time_(time), options_(std::move(options)), distribution_(time), faults_(time) {}

CaServer::~CaServer() {
  stop();
}

Result<void> CaServer::start() {
  auto pki = Pki::create(time_, options_.pki);
  if (!pki) return pki.error();
  pki_ = std::move(*pki);
  rotation_ = std::make_unique<SvidRotation>(*pki_, time_, options_.svid_ttl);
  auto published = publish();
  if (!published) return published;
  register_faults();
  HttpServerOptions http;
  http.port = options_.admin_port;
  admin_ = std::make_unique<AdminServer>(time_, metrics_, faults_, http);
  admin_->route("GET", "/bundle", [this](const HttpRequest& r) { return get_bundle(r); });
  admin_->route("GET", "/crl", [this](const HttpRequest& r) { return get_crl(r); });
  admin_->route("GET", "/svid", [this](const HttpRequest& r) { return get_svid(r); });
  admin_->route("POST", "/admin/issue", [this](const HttpRequest& r) { return post_issue(r); });
  admin_->route("POST", "/admin/revoke", [this](const HttpRequest& r) { return post_revoke(r); });
  return admin_->start();
}

void CaServer::stop() {
  if (admin_) admin_->stop();
}

uint16_t CaServer::port() const {
  return admin_ ? admin_->port() : 0;
}

Result<void> CaServer::publish() {
  auto crl = pki_->crl_pem();
  if (!crl) return crl.error();
  const std::string bundle = pki_->bundle_pem();
  distribution_.publish(bundle, *crl);
  if (!options_.out_dir.empty()) {
    for (const auto& [name, text] :
         {std::pair<std::string, const std::string*>{"bundle.pem", &bundle}, {"crl.pem", &*crl}}) {
      const std::string path = options_.out_dir + "/" + name;
      const std::string tmp = path + ".tmp";
      std::ofstream out(tmp, std::ios::trunc);
      out << *text;
      out.close();
      // Readers see the old file or the new one, never half of one.
      if (!out || std::rename(tmp.c_str(), path.c_str()) != 0) {
        return make_error("write_failed", "cannot write " + path);
      }
    }
  }
  return {};
}

void CaServer::register_faults() {
  faults_.register_type(
      "roll_intermediate", [this](const boost::json::object&) -> Result<FaultRegistry::Clear> {
        auto rolled = pki_->roll_intermediate();
        if (!rolled) return rolled.error();
        auto published = publish();
        if (!published) return published.error();
        return FaultRegistry::Clear([] {});  // a roll is not undone; clearing just ends the window
      });
  faults_.register_type("stop_rotation",
                        [this](const boost::json::object&) -> Result<FaultRegistry::Clear> {
                          rotation_->set_stopped(true);
                          return FaultRegistry::Clear([this] { rotation_->set_stopped(false); });
                        });
  faults_.register_type("expired_crl",
                        [this](const boost::json::object&) -> Result<FaultRegistry::Clear> {
                          pki_->set_expired_crl(true);
                          auto published = publish();
                          if (!published) return published.error();
                          return FaultRegistry::Clear([this] {
                            pki_->set_expired_crl(false);
                            (void)publish();
                          });
                        });
  faults_.register_type(
      "bundle_desync", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
        auto nodes = string_list(params, "nodes");
        if (!nodes || nodes->empty())
          return make_error("bad_params", "nodes must be a non-empty array of node names");
        auto mode = json_string(params, "mode");
        if (!mode) return make_error("bad_params", mode.error().message);
        const std::string m = mode->value_or("withhold");
        auto delay_ms = json_int(params, "delay_ms");
        if (!delay_ms) return make_error("bad_params", delay_ms.error().message);
        if (m == "withhold") {
          for (const auto& n : *nodes) distribution_.withhold(n);
        } else if (m == "delay") {
          if (!delay_ms->has_value() || **delay_ms <= 0) {
            return make_error("bad_params", "mode \"delay\" needs delay_ms > 0");
          }
          for (const auto& n : *nodes)
            distribution_.delay(n, std::chrono::milliseconds(**delay_ms));
        } else {
          return make_error("bad_params",
                            "mode must be \"withhold\" or \"delay\", got \"" + m + "\"");
        }
        std::vector<std::string> healed = *nodes;
        return FaultRegistry::Clear([this, healed] {
          for (const auto& n : healed) distribution_.heal(n);
        });
      });
}

HttpResponse CaServer::get_bundle(const HttpRequest& request) {
  return pem_response(distribution_.view(query_value(request.query, "node")).bundle_pem);
}

HttpResponse CaServer::get_crl(const HttpRequest& request) {
  return pem_response(distribution_.view(query_value(request.query, "node")).crl_pem);
}

HttpResponse CaServer::get_svid(const HttpRequest& request) {
  const std::string id = query_value(request.query, "spiffe_id");
  if (id.empty()) return json_error(400, "bad_request", "spiffe_id is required");
  // ip=127.0.0.1: a serving SVID that clients can also check by address.
  std::vector<std::string> ips;
  if (std::string ip = query_value(request.query, "ip"); !ip.empty()) ips.push_back(ip);
  auto svid = rotation_->current(id, ips);
  if (!svid) return json_error(status_for(svid.error()), svid.error().code, svid.error().message);
  return json_ok(to_json(cert_json(*svid)));
}

HttpResponse CaServer::post_issue(const HttpRequest& request) {
  auto body = parse_json_object(request.body);
  if (!body) return json_error(400, "bad_json", body.error().message);
  auto ttl = json_int(*body, "ttl_s");
  if (!ttl) return json_error(400, "bad_request", ttl.error().message);
  const std::chrono::seconds ttl_s(ttl->value_or(options_.svid_ttl.count()));
  auto id = json_string(*body, "spiffe_id");
  if (!id) return json_error(400, "bad_request", id.error().message);
  // A workload renewing its SVID goes through rotation: while rotation is stopped (the
  // stop_rotation fault) the renewal fails and the SVID it holds runs to expiry.
  if (const auto* renewal = body->if_contains("renewal");
      renewal && renewal->is_bool() && renewal->as_bool() && rotation_->stopped())
    return json_error(503, "rotation_stopped", "SVID rotation is stopped: renewal refused");
  Result<IssuedCert> issued = make_error("bad_request", "give spiffe_id, or dns/ips");
  if (id->has_value()) {
    issued = pki_->issue_svid(**id, ttl_s);
  } else {
    auto dns = string_list(*body, "dns");
    auto ips = string_list(*body, "ips");
    if (!dns) return json_error(400, "bad_request", dns.error().message);
    if (!ips) return json_error(400, "bad_request", ips.error().message);
    issued = pki_->issue_server(*dns, *ips, ttl_s);
  }
  if (!issued)
    return json_error(status_for(issued.error()), issued.error().code, issued.error().message);
  return json_ok(to_json(cert_json(*issued)));
}

HttpResponse CaServer::post_revoke(const HttpRequest& request) {
  auto body = parse_json_object(request.body);
  if (!body) return json_error(400, "bad_json", body.error().message);
  auto serial = json_string(*body, "serial");
  if (!serial || !serial->has_value())
    return json_error(400, "bad_request", "serial (hex) is required");
  auto revoked = pki_->revoke(**serial);
  if (!revoked)
    return json_error(status_for(revoked.error()), revoked.error().code, revoked.error().message);
  auto published = publish();
  if (!published) return json_error(500, published.error().code, published.error().message);
  return json_ok(R"({"revoked":true})");
}

}  // namespace gatedrill

#include "gateway/policy/pdp_server.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>

#include "core/http/http_server.hpp"
#include "core/time/time_source.hpp"
#include "core/util/cli.hpp"
#include "core/util/json.hpp"
#include "core/util/signals.hpp"
#include "core/util/strings.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace gatedrill {

namespace {

// "api/authz/allow" -> data.api.authz.allow (segments that are not names are quoted).
std::string data_query(std::string_view path) {
  std::string q = "data";
  for (auto seg : split(path, '/')) {
    if (seg.empty()) continue;
    bool name = !std::isdigit(static_cast<unsigned char>(seg[0]));
    for (char c : seg) name = name && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    q += name ? "." + std::string(seg) : "[" + to_json(boost::json::string(seg)) + "]";
  }
  return q;
}

// OPA's error body: {"code": ..., "message": ...}.
HttpResponse opa_error(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = to_json(boost::json::object{{"code", code}, {"message", message}});
  return r;
}

}  // namespace

struct PdpServer::Impl {
  PdpOptions options;
  std::unique_ptr<PolicyEngine> engine;
  std::unique_ptr<HttpServer> server;
  std::atomic<uint64_t> next_id{0};
  std::string id_prefix;
  std::mutex log_mutex;
  std::FILE* log = nullptr;

  ~Impl() {
    if (server) server->stop();
    if (log) std::fclose(log);
  }

  HttpResponse decide(const HttpRequest& req) {
    std::string path = req.path.substr(std::string_view("/v1/data").size());
    if (!path.empty() && path[0] != '/')
      return opa_error(404, "resource_not_found", "unknown path " + req.path);
    std::string query = data_query(path);
    boost::json::value input;
    bool has_input = false;
    if (req.method == "POST" && !trim(req.body).empty()) {
      auto body = parse_json(req.body);
      if (!body || !body->is_object()) {
        return opa_error(400, "invalid_parameter",
                         "body must be a JSON object like {\"input\": ...}");
      }
      if (auto* in = body->as_object().if_contains("input")) {
        input = *in;
        has_input = true;
      }
    }
    char id[48];
    std::snprintf(id, sizeof id, "%s-%llu", id_prefix.c_str(),
                  static_cast<unsigned long long>(++next_id));
    int64_t start = options.time->monotonic_ns();
    auto out = engine->eval_json(query, has_input ? &input : nullptr);
    int64_t took = options.time->monotonic_ns() - start;
    boost::json::object body;
    boost::json::object entry{{"decision_id", id},   {"path", path},
                              {"query", query},      {"timestamp_ms", options.time->wall_ms()},
                              {"duration_ns", took}, {"policy_version", engine->version()}};
    if (has_input) entry["input"] = input;
    HttpResponse resp;
    if (!out) {
      entry["error"] = out.error().code + ": " + out.error().message;
      resp = opa_error(500, "internal_error", out.error().code + ": " + out.error().message);
    } else {
      const auto& o = out->as_object();
      if (o.contains("result")) {
        const auto& v = o.at("result").at(0).at("expressions").at(0).at("value");
        body["result"] = v;
        entry["result"] = v;
      }
      body["decision_id"] = id;
      resp = json_ok(to_json(body));
    }
    if (log) {
      std::string line = to_json(entry) + "\n";
      std::lock_guard<std::mutex> lock(log_mutex);
      std::fputs(line.c_str(), log);
      std::fflush(log);
    }
    return resp;
  }
};

PdpServer::PdpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PdpServer::~PdpServer() = default;

Result<std::unique_ptr<PdpServer>> PdpServer::start(PdpOptions options) {
  if (!options.time) return make_error("config", "PdpOptions.time is required");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  PolicyOptions po;
  po.time = options.time;
  po.timeout = options.timeout;
  auto engine = PolicyEngine::load(options.policy_paths, po);
  if (!engine) return engine.error();
  impl->engine = std::make_unique<PolicyEngine>(std::move(*engine));
  std::random_device rd;
  char prefix[17];
  std::snprintf(prefix, sizeof prefix, "%08x", rd());
  impl->id_prefix = prefix;
  if (!options.decision_log.empty()) {
    impl->log = std::fopen(options.decision_log.c_str(), "a");
    if (!impl->log)
      return make_error("io_error", "cannot open decision log " + options.decision_log);
  }
  HttpServerOptions so;
  so.bind_address = options.bind_address;
  so.port = options.port;
  so.threads = options.threads;
  impl->server = std::make_unique<HttpServer>(so);
  Impl* self = impl.get();
  impl->server->route("GET", "/health", [](const HttpRequest&) { return json_ok("{}"); });
  impl->server->route("POST", "/v1/data*",
                      [self](const HttpRequest& r) { return self->decide(r); });
  impl->server->route("GET", "/v1/data*", [self](const HttpRequest& r) { return self->decide(r); });
  if (auto r = impl->server->start(); !r) return r.error();
  return std::unique_ptr<PdpServer>(new PdpServer(std::move(impl)));
}

uint16_t PdpServer::port() const {
  return impl_->server->port();
}
const std::string& PdpServer::policy_version() const {
  return impl_->engine->version();
}
void PdpServer::stop() {
  impl_->server->stop();
}

int pdp_command(int argc, char** argv) {
  std::vector<std::string> policies;
  int64_t port = 8181;
  int64_t threads = 2;
  std::string bind = "127.0.0.1", timeout = "0s", log;
  ArgParser p("pdp",
              "Policy decision point with OPA's Data API (POST /v1/data/{path}, GET /health).");
  p.repeated("policy", &policies, "policy (.rego), data (.json) file or directory; repeatable");
  p.option("port", &port, "listen port (0: any free port; default 8181 like OPA)");
  p.option("bind", &bind, "listen address (default 127.0.0.1)");
  p.option("threads", &threads, "server threads (default 2)");
  p.option("timeout", &timeout, "per-decision evaluation limit, e.g. 50ms (0: none)");
  p.option("decision-log", &log, "append one JSON line per decision to this file");
  if (int code = parse_or_exit_code(p, argc, argv); code >= 0) return code;
  if (policies.empty()) {
    std::fprintf(stderr, "error: --policy is required\n(see gatedrill pdp --help)\n");
    return 2;
  }
  if (port < 0 || port > 65535 || threads < 1 || threads > 64) {
    std::fprintf(stderr, "error: --port must be 0..65535 and --threads 1..64\n");
    return 2;
  }
  auto limit = parse_duration(timeout);
  if (!limit) {
    std::fprintf(stderr, "error: %s\n", limit.error().message.c_str());
    return 2;
  }
  TerminationSignals signals;
  SystemTimeSource clock;
  PdpOptions o;
  o.policy_paths = policies;
  o.bind_address = bind;
  o.port = static_cast<uint16_t>(port);
  o.threads = static_cast<int>(threads);
  o.time = &clock;
  o.timeout = *limit;
  o.decision_log = log;
  auto server = PdpServer::start(o);
  if (!server) {
    std::fprintf(stderr, "error: %s: %s\n", server.error().code.c_str(),
                 server.error().message.c_str());
    return 1;
  }
  print_ready_line("pdp", (*server)->port(), 0);
  signals.wait();
  (*server)->stop();
  return 0;
}

}  // namespace gatedrill

#include "scenarios/peers/upstream_sim.hpp"

#include "core/util/json.hpp"

namespace gatedrill {

namespace {

// A well-mixed 64-bit value from a counter (splitmix64), for "fail with probability p" without
// shared RNG state between server threads.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Error bad_params(const std::string& message) { return make_error("bad_params", message); }

}  // namespace

UpstreamSim::UpstreamSim(TimeSource& time, UpstreamOptions options)
    : time_(time), options_(std::move(options)), faults_(time) {
  body_.assign(static_cast<size_t>(options_.body_bytes), 'x');
  requests_ = &metrics_.counter("gatedrill_upstream_requests_total", "Requests answered");
  register_faults();
}

UpstreamSim::~UpstreamSim() { stop(); }

HttpResponse UpstreamSim::answer(const HttpRequest& request) {
  requests_->inc();
  HttpResponse response;
  response.content_type = "application/octet-stream";
  if (down_.load(std::memory_order_relaxed)) {
    response.status = 503;
    response.body = "upstream down (fault)";
    response.close = true;
    return response;
  }
  int64_t latency_us = options_.latency.count() + extra_latency_us_.load(std::memory_order_relaxed);
  int64_t stall_until = stall_until_ms_.load(std::memory_order_relaxed);
  if (stall_until > 0) {
    int64_t now_ms = time_.monotonic_ms();
    if (now_ms < stall_until) latency_us += (stall_until - now_ms) * 1000;
  }
  response.delay = std::chrono::microseconds(latency_us);
  double p = error_probability_.load(std::memory_order_relaxed);
  if (p > 0) {
    double draw = static_cast<double>(mix(error_draw_.fetch_add(1, std::memory_order_relaxed)) >> 11) /
                  static_cast<double>(1ULL << 53);
    if (draw < p) {
      response.status = error_status_.load(std::memory_order_relaxed);
      response.body = "injected error";
      return response;
    }
  }
  response.status = options_.status;
  response.body = body_;
  // Echo what the gateway told us about the caller, so tests can see identity propagation.
  if (auto sub = request.header("x-gatedrill-sub"); !sub.empty())
    response.headers.emplace_back("x-upstream-saw-sub", std::string(sub));
  if (auto id = request.header("x-request-id"); !id.empty())
    response.headers.emplace_back("x-upstream-saw-request-id", std::string(id));
  return response;
}

void UpstreamSim::register_faults() {
  // {"latency_ms": 50}: added to every answer.
  faults_.register_type("latency", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
    auto ms = json_number(params, "latency_ms");
    if (!ms) return ms.error();
    if (!ms->has_value()) return bad_params("latency needs latency_ms");
    if (**ms < 0) return bad_params("latency_ms must be >= 0");
    extra_latency_us_.store(static_cast<int64_t>(**ms * 1000), std::memory_order_relaxed);
    return FaultRegistry::Clear([this] { extra_latency_us_.store(0, std::memory_order_relaxed); });
  });
  // {"status": 503, "probability": 0.5}
  faults_.register_type("error", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
    auto status = json_int(params, "status");
    auto probability = json_number(params, "probability");
    if (!status) return status.error();
    if (!probability) return probability.error();
    int64_t s = status->value_or(503);
    double p = probability->value_or(1.0);
    if (s < 100 || s > 599) return bad_params("status must be an HTTP status (100..599)");
    if (p < 0 || p > 1) return bad_params("probability must be between 0 and 1");
    error_status_.store(static_cast<int>(s), std::memory_order_relaxed);
    error_probability_.store(p, std::memory_order_relaxed);
    return FaultRegistry::Clear([this] { error_probability_.store(0, std::memory_order_relaxed); });
  });
  // {"duration_ms": 1000}: every answer is held until the stall ends (a GC pause, a frozen VM).
  faults_.register_type("stall", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
    auto ms = json_int(params, "duration_ms");
    if (!ms) return ms.error();
    if (!ms->has_value() || **ms <= 0) return bad_params("stall needs duration_ms > 0");
    stall_until_ms_.store(time_.monotonic_ms() + **ms, std::memory_order_relaxed);
    return FaultRegistry::Clear([this] { stall_until_ms_.store(0, std::memory_order_relaxed); });
  });
  // Every request answered 503 and the connection closed.
  faults_.register_type("down", [this](const boost::json::object&) -> Result<FaultRegistry::Clear> {
    down_.store(true, std::memory_order_relaxed);
    return FaultRegistry::Clear([this] { down_.store(false, std::memory_order_relaxed); });
  });
}

Result<void> UpstreamSim::start() {
  HttpServerOptions options;
  options.bind_address = options_.bind_address;
  options.port = options_.port;
  options.threads = options_.threads;
  server_ = std::make_unique<HttpServer>(options);
  server_->route("*", "/*", [this](const HttpRequest& request) { return answer(request); });
  if (auto started = server_->start(); !started) return started;

  HttpServerOptions admin_options;
  admin_options.bind_address = options_.bind_address;
  admin_options.port = options_.admin_port;
  admin_ = std::make_unique<AdminServer>(time_, metrics_, faults_, admin_options);
  return admin_->start();
}

void UpstreamSim::stop() {
  if (admin_) admin_->stop();
  if (server_) server_->stop();
}

uint16_t UpstreamSim::port() const { return server_ ? server_->port() : 0; }
uint16_t UpstreamSim::admin_port() const { return admin_ ? admin_->port() : 0; }
uint64_t UpstreamSim::requests_served() const { return requests_->value(); }

}  // namespace gatedrill

#pragma once
// The admin server every long-running component runs on its admin port:
//   GET /healthz                 200 "ok" when healthy, 503 with the reason otherwise
//   GET /metrics                 Prometheus text
//   GET|POST|DELETE /admin/faults[/ID]
//   GET|POST /admin/clock        {"skew_ms": 0, "wall_ms": ..., "monotonic_ms": ...}
// Components add their own admin routes (the IdP's /admin/tokens) with route().
#include <functional>
#include <memory>
#include <string>

#include "core/admin/faults.hpp"
#include "core/admin/metrics.hpp"
#include "core/http/http_server.hpp"
#include "core/time/time_source.hpp"

namespace gatedrill {

class AdminServer {
 public:
  AdminServer(TimeSource& time, MetricsRegistry& metrics, FaultRegistry& faults,
              HttpServerOptions options);
  ~AdminServer();

  // Health beyond "the process answers": return an empty string when healthy, else the reason.
  void set_health_check(std::function<std::string()> check);
  void route(std::string method, std::string path, HttpHandler handler);

  Result<void> start();
  void stop();
  uint16_t port() const;

 private:
  TimeSource& time_;
  MetricsRegistry& metrics_;
  FaultRegistry& faults_;
  std::function<std::string()> health_check_;
  std::unique_ptr<HttpServer> server_;
  void install_routes();
};

}  // namespace gatedrill

#pragma once
// `gatedrill registry`: the registry core over HTTP, with the faults drills need.
//   GET  /health
//   PUT  /v1/policies        {"modules": {"authz.rego": "..."}, "data": {...}, "author": "..."}
//   GET  /v1/bundle          the active revision; If-None-Match: <hash> -> 304 (nodes poll)
//   POST /v1/break-glass     {"modules": {...}, "actor": "...", "reason": "..."}
//   POST /v1/rollback        {"revision": N, "actor": "..."}
//   GET  /v1/audit
//   POST /v1/nodes/{node}    {"revision": N}  (what the node enforces); GET /v1/nodes
//   PUT  /v1/routes          {"routes": [{"prefix": "/api/orders", "service": "orders"}, ...]} (<=
//   50k) GET  /v1/routes/match?path=/api/orders/7 -> {"service": "orders"} or 404 route_not_found
//   PUT  /v1/quotas          seed 003's quota_management YAML; GET /v1/quotas/{service}
//   POST /v1/discovery/{service} {"address": "...", "ttl_ms": N}  (register / heartbeat)
//   GET  /v1/discovery/{service} -> {"instances": [...]} or 404 service_not_found
//   GET  /admin/stats/fetches {"window_ms": 100, "windows": [[start_ms, bundle fetches], ...]}
//   POST /admin/fault        {"mode": "none"|"offline"|"slow"|"partial", "delay_ms": N, "percent":
//   P}
//     offline: every /v1 call answers 503 (nodes keep their last good bundle); slow: delayed;
//     partial: only P% of nodes (by the X-Gatedrill-Node header) get the newest revision, the
//     others keep receiving the previous one.
#include <cstdint>
#include <memory>
#include <string>

#include "core/util/result.hpp"

namespace gatedrill {

class TimeSource;

struct RegistryServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  int threads = 2;
};

class RegistryServer {
 public:
  // Errors: "bind_failed".
  static Result<std::unique_ptr<RegistryServer>> start(const TimeSource& time,
                                                       RegistryServerOptions options);
  ~RegistryServer();
  uint16_t port() const;
  void stop();

 private:
  struct Impl;
  explicit RegistryServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

int registry_command(int argc, char** argv);

}  // namespace gatedrill

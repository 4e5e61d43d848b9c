#pragma once
// The core of the policy registry (seed 003): the authoritative, versioned store of policy
// bundles (each revision compiled before it is accepted, identified by a content hash like
// OPA's bundle revision), the break-glass switch with its audit trail, the revision each
// gateway node reports it enforces (to see partial propagation), and service discovery with
// heartbeats that expire on the injected TimeSource. Thread-safe; no network here.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "core/util/result.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace gatedrill {

class TimeSource;

struct PolicyBundle {
  int64_t revision = 0;  // 1, 2, ... in publication order
  std::string hash;      // PolicyEngine::version() of the modules and data
  std::vector<PolicyModule> modules;
  std::string data_json = "{}";
  int64_t published_ms = 0;  // wall clock (skewable)
  std::string author;
  bool break_glass = false;
};

struct AuditEntry {
  int64_t at_ms = 0;
  std::string actor;
  std::string action;  // "publish", "break_glass", "rollback"
  int64_t revision = 0;
  std::string detail;  // the break-glass reason, the rollback source
};

class PolicyRegistry {
 public:
  explicit PolicyRegistry(const TimeSource& time);

  // Compiles the bundle; only a bundle that loads becomes the next, active revision.
  // Errors: the load errors ("rego_parse_error", ... with file:line), "bad_json".
  Result<PolicyBundle> publish(std::vector<PolicyModule> modules, std::string data_json,
                               std::string author);
  // Emergency activation outside the normal review path: needs an actor and a reason, and is
  // recorded as such. Errors: "missing_reason", and those of publish.
  Result<PolicyBundle> break_glass(std::vector<PolicyModule> modules, std::string actor,
                                   std::string reason);
  // Makes an earlier revision active again (as a new revision with the same hash).
  // Errors: "unknown_revision".
  Result<PolicyBundle> rollback(int64_t revision, std::string actor);

  std::optional<PolicyBundle> active() const;
  std::optional<PolicyBundle> get(int64_t revision) const;
  std::vector<AuditEntry> audit() const;

  // What each node says it enforces; nodes behind the active revision are lagging.
  void report_enforced(const std::string& node, int64_t revision);
  std::map<std::string, int64_t> enforced() const;
  std::vector<std::string> lagging_nodes() const;

 private:
  Result<PolicyBundle> add(std::vector<PolicyModule> modules, std::string data_json,
                           std::string author, bool break_glass, const std::string& action,
                           const std::string& detail);
  const TimeSource& time_;
  mutable std::mutex mutex_;
  std::vector<PolicyBundle> revisions_;
  std::vector<AuditEntry> audit_;
  std::map<std::string, int64_t> enforced_;
};

// Routes the registry distributes: path prefix -> service, matched on segment boundaries by
// the longest prefix ("/api/orders" matches "/api/orders" and "/api/orders/7", not
// "/api/ordersX"). Replaced as a whole, each version hashed; at most 50,000 routes.
class RouteTable {
 public:
  static constexpr size_t kMaxRoutes = 50000;
  // Entries {"prefix", "service"} with an optional "cluster" (the gateway's upstream cluster by
  // name; absent: its default cluster). Errors: "bad_routes" (not a list of {prefix, service},
  // prefix not starting with '/', duplicate prefix, a cluster not a non-empty string, too many
  // routes).
  Result<std::string> replace(const boost::json::value& routes);  // -> the new hash
  // Errors: "route_not_found".
  Result<std::string> match(std::string_view path) const;
  size_t size() const;
  std::string hash() const;
  // The whole table and its hash, read together (what gateways fetch with GET /v1/routes).
  struct Entry {
    std::string prefix, service, cluster;  // cluster empty: the gateway's default
  };
  struct Snapshot {
    std::string hash;           // empty: nothing published yet
    std::vector<Entry> routes;  // by prefix
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string, std::less<>> routes_;
  std::map<std::string, std::string, std::less<>> clusters_;  // prefix -> cluster, when named
  std::string hash_;
};

// Services register instances and keep them alive with heartbeats; an instance whose TTL
// passed is gone, and a service with no live instance is "service_not_found".
class ServiceDiscovery {
 public:
  explicit ServiceDiscovery(const TimeSource& time);
  void heartbeat(const std::string& service, const std::string& address,
                 std::chrono::milliseconds ttl);
  void deregister(const std::string& service, const std::string& address);
  // Live addresses, sorted. Errors: "service_not_found".
  Result<std::vector<std::string>> lookup(std::string_view service) const;

 private:
  const TimeSource& time_;
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, int64_t>, std::less<>> expiry_ms_;  // monotonic
};

}  // namespace gatedrill

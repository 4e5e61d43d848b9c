#pragma once
// A gateway node's route table from the registry (seed 003): polls GET /v1/routes with the
// current hash as If-None-Match (an unchanged table is a 304 and costs nothing), builds and
// validates the next table on this poller's thread, and hands it over only when it is good; a
// bad table is refused, logged and counted, and the last good one stays. Registry unreachable:
// the last good table stays and polls back off with full jitter (BundlePoller::backoff).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/util/result.hpp"
#include "gateway/routing/route_table.hpp"

namespace gatedrill::gateway {

// The table requests are routed by, with each route's cluster index (the data plane's: 0 is
// the default cluster) by route index, so a route and its cluster always come from one table.
struct RouteSnapshot {
  RouteTable table;
  std::vector<size_t> clusters;
  std::string version;  // "file" for --routes, else the registry's hash
};

// The table in force, swapped as a whole. Readers on the request path pay one atomic integer
// load: each thread keeps the snapshot it last used and reloads the shared pointer only when
// the generation changed (a shared-pointer load per request would make every worker bump one
// shared reference count: in route_bench 2 threads matched 2.4-4.2M/s that way, no more than
// one thread alone, and 6.1-7.6M/s through this).
class CurrentRoutes {
 public:
  void store(std::shared_ptr<const RouteSnapshot> next);
  // This thread's view of the current table, null when there is none. Valid until the calling
  // thread's next get() on any CurrentRoutes (the request path uses it within one call).
  const RouteSnapshot* get() const;
  std::shared_ptr<const RouteSnapshot> load() const { return current_.load(); }

 private:
  std::atomic<std::shared_ptr<const RouteSnapshot>> current_;
  std::atomic<uint64_t> generation_{0};  // unique in the process: 0 none, else per store()
};

struct RegistryRoutesOptions {
  std::string registry_url;  // "http://127.0.0.1:8282"
  std::string node;          // sent as x-gatedrill-node
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds max_backoff{30000};
  bool jitter = true;
  // The cluster index of each route; an error refuses the table (e.g. an unknown cluster).
  std::function<Result<std::vector<size_t>>(const RouteTable&)> resolve_clusters;
  // Called on the poller's thread with each new good table (the caller swaps it in).
  std::function<void(std::shared_ptr<const RouteSnapshot>)> apply;
  // Called with the reason when a table is refused.
  std::function<void(const std::string&)> on_refused;
};

// The registry's {"hash": ..., "routes": [{"prefix": "/a", "service": "svc", "cluster": "c"}]}
// as a route table: each entry a prefix route named after its service, on its cluster (absent:
// the default one; the caller resolves the names).
// Errors: "bad_routes" naming the entry (also more than 50,000 routes, no hash).
Result<RouteTable> route_table_from_registry(std::string_view body, std::string* hash);

class RegistryRoutes {
 public:
  static constexpr size_t kMaxRoutes = 50000;

  explicit RegistryRoutes(RegistryRoutesOptions options);
  ~RegistryRoutes();  // stops
  RegistryRoutes(const RegistryRoutes&) = delete;
  RegistryRoutes& operator=(const RegistryRoutes&) = delete;

  void start();
  void stop();
  // One poll now (also what the thread does). True when the registry answered (200, 304, or
  // 404 no routes published).
  bool poll_once();

  std::string version() const;  // the registry hash enforced; empty before the first table
  int64_t failures() const;     // consecutive polls that did not reach the registry
  int64_t refused() const;      // tables refused as invalid

 private:
  void run();
  // Tells the registry which table this node enforces (POST /v1/nodes/{node}), as the bundle
  // poller does for the policy revision.
  void report();
  RegistryRoutesOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string hash_;  // the table enforced
  std::string etag_;  // the last table fetched (enforced or refused)
  int64_t failures_ = 0;
  int64_t refused_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace gatedrill::gateway

// Route matching over 50k routes (gateway/routing/route_table): half exact paths, half
// prefixes, in a few hundred services. Hits for an exact path, a prefix hit three segments
// below its route, and misses (nothing matches; the walk visits every parent). The table is
// hashed per segment, so these should cost the same with 50 routes as with 50k.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "gateway/routing/registry_routes.hpp"
#include "gateway/routing/route_table.hpp"

namespace {

using gatedrill::gateway::Route;
using gatedrill::gateway::RouteSnapshot;
using gatedrill::gateway::RouteTable;

constexpr int kRoutes = 50000;

const RouteTable& table() {
  static const RouteTable t = [] {
    RouteTable routes;
    for (int i = 0; i < kRoutes; ++i) {
      const std::string n = std::to_string(i);
      const std::string service = "svc" + std::to_string(i % 500);
      const bool prefix = i % 2 == 0;
      Route r{"r" + n, "/api/" + service + "/v1/res" + n, prefix, service};
      if (!routes.add(std::move(r))) std::abort();
    }
    return routes;
  }();
  return t;
}

void run(benchmark::State& state, const std::vector<std::string>& paths, bool want_hit) {
  const auto& routes = table();
  size_t i = 0;
  for (auto _ : state) {
    const Route* r = routes.match(paths[i]);
    if ((r != nullptr) != want_hit) state.SkipWithError("unexpected match result");
    benchmark::DoNotOptimize(r);
    if (++i == paths.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["routes"] = static_cast<double>(routes.size());
}

// Paths spread over the table so the probes are not all in one cache line.
std::vector<std::string> paths(int parity, const std::string& suffix) {
  std::vector<std::string> out;
  for (int i = parity; i < kRoutes; i += 2 * 97)
    out.push_back("/api/svc" + std::to_string(i % 500) + "/v1/res" + std::to_string(i) + suffix);
  return out;
}

void BM_RouteMatch_ExactHit(benchmark::State& state) {
  static const auto p = paths(1, "");
  run(state, p, true);
}
BENCHMARK(BM_RouteMatch_ExactHit);

void BM_RouteMatch_PrefixHit(benchmark::State& state) {
  static const auto p = paths(0, "/items/42/details");
  run(state, p, true);
}
BENCHMARK(BM_RouteMatch_PrefixHit);

// An exact route's path with more segments: exact misses and no prefix covers it.
void BM_RouteMatch_Miss(benchmark::State& state) {
  static const auto p = paths(1, "/items/42/details");
  run(state, p, false);
}
BENCHMARK(BM_RouteMatch_Miss);

std::shared_ptr<const RouteSnapshot> bench_snapshot() {
  return std::make_shared<const RouteSnapshot>(
      RouteSnapshot{table(), std::vector<size_t>(table().size(), 0), "bench"});
}

// Per request: the current snapshot from `current()`, the match, the route's cluster index.
template <typename Current>
void run_through(benchmark::State& state, Current current) {
  static const auto p = paths(0, "/items/42/details");
  size_t i = 0;
  for (auto _ : state) {
    const auto routes = current();
    const Route* r = routes->table.match(p[i]);
    if (r == nullptr) state.SkipWithError("unexpected match result");
    size_t cluster = routes->clusters[static_cast<size_t>(r - routes->table.routes().data())];
    benchmark::DoNotOptimize(cluster);
    if (++i == p.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

// A swappable table read with one atomic shared-pointer load per request. With 2 threads the
// loads bump one shared reference count.
void BM_RouteMatch_PrefixHitThroughSnapshot(benchmark::State& state) {
  static std::atomic<std::shared_ptr<const RouteSnapshot>> current{bench_snapshot()};
  run_through(state, [] { return current.load(std::memory_order_acquire); });
}
BENCHMARK(BM_RouteMatch_PrefixHitThroughSnapshot)->Threads(1)->Threads(2);

// What the gateway does: CurrentRoutes::get(), one atomic integer load while the table is
// unchanged, so the threads share no written cache line.
void BM_RouteMatch_PrefixHitThroughCurrentRoutes(benchmark::State& state) {
  static gatedrill::gateway::CurrentRoutes current;
  static std::once_flag once;
  std::call_once(once, [] { current.store(bench_snapshot()); });
  run_through(state, [] { return current.get(); });
}
BENCHMARK(BM_RouteMatch_PrefixHitThroughCurrentRoutes)->Threads(1)->Threads(2);

}  // namespace

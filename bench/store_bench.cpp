// Results store throughput: how many per-second histogram rows the writer thread commits.
// The runner needs one row per node, kind and second; 100k rows/s leaves ample headroom.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <string>

#include "core/histogram/histogram.hpp"
#include "core/store/results_store.hpp"

namespace {

// A node's second of latencies: the blob grows with the number of distinct buckets hit.
std::string typical_blob(int64_t requests) {
  gatedrill::Histogram h;
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> d(14.5, 0.8);
  for (int64_t i = 0; i < requests; ++i) h.record(static_cast<int64_t>(d(rng)));
  return h.encode();
}

void BM_StoreHistogramRows(benchmark::State& state) {
  std::string dir = (std::filesystem::temp_directory_path() / "store-bench-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    auto store = gatedrill::ResultsStore::open(dir + "/results.db");
    if (!store) {
      state.SkipWithError(store.error().message.c_str());
      return;
    }
    auto run_id = (*store)->begin_run({});
    std::string blob = typical_blob(state.range(1));
    const int64_t rows = state.range(0);
    int64_t second = 0;
    for (auto _ : state) {
      for (int64_t i = 0; i < rows; ++i)
        (*store)->add_histogram({*run_id, "gw-" + std::to_string(i % 8), second++, "latency", blob});
      if (auto r = (*store)->flush(); !r) state.SkipWithError(r.error().message.c_str());
    }
    state.SetItemsProcessed(state.iterations() * rows);
    state.counters["blob_bytes"] = static_cast<double>(blob.size());
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreHistogramRows)->Args({10'000, 1'000})->Args({10'000, 20'000})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

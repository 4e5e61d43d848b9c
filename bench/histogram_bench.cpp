// Histogram costs on the load path (record) and on the reporting path (percentile, encode,
// decode, merge), with latencies drawn like real traffic: mostly fast, a long tail.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/histogram/histogram.hpp"

namespace {

std::vector<int64_t> latencies(size_t n) {
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> d(14.5, 0.8);  // median ~2 ms in nanoseconds
  std::vector<int64_t> out(n);
  for (auto& v : out) v = std::min<int64_t>(static_cast<int64_t>(d(rng)), 59'000'000'000);
  return out;
}

gatedrill::Histogram filled(size_t n) {
  gatedrill::Histogram h;
  for (int64_t v : latencies(n)) h.record(v);
  return h;
}

void BM_Record(benchmark::State& state) {
  auto values = latencies(1 << 16);
  gatedrill::Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.record(values[i]));
    i = (i + 1) & (values.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Record);

void BM_Percentile(benchmark::State& state) {
  auto h = filled(100'000);
  for (auto _ : state) benchmark::DoNotOptimize(h.percentile(99.9));
}
BENCHMARK(BM_Percentile);

void BM_Encode(benchmark::State& state) {
  auto h = filled(static_cast<size_t>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    auto blob = h.encode();
    bytes = blob.size();
    benchmark::DoNotOptimize(blob);
  }
  state.counters["blob_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Encode)->Arg(1'000)->Arg(100'000);

void BM_Decode(benchmark::State& state) {
  auto blob = filled(static_cast<size_t>(state.range(0))).encode();
  for (auto _ : state) benchmark::DoNotOptimize(gatedrill::Histogram::decode(blob));
}
BENCHMARK(BM_Decode)->Arg(1'000)->Arg(100'000);

void BM_Merge(benchmark::State& state) {
  auto part = filled(10'000);
  gatedrill::Histogram total;
  for (auto _ : state) total.merge(part);
}
BENCHMARK(BM_Merge);

}  // namespace

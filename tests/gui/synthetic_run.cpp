#include "tests/gui/synthetic_run.hpp"

#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "core/histogram/histogram.hpp"

namespace gatedrill::gui::testing {

namespace {

// Deterministic noise in [-1, 1] from (node, second): no global state, same run every time.
double noise(int node, int second, int salt) {
  uint64_t x = static_cast<uint64_t>(second) * 0x9E3779B97F4A7C15ULL ^
               static_cast<uint64_t>(node * 131 + salt);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<double>(x % 20001) / 10000.0 - 1.0;
}

std::string node_name(int index) {
  return "gw-" + std::to_string(index + 1);
}

double target_at(const SyntheticRun& run, const SyntheticLayout& l, int second) {
  if (second < l.warmup_end) return run.rate * 0.5;
  if (second < l.steady_end) return run.rate;
  return run.rate * 1.5;
}

std::string phase_at(const SyntheticLayout& l, int second) {
  if (second < l.warmup_end) return "warmup";
  if (second < l.steady_end) return "steady";
  return "spike";
}

}  // namespace

SyntheticLayout layout_of(const SyntheticRun& run) {
  SyntheticLayout l;
  int n = run.seconds;
  l.load_start_ms = run.started_ms + 2000;  // the topology takes two seconds to come up
  l.warmup_end = n / 10;
  l.steady_end = n * 8 / 10;
  l.skew_start = n * 3 / 10;
  l.skew_end = l.skew_start + std::max(2, n / 20);
  l.slow_start = n * 55 / 100;
  l.slow_end = l.slow_start + std::max(2, n / 25);
  l.restart_at = n * 85 / 100;
  return l;
}

SampleRecord synthetic_sample(const SyntheticRun& run, int64_t run_id, const std::string& node,
                              int second) {
  SyntheticLayout l = layout_of(run);
  bool all = node == "all";
  int index = all ? -1 : std::atoi(node.c_str() + 3) - 1;
  auto one_node = [&](int i, SampleRecord& s) {
    double share = target_at(run, l, second) / run.nodes;
    auto requests = static_cast<int64_t>(share * (1.0 + 0.01 * noise(i, second, 1)));
    int64_t r4 = 0, r5 = 0, dropped = 0;
    if (i == 0 && second >= l.skew_start && second < l.skew_end)
      r4 = requests * 97 / 100;  // expired tokens
    if (i == 1 && second >= l.restart_at && second < l.restart_at + 2) {
      r5 = requests / 5;
      dropped = requests / 10;
    }
    double slow = second >= l.slow_start && second < l.slow_end ? 50.0 : 0.0;  // ms added upstream
    double load = target_at(run, l, second) / run.rate;
    double p50 = (0.8 + 0.25 * load + 0.05 * noise(i, second, 2)) * run.latency_scale + slow;
    double p99 = (3.5 + 2.0 * load + 0.6 * noise(i, second, 3)) * run.latency_scale + slow * 1.2;
    double p999 = p99 * (1.8 + 0.2 * noise(i, second, 4));
    s.requests += requests;
    s.status_4xx += r4;
    s.status_5xx += r5;
    s.connect_errors += dropped;
    s.status_2xx += requests - r4 - r5 - dropped;
    s.errors += r4 + r5 + dropped;
    // Percentiles of a merged "all" row: close enough to the worst node for a synthetic run.
    s.p50_us = std::max(s.p50_us, p50 * 1000);
    s.p90_us = std::max(s.p90_us, (p50 + (p99 - p50) * 0.4) * 1000);
    s.p99_us = std::max(s.p99_us, p99 * 1000);
    s.p999_us = std::max(s.p999_us, p999 * 1000);
    s.max_us = std::max(s.max_us, p999 * 1.3 * 1000);
    if (!all) {
      s.cpu_pct = 25 + 40 * load + 3 * noise(i, second, 5) + (slow > 0 ? -8 : 0);
      s.rss_bytes = static_cast<int64_t>(
          (82 + 6 * i + 10.0 * second / run.seconds + (slow > 0 ? 14 : 0)) * 1024 * 1024);
      if (i == 1 && second >= l.restart_at && second < l.restart_at + 3)
        s.rss_bytes = 40LL * 1024 * 1024;
    }
  };
  SampleRecord s;
  s.run_id = run_id;
  s.node = node;
  s.second = second;
  s.phase = phase_at(l, second);
  if (all)
    for (int i = 0; i < run.nodes; ++i) one_node(i, s);
  else
    one_node(index, s);
  std::string counts = "{\"200\": " + std::to_string(s.status_2xx);
  if (s.status_4xx > 0) counts += ", \"401\": " + std::to_string(s.status_4xx);
  if (s.status_5xx > 0) counts += ", \"503\": " + std::to_string(s.status_5xx);
  counts += "}";
  s.status_counts_json = counts;
  return s;
}

Result<void> write_synthetic_seconds(ResultsStore& store, const SyntheticRun& run, int64_t run_id,
                                     int from, int to) {
  for (int second = from; second < to; ++second) {
    SampleRecord all = synthetic_sample(run, run_id, "all", second);
    store.add_sample(all);
    for (int i = 0; i < run.nodes; ++i)
      store.add_sample(synthetic_sample(run, run_id, node_name(i), second));
    if (run.histograms) {
      Histogram h;
      int64_t n = std::max<int64_t>(all.requests, 1);
      h.record(static_cast<int64_t>(all.p50_us * 1000), n / 2);
      h.record(static_cast<int64_t>(all.p90_us * 1000), n * 4 / 10);
      h.record(static_cast<int64_t>(all.p99_us * 1000), n * 9 / 100);
      h.record(static_cast<int64_t>(all.p999_us * 1000), n - n / 2 - n * 4 / 10 - n * 9 / 100);
      store.add_histogram({run_id, "all", second, "latency", h.encode()});
    }
  }
  return store.flush();
}

Result<int64_t> write_synthetic_run(ResultsStore& store, const SyntheticRun& run) {
  SyntheticLayout l = layout_of(run);
  RunRecord record;
  record.scenario = "scenarios/" + run.name + ".lua";
  record.name = run.name;
  record.git_describe = "v0.1.0-synthetic";
  record.host = "testhost";
  record.started_ms = run.started_ms;
  record.params_json = R"({"RATE": ")" + std::to_string(static_cast<int64_t>(run.rate)) +
                       R"(", "NODES": ")" + std::to_string(run.nodes) + R"("})";
  record.run_dir = "runs/" + run.name;
  auto run_id = store.begin_run(record);
  if (!run_id) return run_id.error();
  int64_t t0 = l.load_start_ms;
  auto at = [&](int second) { return t0 + static_cast<int64_t>(second) * 1000; };
  store.add_phase({*run_id, 0, "warmup", at(0), at(l.warmup_end), run.rate * 0.5});
  store.add_phase({*run_id, 1, "steady", at(l.warmup_end), at(l.steady_end), run.rate});
  store.add_phase({*run_id, 2, "spike", at(l.steady_end), at(run.seconds), run.rate * 1.5});
  store.add_event({*run_id, at(l.skew_start), at(l.skew_end), "gw-1", "fault", "clock_skew",
                   R"({"offset": "+10m"})"});
  store.add_event({*run_id, at(l.slow_start), at(l.slow_end), "upstream", "fault", "latency",
                   R"({"latency_ms": 50})"});
  store.add_event({*run_id, at(l.restart_at), 0, "gw-2", "restart", "restart", "{}"});
  if (auto written = write_synthetic_seconds(store, run, *run_id, 0, run.seconds); !written)
    return written.error();
  if (!run.finished) return *run_id;
  store.add_threshold({*run_id, "steady.p99 < 10ms", 6.1e6, "6.1ms", true, false});
  // The verdict and the checks agree: a failed run failed its error budget.
  bool failed = run.verdict != "pass";
  store.add_threshold({*run_id, "spike.errors < 0.5%", failed ? 0.9 : 0.2,
                       failed ? "0.90%" : "0.20%", !failed, false});
  store.add_threshold(
      {*run_id, "during(clock_skew) gw-1 status_401_share > 95%", 97, "97.0%", true, false});
  store.add_threshold(
      {*run_id, "after(clock_skew) gw-1 recovered_within 2s", 1.0e9, "1.0s", true, false});
  if (auto ended = store.end_run(*run_id, run.verdict, run.verdict == "pass" ? 0 : 99,
                                 at(run.seconds) + 1500);
      !ended)
    return ended.error();
  return *run_id;
}

ScratchDb::ScratchDb() {
  std::string pattern = (std::filesystem::temp_directory_path() / "gatedrill-gui-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed for " + pattern);
  dir_ = pattern;
  path_ = dir_ + "/results.db";
}

ScratchDb::~ScratchDb() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Result<std::vector<int64_t>> ScratchDb::write(const std::vector<SyntheticRun>& runs) const {
  auto store = ResultsStore::open(path_);
  if (!store) return store.error();
  std::vector<int64_t> ids;
  for (const auto& run : runs) {
    auto id = write_synthetic_run(**store, run);
    if (!id) return id.error();
    ids.push_back(*id);
  }
  return ids;
}

}  // namespace gatedrill::gui::testing

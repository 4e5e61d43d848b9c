#include "loadgen/run_store.hpp"

#include <boost/json/object.hpp>

#include "core/util/json.hpp"

namespace gatedrill::loadgen {

SecondCounts counts_of(const IntervalStats& s) {
  SecondCounts c;
  c.phase = s.phase;
  c.connect_errors = s.connect_errors;
  c.timeouts = s.timeouts;
  c.status_counts = s.status_counts;
  c.requests = s.completed + s.connect_errors + s.timeouts + s.errors;
  c.errors = s.connect_errors + s.timeouts + s.errors;
  for (const auto& [status, count] : s.status_counts)
    if (status < 200 || status >= 400) c.errors += count;
  return c;
}

SampleRecord make_sample(int64_t run_id, const std::string& node, int64_t second,
                         const SecondCounts& counts, const Histogram& latency) {
  SampleRecord s;
  s.run_id = run_id;
  s.node = node;
  s.second = second;
  s.phase = counts.phase;
  s.requests = counts.requests;
  s.errors = counts.errors;
  s.connect_errors = counts.connect_errors;
  s.timeouts = counts.timeouts;
  boost::json::object status;
  for (const auto& [code, count] : counts.status_counts) {
    status[std::to_string(code)] = count;
    int64_t* bucket = code / 100 == 2   ? &s.status_2xx
                      : code / 100 == 3 ? &s.status_3xx
                      : code / 100 == 4 ? &s.status_4xx
                      : code / 100 == 5 ? &s.status_5xx
                                        : nullptr;
    if (bucket != nullptr) *bucket += count;
  }
  s.status_counts_json = to_json(status);
  s.p50_us = static_cast<double>(latency.percentile(50)) / 1e3;
  s.p90_us = static_cast<double>(latency.percentile(90)) / 1e3;
  s.p99_us = static_cast<double>(latency.percentile(99)) / 1e3;
  s.p999_us = static_cast<double>(latency.percentile(99.9)) / 1e3;
  s.max_us = static_cast<double>(latency.max()) / 1e3;
  return s;
}

Result<std::unique_ptr<WorkerStore>> WorkerStore::open(const std::string& path, RunRecord run,
                                                       const std::vector<LoadPhase>& phases,
                                                       std::vector<std::string> nodes) {
  auto store = ResultsStore::open(path);
  if (!store) return store.error();
  auto id = (*store)->begin_run(run);
  if (!id) return id.error();
  int64_t start = run.started_ms;
  for (size_t i = 0; i < phases.size(); ++i) {
    int64_t length =
        std::chrono::duration_cast<std::chrono::milliseconds>(phases[i].duration).count();
    (*store)->add_phase({*id, static_cast<int>(i), phases[i].name, start, start + length,
                         phases[i].rate});  // planned times; the samples say what happened
    start += length;
  }
  return std::unique_ptr<WorkerStore>(new WorkerStore(std::move(*store), *id, std::move(nodes)));
}

void WorkerStore::record(const IntervalStats& s) {
  SecondCounts counts = counts_of(s);
  std::string latency = s.latency.encode();
  std::string actual = s.latency_actual.encode();
  for (const auto& node : nodes_) {
    store_->add_sample(make_sample(run_id_, node, s.second, counts, s.latency));
    store_->add_histogram({run_id_, node, s.second, "latency", latency});
    store_->add_histogram({run_id_, node, s.second, "latency_actual", actual});
  }
}

Result<void> WorkerStore::finish(const std::string& verdict, int exit_code, int64_t ended_ms) {
  return store_->end_run(run_id_, verdict, exit_code, ended_ms);
}

}  // namespace gatedrill::loadgen

#include "scenarios/run_recorder.hpp"

#include <algorithm>
#include <boost/json.hpp>

namespace gatedrill {

RunRecorder::RunRecorder(ResultsStore* store, int64_t run_id, std::vector<std::string> nodes)
    : store_(store), run_id_(run_id), nodes_(std::move(nodes)) {}

void RunRecorder::on_all_second(
    std::function<void(const SampleRecord&, const Histogram&)> listener) {
  std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
}

void RunRecorder::record(const std::string& node, const SecondStats& stats) {
  std::lock_guard lock(mutex_);
  write(node, stats);
  // Streams of other identities ("hot@gw-1") are kept on their own, not merged into "all".
  if (std::find(nodes_.begin(), nodes_.end(), node) == nodes_.end()) return;
  if (nodes_.size() == 1) {
    write(kAllNodes, stats);
    return;
  }
  Pending& p = pending_all_[stats.second];
  if (p.reported == 0) {
    p.merged.second = stats.second;
    p.merged.phase = stats.phase;
  }
  p.merged.target_rate += stats.target_rate;
  p.merged.sent += stats.sent;
  p.merged.completed += stats.completed;
  p.merged.errors += stats.errors;
  p.merged.connect_errors += stats.connect_errors;
  p.merged.timeouts += stats.timeouts;
  p.merged.io_errors += stats.io_errors;
  for (const auto& [status, count] : stats.status_counts) p.merged.status_counts[status] += count;
  p.merged.latency.merge(stats.latency);
  p.merged.latency_actual.merge(stats.latency_actual);
  if (++p.reported == static_cast<int>(nodes_.size())) {
    write(kAllNodes, p.merged);
    pending_all_.erase(stats.second);
  }
}

void RunRecorder::finish() {
  std::lock_guard lock(mutex_);
  for (auto& [second, pending] : pending_all_) write(kAllNodes, pending.merged);
  pending_all_.clear();
}

void RunRecorder::record_restart(const std::string& node, int64_t second) {
  std::lock_guard lock(mutex_);
  ++restarts_[node][second];
}

void RunRecorder::record_process(const std::string& node, int64_t second, double cpu_pct,
                                 int64_t rss_bytes) {
  std::lock_guard lock(mutex_);
  process_[node][second] = {cpu_pct, rss_bytes};
}

void RunRecorder::write(const std::string& node, const SecondStats& stats) {
  SampleRecord s;
  s.run_id = run_id_;
  s.node = node;
  s.second = stats.second;
  s.phase = stats.phase;
  s.requests = stats.completed + stats.connect_errors + stats.timeouts + stats.io_errors;
  s.errors = stats.errors;
  boost::json::object counts;
  for (const auto& [status, count] : stats.status_counts) {
    counts[std::to_string(status)] = count;
    switch (status / 100) {
      case 2:
        s.status_2xx += count;
        break;
      case 3:
        s.status_3xx += count;
        break;
      case 4:
        s.status_4xx += count;
        break;
      case 5:
        s.status_5xx += count;
        break;
      default:
        break;
    }
  }
  s.status_counts_json = boost::json::serialize(counts);
  s.connect_errors = stats.connect_errors;
  s.timeouts = stats.timeouts;
  s.p50_us = static_cast<double>(stats.latency.percentile(50)) / 1e3;
  s.p90_us = static_cast<double>(stats.latency.percentile(90)) / 1e3;
  s.p99_us = static_cast<double>(stats.latency.percentile(99)) / 1e3;
  s.p999_us = static_cast<double>(stats.latency.percentile(99.9)) / 1e3;
  s.max_us = static_cast<double>(stats.latency.max()) / 1e3;
  if (auto it = process_.find(node); it != process_.end()) {
    if (auto p = it->second.find(stats.second); p != it->second.end()) {
      s.cpu_pct = p->second.first;
      s.rss_bytes = p->second.second;
    }
  }
  std::string latency_hdr = stats.latency.encode();
  if (store_) {
    store_->add_sample(s);
    store_->add_histogram({run_id_, node, stats.second, "latency", latency_hdr});
    store_->add_histogram(
        {run_id_, node, stats.second, "latency_actual", stats.latency_actual.encode()});
  }
  Kept& k = kept_[node][stats.second];
  k.phase = stats.phase;
  k.requests = s.requests;
  k.errors = s.errors;
  k.status_counts = stats.status_counts;
  k.latency_hdr = std::move(latency_hdr);
  if (node == kAllNodes && listener_) listener_(s, stats.latency);
}

WindowStats RunRecorder::window(
    const std::string& node,
    const std::function<bool(int64_t, const std::string&)>& include) const {
  std::lock_guard lock(mutex_);
  WindowStats w;
  auto it = kept_.find(node);
  if (it == kept_.end()) return w;
  for (const auto& [second, k] : it->second) {
    if (!include(second, k.phase)) continue;
    for (const auto& [name, seconds] : restarts_)
      if (node == name || node == kAllNodes)
        if (auto r = seconds.find(second); r != seconds.end()) w.restarts += r->second;
    w.requests += k.requests;
    w.errors += k.errors;
    w.seconds += 1;
    for (const auto& [status, count] : k.status_counts) w.status_counts[status] += count;
    if (auto h = Histogram::decode(k.latency_hdr)) w.latency.merge(*h);
  }
  return w;
}

std::map<int64_t, std::pair<int64_t, int64_t>> RunRecorder::error_series(
    const std::string& node) const {
  std::lock_guard lock(mutex_);
  std::map<int64_t, std::pair<int64_t, int64_t>> out;
  if (auto it = kept_.find(node); it != kept_.end())
    for (const auto& [second, k] : it->second) out[second] = {k.requests, k.errors};
  return out;
}

}  // namespace gatedrill

#include "reports/run_summary.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "core/histogram/histogram.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "reports/report_text.hpp"

namespace gatedrill {

namespace {

constexpr const char* kAllNodes = "all";

std::string fmt_ns(int64_t ns) {
  return format_latency_ns(ns);
}

}  // namespace

const PhaseReport* RunSummary::phase(std::string_view name) const {
  for (const auto& p : phases)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<const SampleRecord*> RunSummary::node_samples(std::string_view node) const {
  std::vector<const SampleRecord*> out;
  for (const auto& s : samples)
    if (s.node == node) out.push_back(&s);
  return out;
}

bool is_latency_metric(std::string_view metric) {
  return metric == "p50" || metric == "p90" || metric == "p99" || metric == "p999" ||
         metric == "max";
}

int64_t phase_metric_ns(const PhaseReport& phase, std::string_view metric) {
  if (metric == "p50") return phase.p50_ns;
  if (metric == "p90") return phase.p90_ns;
  if (metric == "p999") return phase.p999_ns;
  if (metric == "max") return phase.max_ns;
  return phase.p99_ns;
}

double sample_metric_us(const SampleRecord& sample, std::string_view metric) {
  if (metric == "p50") return sample.p50_us;
  if (metric == "p90") return sample.p90_us;
  if (metric == "p999") return sample.p999_us;
  if (metric == "max") return sample.max_us;
  return sample.p99_us;
}

Result<RunSummary> summarize_run(const ResultsReader& reader, int64_t run_id) {
  RunSummary summary;
  auto run = reader.run(run_id);
  if (!run) return run.error();
  summary.run = *run;
  auto phases = reader.phases(run_id);
  auto samples = reader.samples(run_id);
  auto histograms = reader.histograms(run_id, kAllNodes, "latency");
  auto thresholds = reader.thresholds(run_id);
  auto events = reader.events(run_id);
  if (!phases) return phases.error();
  if (!samples) return samples.error();
  if (!histograms) return histograms.error();
  if (!thresholds) return thresholds.error();
  if (!events) return events.error();
  summary.thresholds = std::move(*thresholds);
  summary.events = std::move(*events);
  summary.phase_records = *phases;
  summary.load_start_ms = phases->empty() ? summary.run.started_ms : phases->front().started_ms;
  summary.samples = std::move(*samples);
  std::stable_sort(summary.samples.begin(), summary.samples.end(),
                   [](const auto& a, const auto& b) {
                     return a.node != b.node ? a.node < b.node : a.second < b.second;
                   });

  std::map<int64_t, std::string> phase_of_second;
  std::map<std::string, PhaseReport> by_name;
  std::map<std::string, Histogram> latency;
  for (const auto& s : summary.samples) {
    if (s.node != kAllNodes) {
      auto& names = s.node.find('@') == std::string::npos ? summary.nodes : summary.streams;
      if (names.empty() || names.back() != s.node) names.push_back(s.node);
      continue;
    }
    phase_of_second[s.second] = s.phase;
    PhaseReport& p = by_name[s.phase];
    p.seconds += 1;
    p.requests += s.requests;
    p.errors += s.errors;
    p.connect_errors += s.connect_errors;
    p.timeouts += s.timeouts;
    p.status_2xx += s.status_2xx;
    p.status_3xx += s.status_3xx;
    p.status_4xx += s.status_4xx;
    p.status_5xx += s.status_5xx;
    if (auto counts = parse_json_object(s.status_counts_json)) {
      for (const auto& [status, count] : *counts)
        if (count.is_int64())
          p.status_counts[std::atoi(std::string(status).c_str())] += count.as_int64();
    }
  }
  for (const auto& h : *histograms) {
    auto it = phase_of_second.find(h.second);
    if (it == phase_of_second.end()) continue;
    if (auto decoded = Histogram::decode(h.hdr)) latency[it->second].merge(*decoded);
  }
  for (const auto& ph : *phases) {
    PhaseReport p = by_name[ph.name];
    p.name = ph.name;
    p.target_rate = ph.target_rate;
    p.rps = p.seconds > 0 ? static_cast<double>(p.requests) / static_cast<double>(p.seconds) : 0;
    const Histogram& h = latency[ph.name];
    p.p50_ns = h.percentile(50);
    p.p90_ns = h.percentile(90);
    p.p99_ns = h.percentile(99);
    p.p999_ns = h.percentile(99.9);
    p.max_ns = h.max();
    p.latency_count = h.count();
    if (h.count() > 0)
      for (double q : {10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9,
                       99.95, 99.99, 99.999})
        p.spectrum.emplace_back(q, h.percentile(q));
    summary.phases.push_back(std::move(p));
  }
  return summary;
}

std::string format_run_summary(const RunSummary& s) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "\nrun %lld  %s  (%s)  started %s  verdict %s\n",
                static_cast<long long>(s.run.id), s.run.name.c_str(), s.run.scenario.c_str(),
                format_wall_time(s.run.started_ms).c_str(), s.run.verdict.c_str());
  out += line;
  out +=
      "\n  phase        target/s    achieved/s   requests      p50       p90       p99     p99.9   "
      "    max   errors  statuses\n";
  for (const auto& p : s.phases) {
    std::string statuses;
    for (const auto& [status, count] : p.status_counts)
      statuses +=
          (statuses.empty() ? "" : " ") + std::to_string(status) + ":" + std::to_string(count);
    if (p.connect_errors) statuses += " connect_err:" + std::to_string(p.connect_errors);
    if (p.timeouts) statuses += " timeout:" + std::to_string(p.timeouts);
    std::string target =
        p.target_rate > 0 ? std::to_string(static_cast<long long>(p.target_rate)) : "max";
    double error_pct =
        p.requests ? 100.0 * static_cast<double>(p.errors) / static_cast<double>(p.requests) : 0;
    std::snprintf(line, sizeof line,
                  "  %-10s %10s %13.0f %10lld %8s  %8s  %8s  %8s  %8s  %6.2f%%  %s\n",
                  p.name.c_str(), target.c_str(), p.rps, static_cast<long long>(p.requests),
                  fmt_ns(p.p50_ns).c_str(), fmt_ns(p.p90_ns).c_str(), fmt_ns(p.p99_ns).c_str(),
                  fmt_ns(p.p999_ns).c_str(), fmt_ns(p.max_ns).c_str(), error_pct, statuses.c_str());
    out += line;
  }
  if (!s.events.empty()) {
    out += "\n  events\n";
    for (const auto& e : s.events) {
      double at = static_cast<double>(e.start_ms - s.run.started_ms) / 1000.0;
      std::snprintf(line, sizeof line, "    +%6.1fs  %-8s %-14s %-6s", at, e.kind.c_str(),
                    e.name.c_str(), e.node.c_str());
      out += line;
      if (e.end_ms > e.start_ms)
        out += "  for " + format_duration(std::chrono::milliseconds(e.end_ms - e.start_ms));
      if (!e.detail_json.empty() && e.detail_json != "{}") out += "  " + e.detail_json;
      out += "\n";
    }
  }
  if (!s.thresholds.empty()) {
    out += "\n  checks\n";
    for (const auto& t : s.thresholds) {
      std::snprintf(line, sizeof line, "    %s  %-64s observed %s\n", t.pass ? "PASS" : "FAIL",
                    t.expression.c_str(), t.observed_text.c_str());
      out += line;
    }
  }
  return out;
}

}  // namespace gatedrill

#pragma once
// A run's summary from the results store: per phase the achieved rate, latency percentiles and
// errors by status; the thresholds and expectations with what was observed; the events.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/store/results_store.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct PhaseReport {
  std::string name;
  double target_rate = 0;  // 0 = max
  int64_t seconds = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  double rps = 0;
  int64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
  std::map<int, int64_t> status_counts;
  int64_t connect_errors = 0, timeouts = 0;
};

struct RunSummary {
  RunRecord run;
  std::vector<PhaseReport> phases;
  std::vector<ThresholdRecord> thresholds;
  std::vector<EventRecord> events;
};

// Merges the per-second histograms of node "all" for each phase (exact, not averaged).
// Errors: the reader's ("no_such_run", ...).
Result<RunSummary> summarize_run(const ResultsReader& reader, int64_t run_id);
std::string format_run_summary(const RunSummary& summary);

}  // namespace gatedrill

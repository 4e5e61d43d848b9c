#pragma once
// Two runs side by side, phase by phase (matched by name): achieved rate, latency percentiles
// from each phase's merged histograms (exact, never averaged percentiles), error rate; with the
// delta and the relative change of the candidate against the base.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"
#include "reports/run_summary.hpp"

namespace gatedrill {

struct PhaseComparison {
  std::string name;
  std::optional<PhaseReport> base, candidate;  // nullopt: the phase is not in that run
};

struct RunComparison {
  RunSummary base, candidate;
  std::vector<PhaseComparison> phases;  // base's order, then phases only the candidate has
};

// One compared figure of a phase. lower_is_better: latency and errors; rps is higher-better.
struct ComparedMetric {
  std::string name;  // "rps", "p50", ..., "max", "error_rate"
  double base = 0, candidate = 0;
  bool lower_is_better = true;
  double delta() const { return candidate - base; }
  // Relative change (0.1 = +10%); nullopt when base is 0.
  std::optional<double> change() const;
};

RunComparison compare_runs(RunSummary base, RunSummary candidate);
// rps, p50, p90, p99, p999, max (latencies in ns), error_rate (0..1); both sides must exist.
std::vector<ComparedMetric> compared_metrics(const PhaseReport& base, const PhaseReport& candidate);

// format: text | md | json | html. Errors: "bad_format".
Result<std::string> render_comparison(const RunComparison& comparison, std::string_view format);

}  // namespace gatedrill

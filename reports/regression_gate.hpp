#pragma once
// The CI regression gate: does a candidate run regress against a baseline run?
//
// Per phase (matched by name), the latency metric (p99 by default) comes from the phase's merged
// HDR histograms. It is a regression when BOTH hold:
//   1. candidate > baseline * (1 + max_regression), and
//   2. the shift is larger than the run-to-run noise: a one-sided Mann-Whitney U test on the two
//      runs' per-second values of the metric says the candidate's seconds are higher with
//      p < alpha (normal approximation with tie and continuity corrections).
// Rule 2 needs at least min_seconds seconds on each side; with fewer it is skipped (rule 1 alone
// decides) and the report says so. alpha = 0 disables it. The error rate is compared as an
// absolute increase (percentage points), without a noise test: errors are rare events, and any
// increase over the allowance is worth a look.
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "reports/run_summary.hpp"

namespace gatedrill {

struct GateOptions {
  std::string metric = "p99";           // p50 | p90 | p99 | p999 | max
  double max_regression = 0.10;         // relative: 0.10 = the metric may grow by 10%
  double max_error_rate_increase = -1;  // absolute share (0.001 = 0.1 pp); < 0: not checked
  std::vector<std::string> phases;      // empty: every phase both runs have
  double alpha = 0.05;
  int min_seconds = 5;
};

struct GateCheck {
  std::string phase;
  std::string name;  // the metric ("p99") or "error_rate"
  double base = 0, candidate = 0, limit = 0;
  bool exceeded = false;    // candidate above the limit
  bool significant = true;  // the noise test agreed (or was not run)
  bool noise_tested = false;
  double p_value = 1;
  bool pass = true;
  std::string message;  // why, for a person
};

struct GateResult {
  std::vector<GateCheck> checks;
  bool pass() const;
};

// Errors: "bad_option" (unknown metric), "no_such_phase" (a named phase missing from a run),
// "no_common_phase", "no_data" (a compared phase recorded no latency in the baseline).
Result<GateResult> evaluate_gate(const RunSummary& baseline, const RunSummary& candidate,
                                 const GateOptions& options);

// One-sided p-value that the values of `higher` tend to be larger than those of `lower`
// (Mann-Whitney U, normal approximation with tie and continuity corrections). 1 when either
// side is empty or every value ties.
double mann_whitney_p_greater(const std::vector<double>& lower, const std::vector<double>& higher);

std::string format_gate_text(const GateResult& result, const RunSummary& baseline,
                             const RunSummary& candidate);
// For a PR comment: the verdict and one table row per check.
std::string format_gate_markdown(const GateResult& result, const RunSummary& baseline,
                                 const RunSummary& candidate);
// One testsuite "gatedrill gate", one testcase per check; a regression is a <failure>.
std::string render_gate_junit(const GateResult& result, const RunSummary& baseline,
                              const RunSummary& candidate);

}  // namespace gatedrill

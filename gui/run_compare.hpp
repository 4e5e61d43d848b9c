#pragma once
// Compare mode's model: two runs' phases side by side, matched by phase name, with the change
// from the baseline (a) to the candidate (b).
#include <string>
#include <vector>

#include "reports/run_summary.hpp"

namespace gatedrill::gui {

struct PhaseDelta {
  std::string phase;
  bool in_a = false, in_b = false;
  PhaseReport a, b;  // zero when that run has no such phase
};

// a's phases in a's order, then b's phases that a lacks.
std::vector<PhaseDelta> compare_phases(const RunSummary& a, const RunSummary& b);
// (b - a) / a in percent; nullopt-like NaN when a is 0.
double percent_change(double a, double b);
// "+12.5%", "-3.0%", "" when NaN.
std::string format_change(double percent);

}  // namespace gatedrill::gui

#include "gui/run_compare.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

namespace gatedrill::gui {

std::vector<PhaseDelta> compare_phases(const RunSummary& a, const RunSummary& b) {
  std::vector<PhaseDelta> out;
  auto find = [&](const std::string& name) -> PhaseDelta* {
    for (auto& d : out)
      if (d.phase == name) return &d;
    return nullptr;
  };
  for (const auto& p : a.phases) {
    PhaseDelta d;
    d.phase = p.name;
    d.in_a = true;
    d.a = p;
    out.push_back(std::move(d));
  }
  for (const auto& p : b.phases) {
    PhaseDelta* d = find(p.name);
    if (!d) {
      out.push_back(PhaseDelta{p.name, false, false, {}, {}});
      d = &out.back();
    }
    d->in_b = true;
    d->b = p;
  }
  return out;
}

double percent_change(double a, double b) {
  if (a == 0) return std::numeric_limits<double>::quiet_NaN();
  return (b - a) / a * 100.0;
}

std::string format_change(double percent) {
  if (std::isnan(percent)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", percent);
  return buf;
}

}  // namespace gatedrill::gui

#include "loadgen/schedule.hpp"

#include <cmath>

namespace gatedrill::loadgen {

double PhasePlan::rate_at(int64_t t_ns) const {
  if (duration_ns <= 0) return rate;
  double f = static_cast<double>(t_ns - start_ns) / static_cast<double>(duration_ns);
  f = std::fmin(1.0, std::fmax(0.0, f));
  return rate + (rate_to - rate) * f;
}

double PhasePlan::planned_count() const {
  return (rate + rate_to) / 2.0 * static_cast<double>(duration_ns) / 1e9;
}

int64_t PhasePlan::time_of_count(double count) const {
  // count(t) = rate * t + slope * t^2 / 2 with t in seconds; solve for t.
  double d = static_cast<double>(duration_ns) / 1e9;
  double slope = d > 0 ? (rate_to - rate) / d : 0;
  double t = 0;
  if (std::fabs(slope) < 1e-12) {
    t = rate > 0 ? count / rate : 0;
  } else {
    double disc = rate * rate + 2.0 * slope * count;
    // A ramp down can plan more requests than it holds only past its end; clamp to the end.
    t = disc <= 0 ? d : (std::sqrt(disc) - rate) / slope;
  }
  return static_cast<int64_t>(std::llround(t * 1e9));
}

ConnectionSchedule::ConnectionSchedule(const std::vector<PhasePlan>* phases, double offset)
    : phases_(phases), offset_(offset) {}

std::optional<Slot> ConnectionSchedule::next(int64_t now_ns) {
  while (phase_ < phases_->size()) {
    const PhasePlan& p = (*phases_)[phase_];
    if (p.closed_loop()) {
      int64_t at = now_ns < p.start_ns ? p.start_ns : now_ns;
      if (at < p.end_ns()) return Slot{at, static_cast<int>(phase_)};
    } else {
      double count = static_cast<double>(index_) + offset_;
      if (count < p.planned_count()) {
        int64_t at = p.start_ns + p.time_of_count(count);
        if (at < p.end_ns()) {
          ++index_;
          return Slot{at, static_cast<int>(phase_)};
        }
      }
    }
    ++phase_;
    index_ = 0;
  }
  return std::nullopt;
}

std::vector<PhasePlan> plan_phases(const std::vector<PhaseRate>& phases, int connections) {
  std::vector<PhasePlan> out;
  int64_t start = 0;
  double n = connections > 0 ? connections : 1;
  for (const auto& p : phases) {
    PhasePlan plan;
    plan.start_ns = start;
    plan.duration_ns = p.duration_ns;
    plan.rate = p.rate / n;
    plan.rate_to = (p.rate_to < 0 ? p.rate : p.rate_to) / n;
    out.push_back(plan);
    start += p.duration_ns;
  }
  return out;
}

}  // namespace gatedrill::loadgen

#include "loadgen/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "core/util/strings.hpp"

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
    t = disc < 0 ? d : (std::sqrt(disc) - rate) / slope;
  }
  return static_cast<int64_t>(std::llround(t * 1e9));
}

ConnectionSchedule::ConnectionSchedule(const std::vector<PhasePlan>* phases, double offset,
                                       Jitter jitter)
    : phases_(phases),
      offset_(offset),
      jitter_(std::fmin(1.0, std::fmax(0.0, jitter.fraction))),
      rng_(jitter.seed) {}

double ConnectionSchedule::next_uniform() {
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

int64_t ConnectionSchedule::jittered(const PhasePlan& p, double count, int64_t at) {
  // The gap to the next slot (exact on a ramp too); the last slot of a phase uses the rate.
  int64_t gap = p.start_ns + p.time_of_count(count + 1) - at;
  if (count + 1 > p.planned_count()) {
    double r = p.rate_at(at);
    gap = r > 0 ? static_cast<int64_t>(1e9 / r) : 0;
  }
  int64_t shifted =
      at + static_cast<int64_t>((next_uniform() - 0.5) * jitter_ * static_cast<double>(gap));
  shifted = std::max(shifted, std::max(p.start_ns, last_ns_));
  return std::min(shifted, p.end_ns() - 1);
}

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
          if (jitter_ > 0) at = jittered(p, count, at);
          last_ns_ = at;
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

Result<double> parse_rate(std::string_view text, const std::string& what) {
  if (text == "max") return 0.0;
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || !(v > 0))
    return make_error("bad_options",
                      what + " must be a positive number of requests/s or 'max', got '" + s + "'");
  return v;
}

Result<std::vector<PhaseRate>> parse_steps(std::string_view text) {
  std::vector<PhaseRate> out;
  if (text.empty())
    return make_error("bad_options", "--steps needs RATE:DURATION[,RATE:DURATION...]");
  for (std::string_view step : split(text, ',')) {
    std::string shown(trim(step));
    std::string where = "step " + std::to_string(out.size() + 1) + " '" + shown + "'";
    size_t colon = shown.find(':');
    if (colon == std::string::npos)
      return make_error("bad_options", where + " must be RATE:DURATION, e.g. 10000:5s");
    PhaseRate p;
    auto rate = parse_rate(std::string_view(shown).substr(0, colon), where + ": the rate");
    if (!rate) return rate.error();
    p.rate = *rate;
    auto duration = parse_duration(std::string_view(shown).substr(colon + 1));
    if (!duration || duration->count() <= 0)
      return make_error("bad_options", where + ": the duration must be positive, e.g. 5s or 2m");
    p.duration_ns = duration->count();
    out.push_back(p);
  }
  return out;
}

}  // namespace gatedrill::loadgen

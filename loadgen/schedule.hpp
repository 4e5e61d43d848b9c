#pragma once
// The open-loop send schedule of one connection (after wrk2): request k of a phase is planned at
// the time the connection's cumulative request count reaches k + offset, where the count is the
// integral of the (possibly ramping) per-connection rate. Pure arithmetic, no clock, no sockets.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill::loadgen {

// One phase as the schedule sees it: times in nanoseconds since the load started.
struct PhasePlan {
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  double rate = 0;     // requests/s for this connection at the phase start; 0 with rate_to 0 = max
  double rate_to = 0;  // requests/s at the phase end (== rate when constant)

  bool closed_loop() const { return rate <= 0 && rate_to <= 0; }
  int64_t end_ns() const { return start_ns + duration_ns; }
  // The rate at t (ns since the load started), linearly interpolated over the phase.
  double rate_at(int64_t t_ns) const;
  // Requests this connection is planned to send over the whole phase (open loop only).
  double planned_count() const;
  // Nanoseconds after the phase start at which the cumulative count reaches `count`.
  int64_t time_of_count(double count) const;
};

// The planned send time of a request and the phase it belongs to.
struct Slot {
  int64_t planned_ns = 0;
  int phase = 0;
};

// Random jitter on planned send times: each open-loop slot moves by a uniform amount in
// [-fraction/2, +fraction/2) of the connection's gap to its next slot. The shifts average zero,
// so the planned count and the mean rate stay; exactly periodic sends of many connections no
// longer line up into microbursts. fraction 0 = off; at most 1 (slots stay in order).
struct Jitter {
  double fraction = 0;
  uint64_t seed = 0;  // the same seed plans the same times (tests); give each connection its own
};

class ConnectionSchedule {
 public:
  // offset in [0, 1): the fraction of one request interval this connection lags the phase start,
  // so connections are spread evenly instead of firing together.
  ConnectionSchedule(const std::vector<PhasePlan>* phases, double offset, Jitter jitter = {});

  // The next request to send when the connection is free at now_ns. Open-loop phases return the
  // next planned slot (possibly in the past: send it at once; its latency counts from
  // planned_ns). Closed-loop phases return now_ns. nullopt once every phase is over.
  std::optional<Slot> next(int64_t now_ns);

 private:
  // A jittered slot time within the phase, never before the previous slot.
  int64_t jittered(const PhasePlan& p, double count, int64_t at);
  double next_uniform();  // [0, 1), splitmix64

  const std::vector<PhasePlan>* phases_;
  double offset_;
  double jitter_ = 0;
  uint64_t rng_ = 0;
  size_t phase_ = 0;
  int64_t index_ = 0;  // requests planned so far in the current phase
  int64_t last_ns_ = 0;
};

// Builds per-connection phase plans from phase rates divided evenly over `connections`.
struct PhaseRate {
  double rate = 0;
  double rate_to = -1;  // -1: constant
  int64_t duration_ns = 0;
};
std::vector<PhasePlan> plan_phases(const std::vector<PhaseRate>& phases, int connections);

// A rate as given on the command line: requests/s (> 0), or "max" (0, a closed loop). Error
// "bad_options" naming `what` (the flag or step).
Result<double> parse_rate(std::string_view text, const std::string& what);

// A stepped load, "RATE:DURATION,RATE:DURATION,...", e.g. "10000:5s,20000:5s,40000:10s": one
// constant-rate phase per step, back to back (RATE is requests/s over all connections or "max").
// Error "bad_options" naming the step that does not parse.
Result<std::vector<PhaseRate>> parse_steps(std::string_view text);

}  // namespace gatedrill::loadgen

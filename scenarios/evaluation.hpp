#pragma once
// Judges a finished run: every threshold over its phase, every expectation over its fault
// windows. A drill that does not see its symptom fails exactly like one that does not recover.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "scenarios/fault_executor.hpp"
#include "scenarios/run_recorder.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

// The registry's bundle fetches per window of wall time: (window start ms, fetches), and the
// window's length (GET /admin/stats/fetches).
struct RegistryFetches {
  int64_t window_ms = 0;  // 0: not read
  std::vector<std::pair<int64_t, int64_t>> windows;
};
// How long after a registry fault's window the refetch burst is looked for.
inline constexpr int64_t kRefetchSpanMs = 3000;

struct Outcome {
  std::string text;  // "steady.p99 < 50ms", "during(clock_skew, gw-1) status_401_share > 95%"
  bool pass = false;
  double observed = 0;
  std::string observed_text;  // "7.9ms", "no full second inside the window"
  bool abort_on_fail = false;
};

// load_start_ms: wall time at which second 0 of the load began. decision_logs: the folder with
// the gateways' decision logs (<node>.decisions.jsonl), for audit_deny_share; "" = none.
std::vector<Outcome> evaluate_run(const Scenario& scenario, const RunRecorder& recorder,
                                  const std::vector<FaultWindow>& windows, int64_t load_start_ms,
                                  const std::string& decision_logs = "",
                                  const RegistryFetches& registry_fetches = {});

// A second counts as recovered when fewer than this share of its requests failed.
inline constexpr double kRecoveredErrorShare = 0.01;

}  // namespace gatedrill

#pragma once
// Reads a gateway's decision log (one JSON line per request: time_ms, identity, status, reason,
// policy_version, ...) into per-second tallies on the load's timeline, so a drill can check
// that what its clients saw is on record with the policy version that decided it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gatedrill {

struct DecisionSecond {
  int64_t decisions = 0;
  int64_t denied = 0;            // status 403
  int64_t denied_versioned = 0;  // 403 with a non-empty policy_version
};

// Seconds since load_start_ms. identity: only that identity's lines; "" = every identity but
// those in `exclude`. A missing file is an empty map; lines that do not parse are skipped.
std::map<int64_t, DecisionSecond> read_decision_log(const std::string& path, int64_t load_start_ms,
                                                    const std::string& identity,
                                                    const std::vector<std::string>& exclude);

}  // namespace gatedrill

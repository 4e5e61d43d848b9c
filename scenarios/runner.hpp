#pragma once
// `gatedrill run` and `gatedrill up`: load and validate a scenario, start its topology, drive
// the load and the fault timeline, record every second, judge thresholds and expectations, and
// always tear everything down (also on Ctrl-C or an error). Exit codes follow k6: 0 pass,
// 99 a threshold or expectation failed, 1 error.
#include <map>
#include <string>

#include "core/time/time_source.hpp"
#include "core/util/signals.hpp"

namespace gatedrill {

inline constexpr int kExitPass = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitThresholdFailed = 99;

struct RunOptions {
  std::string scenario_file;
  std::map<std::string, std::string> params;  // -e K=V
  std::string db_path = "results.db";
  std::string runs_dir = "runs";
  std::string binary;         // gatedrill executable for the children
  bool status_line = true;    // live progress on stderr
  bool validate_only = false; // --check: load and validate, start nothing
};

int run_scenario(const RunOptions& options, TimeSource& time, TerminationSignals& signals);

// The topology only, until SIGINT/SIGTERM. endpoints_out: where to write the endpoints JSON.
int run_topology(const RunOptions& options, const std::string& endpoints_out, TimeSource& time,
                 TerminationSignals& signals);

}  // namespace gatedrill

#pragma once
// Pieces `gatedrill run` and `gatedrill capacity` share: the run folder, the parameters as
// stored, and a load generator's second as the recorder keeps it.
#include <map>
#include <string>

#include "core/time/time_source.hpp"
#include "loadgen/load_generator.hpp"
#include "scenarios/run_recorder.hpp"

namespace gatedrill {

// runs_dir/20261123-194501-NAME (made unique with -2, -3...); absolute; "" when it cannot be made.
std::string make_run_dir(const std::string& runs_dir, const std::string& name, TimeSource& time);
// {"RATE": "20000", ...}
std::string params_json(const std::map<std::string, std::string>& params);
// The "running" row a run begins with: this build, this host, now.
RunRecord new_run_record(const std::string& scenario_file, const std::string& name,
                         const std::map<std::string, std::string>& params,
                         const std::string& run_dir, TimeSource& time);
// An error is anything that was not a 2xx/3xx answer (connect errors and timeouts included).
SecondStats to_second_stats(const IntervalStats& in);

}  // namespace gatedrill

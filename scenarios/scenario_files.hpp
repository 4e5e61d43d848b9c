#pragma once
// Files a scenario names (policies for the registry, policy updates in the timeline): resolved
// against the scenario's own folder, so a drill folder can be moved or run from anywhere, and
// read when the scenario is validated, so a missing file is an error before anything starts.
#include <string>

#include "core/util/result.hpp"

namespace gatedrill {

// "deny.rego" next to "scenarios/drills/x.lua" -> "scenarios/drills/deny.rego"; absolute paths
// stay as they are.
std::string resolve_scenario_path(const std::string& scenario_file, const std::string& relative);

// The file's text. Errors: "scenario_file" naming the resolved path (missing, unreadable,
// empty, larger than 1 MiB).
Result<std::string> read_scenario_file(const std::string& scenario_file,
                                       const std::string& relative);

}  // namespace gatedrill

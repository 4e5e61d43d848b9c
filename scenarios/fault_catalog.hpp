#pragma once
// The faults a scenario can call (fault.clock_skew{...} etc.): which nodes each applies to and
// which parameters it takes. Used to validate a dry run of the timeline before anything starts,
// and by the runner to carry each one out.
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

struct FaultType {
  std::string name;
  std::string default_node;              // "" = node is required
  std::vector<std::string> node_kinds;   // "gateway" | "idp" | "app"
  std::vector<std::string> required;     // parameter names
  std::vector<std::string> optional;
  bool needs_duration = false;           // the fault is a window (stall, pause)
  std::string help;
};

const std::vector<FaultType>& fault_catalog();
const FaultType* find_fault_type(const std::string& name);

// The node's kind: "gateway" for gw-N, "idp", "app"; "" when the topology has no such node.
std::string node_kind(const Scenario& scenario, const std::string& node);

// Checks node and parameters (types and ranges) of one fault call. Errors: "bad_fault".
Result<void> validate_fault(const Scenario& scenario, FaultAction& action);

}  // namespace gatedrill

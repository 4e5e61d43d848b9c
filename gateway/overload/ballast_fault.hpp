#pragma once
// The "ballast" fault on the gateway's /admin/faults: the process allocates and touches memory
// (at once, or spread over a ramp like a leak) so a drill can push it into its memory budget
// (overload manager: keep-alive off, then 503) or past a memory limit (OOM kill, exit 137).
//   POST /admin/faults {"type": "ballast", "params": {"bytes": 67108864, "ramp_ms": 3000}}
// Clearing it frees the memory.
#include "core/admin/faults.hpp"

namespace gatedrill::gateway {

void register_ballast_fault(FaultRegistry& faults);

}  // namespace gatedrill::gateway

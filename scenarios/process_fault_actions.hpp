#pragma once
// The process-level drill faults for the fault executor: CPU starvation and a memory limit on a
// running node. Each records in `detail` which mechanism the machine allowed (a cgroup, or the
// duty-cycle / RLIMIT_AS emulation) and why it fell back, for the fault window's event.
#include <sys/types.h>

#include <functional>
#include <map>
#include <string>

#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

using FaultClear = std::function<Result<void>()>;

// cpu_starve { share = "20%", period = "100ms", mechanism = "auto"|"cgroup"|"duty_cycle" }
Result<FaultClear> starve_cpu(pid_t pid, const FaultAction& action,
                              std::map<std::string, std::string>& detail);
// memory_limit { limit = "64MiB", mechanism = "auto"|"cgroup"|"rlimit" }
Result<FaultClear> limit_memory(pid_t pid, const FaultAction& action,
                                std::map<std::string, std::string>& detail);

}  // namespace gatedrill

#include "scenarios/process_fault_actions.hpp"

#include <memory>

#include "core/util/strings.hpp"
#include "scenarios/drill_faults.hpp"
#include "scenarios/faults/process_faults.hpp"

namespace gatedrill {

namespace {

std::string param(const FaultAction& a, const char* key, const std::string& fallback) {
  auto it = a.params.find(key);
  return it == a.params.end() ? fallback : it->second;
}

FaultMechanism mechanism_of(const std::string& text) {
  if (text == "cgroup") return FaultMechanism::kCgroup;
  if (text == "duty_cycle" || text == "rlimit") return FaultMechanism::kEmulation;
  return FaultMechanism::kAuto;
}

}  // namespace

Result<FaultClear> starve_cpu(pid_t pid, const FaultAction& action,
                              std::map<std::string, std::string>& detail) {
  CpuStarvationOptions options;
  auto share = parse_share(param(action, "share", "20%"));
  if (!share) return share.error();
  options.cpu_fraction = *share;
  if (auto period = parse_duration(param(action, "period", "100ms")); period)
    options.period = std::chrono::duration_cast<std::chrono::microseconds>(*period);
  options.mechanism = mechanism_of(param(action, "mechanism", "auto"));
  auto started = CpuStarvation::start(pid, options);
  if (!started) return started.error();
  std::shared_ptr<CpuStarvation> starvation(std::move(*started));
  detail["mechanism"] = starvation->mechanism();
  if (!starvation->fallback_reason().empty())
    detail["fallback_reason"] = starvation->fallback_reason();
  return FaultClear([starvation] { return starvation->clear(); });
}

Result<FaultClear> limit_memory(pid_t pid, const FaultAction& action,
                                std::map<std::string, std::string>& detail) {
  MemoryLimitOptions options;
  auto limit = parse_size(param(action, "limit", ""));
  if (!limit) return limit.error();
  options.limit_bytes = *limit;
  options.mechanism = mechanism_of(param(action, "mechanism", "auto"));
  auto started = MemoryLimit::start(pid, options);
  if (!started) return started.error();
  std::shared_ptr<MemoryLimit> memory(std::move(*started));
  detail["mechanism"] = memory->mechanism();
  if (!memory->fallback_reason().empty()) detail["fallback_reason"] = memory->fallback_reason();
  if (memory->mechanism() == "rlimit_as")
    detail["note"] =
        "RLIMIT_AS caps address space: allocations fail (bad_alloc) instead of an OOM kill";
  return FaultClear([memory] { return memory->clear(); });
}

}  // namespace gatedrill

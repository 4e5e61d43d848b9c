#include "scenarios/process_fault_actions.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>
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

struct MemoryUsage {
  int64_t vm_bytes = 0, rss_bytes = 0;
};

// VmSize and VmRSS from /proc/<pid>/status.
Result<MemoryUsage> memory_usage(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return make_error("no_such_process", "no /proc entry for pid " + std::to_string(pid));
  MemoryUsage usage;
  std::string line;
  while (std::getline(in, line)) {
    auto kib = [&](const char* key) { return std::atoll(line.c_str() + std::strlen(key)) * 1024; };
    if (line.rfind("VmSize:", 0) == 0) usage.vm_bytes = kib("VmSize:");
    if (line.rfind("VmRSS:", 0) == 0) usage.rss_bytes = kib("VmRSS:");
  }
  if (usage.vm_bytes == 0)
    return make_error("no_such_process", "no VmSize for pid " + std::to_string(pid));
  return usage;
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
  std::string fallback_reason;
  Result<std::unique_ptr<MemoryLimit>> started = make_error("not_started", "");
  if (options.mechanism == FaultMechanism::kAuto) {
    options.mechanism = FaultMechanism::kCgroup;
    started = MemoryLimit::start(pid, options);
    if (!started && started.error().code != "cgroup_unavailable") return started.error();
    if (!started) fallback_reason = started.error().message;
    options.mechanism = FaultMechanism::kEmulation;
  }
  if (!started) {
    // RLIMIT_AS caps address space, which a live process holds far more of than it has
    // resident (thread stacks, arenas): give it the limit's headroom over its resident memory
    // on top of the address space it has now.
    auto usage = memory_usage(pid);
    if (usage && usage->rss_bytes < *limit) {
      options.limit_bytes = usage->vm_bytes + (*limit - usage->rss_bytes);
      detail["rlimit_as_bytes"] = std::to_string(options.limit_bytes);
    }
    started = MemoryLimit::start(pid, options);
    if (!started) return started.error();
  }
  std::shared_ptr<MemoryLimit> memory(std::move(*started));
  detail["mechanism"] = memory->mechanism();
  if (!fallback_reason.empty())
    detail["fallback_reason"] = fallback_reason;
  else if (!memory->fallback_reason().empty())
    detail["fallback_reason"] = memory->fallback_reason();
  if (memory->mechanism() == "rlimit_as")
    detail["note"] =
        "RLIMIT_AS caps address space: allocations fail (bad_alloc) instead of an OOM kill";
  return FaultClear([memory] { return memory->clear(); });
}

}  // namespace gatedrill

#pragma once
// Process-level faults on one child: CPU starvation and a memory limit. Each detects what the
// machine allows at start, uses the most faithful mechanism (a cgroup), falls back to an
// emulation, and reports which one it used so the run can record it.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/util/result.hpp"
#include "scenarios/faults/cgroup.hpp"
#include "scenarios/faults/duty_cycle.hpp"

namespace gatedrill {

enum class FaultMechanism { kAuto, kCgroup, kEmulation };

struct CpuStarvationOptions {
  double cpu_fraction = 0.2;                  // of one core, in (0, 1)
  std::chrono::microseconds period{100'000};  // CFS period, or the duty cycle's period
  FaultMechanism mechanism = FaultMechanism::kAuto;
  std::string cgroup_root = "/sys/fs/cgroup";
};

// Keeps a process at a fraction of one core until clear() (or destruction).
class CpuStarvation {
 public:
  // kAuto: a cgroup (v2 cpu.max, v1 cpu.cfs_quota_us), else a SIGSTOP/SIGCONT duty cycle.
  // Errors: "bad_fault_params" (fraction or period out of range), "cgroup_unavailable" (with
  // kCgroup), "cgroup_write", "no_such_process".
  static Result<std::unique_ptr<CpuStarvation>> start(pid_t pid,
                                                      const CpuStarvationOptions& options);
  ~CpuStarvation();

  // "cgroup_v2_cpu_max", "cgroup_v1_cfs_quota" or "sigstop_duty_cycle".
  const std::string& mechanism() const { return mechanism_; }
  // Why no cgroup was used (empty when one was).
  const std::string& fallback_reason() const { return fallback_reason_; }
  // Lifts the limit: the process goes back to the controller root cgroup, or is continued.
  Result<void> clear();

 private:
  CpuStarvation() = default;
  std::string mechanism_, fallback_reason_;
  std::unique_ptr<Cgroup> cgroup_;
  std::unique_ptr<DutyCycle> duty_cycle_;
};

struct MemoryLimitOptions {
  int64_t limit_bytes = 0;
  FaultMechanism mechanism = FaultMechanism::kAuto;
  std::string cgroup_root = "/sys/fs/cgroup";
};

// Caps a process's memory until clear(). With a cgroup, going past the limit gets the process
// OOM-killed by the kernel (exit status 137); with RLIMIT_AS, allocations fail instead
// (std::bad_alloc), and the cap is on address space, not resident memory.
class MemoryLimit {
 public:
  // Errors: "bad_fault_params", "cgroup_unavailable" (with kCgroup), "cgroup_write",
  // "no_such_process", "rlimit" (prlimit refused).
  static Result<std::unique_ptr<MemoryLimit>> start(pid_t pid, const MemoryLimitOptions& options);
  ~MemoryLimit();

  // "cgroup_v2_memory_max", "cgroup_v1_memory_limit" or "rlimit_as".
  const std::string& mechanism() const { return mechanism_; }
  const std::string& fallback_reason() const { return fallback_reason_; }
  // OOM kills inside the cgroup so far (0 for rlimit_as).
  int64_t oom_kills() const;
  // Lifts the limit (cgroup removed, or the previous RLIMIT_AS restored if the process lives).
  Result<void> clear();

 private:
  MemoryLimit() = default;
  pid_t pid_ = 0;
  std::string mechanism_, fallback_reason_;
  std::unique_ptr<Cgroup> cgroup_;
  bool rlimit_set_ = false;
  uint64_t old_soft_ = 0, old_hard_ = 0;
};

// For spawning a child with the RLIMIT_AS fallback already in place: call between fork and
// exec. Errors: "rlimit".
Result<void> apply_rlimit_as(int64_t bytes);

}  // namespace gatedrill

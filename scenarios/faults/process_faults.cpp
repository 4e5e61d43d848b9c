#include "scenarios/faults/process_faults.hpp"

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sstream>
#include <utility>
#include <vector>

namespace gatedrill {

namespace {

Result<void> check_alive(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) {
    return make_error("no_such_process", "no process with pid " + std::to_string(pid));
  }
  return {};
}

// A value from a "key value" per line file (memory.oom_control, memory.events).
int64_t keyed_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  int64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// Puts pid into a fresh cgroup of `controller` and writes settings. Errors as Cgroup's.
Result<std::unique_ptr<Cgroup>> cgroup_for(
    pid_t pid, const std::string& root, const std::string& controller,
    const std::vector<std::pair<std::string, std::string>>& settings) {
  auto group = Cgroup::create(root, detect_cgroup_layout(root), controller);
  if (!group) return group.error();
  for (const auto& [file, value] : settings) {
    auto w = (*group)->write(file, value);
    if (!w) return w.error();  // the destructor removes the empty cgroup
  }
  auto added = (*group)->add(pid);
  if (!added) return added.error();
  return std::move(*group);
}

}  // namespace

Result<std::unique_ptr<CpuStarvation>> CpuStarvation::start(pid_t pid,
                                                            const CpuStarvationOptions& options) {
  if (!(options.cpu_fraction > 0 && options.cpu_fraction < 1)) {
    return make_error("bad_fault_params", "cpu_fraction must be between 0 and 1 (exclusive), got " +
                                              std::to_string(options.cpu_fraction));
  }
  if (options.period < std::chrono::milliseconds(10) || options.period > std::chrono::seconds(1)) {
    return make_error("bad_fault_params", "period must be between 10ms and 1s");
  }
  auto alive = check_alive(pid);
  if (!alive) return alive.error();

  std::unique_ptr<CpuStarvation> fault(new CpuStarvation());
  const int64_t period_us = options.period.count();
  // CFS refuses quotas under 1 ms.
  const int64_t quota_us =
      std::max<int64_t>(1000, std::llround(static_cast<double>(period_us) * options.cpu_fraction));
  if (options.mechanism != FaultMechanism::kEmulation) {
    const CgroupLayout layout = detect_cgroup_layout(options.cgroup_root);
    auto group =
        layout == CgroupLayout::kV2
            ? cgroup_for(pid, options.cgroup_root, "cpu",
                         {{"cpu.max", std::to_string(quota_us) + " " + std::to_string(period_us)}})
            : cgroup_for(pid, options.cgroup_root, "cpu",
                         {{"cpu.cfs_period_us", std::to_string(period_us)},
                          {"cpu.cfs_quota_us", std::to_string(quota_us)}});
    if (group) {
      fault->cgroup_ = std::move(*group);
      fault->mechanism_ = layout == CgroupLayout::kV2 ? "cgroup_v2_cpu_max" : "cgroup_v1_cfs_quota";
      return fault;
    }
    if (options.mechanism == FaultMechanism::kCgroup) return group.error();
    fault->fallback_reason_ = group.error().message;
  } else {
    fault->fallback_reason_ = "emulation requested";
  }
  fault->duty_cycle_ =
      std::make_unique<DutyCycle>(pid, std::chrono::microseconds(quota_us), options.period);
  fault->mechanism_ = "sigstop_duty_cycle";
  return fault;
}

CpuStarvation::~CpuStarvation() {
  (void)clear();
}

Result<void> CpuStarvation::clear() {
  if (duty_cycle_) duty_cycle_->stop();
  duty_cycle_.reset();
  if (cgroup_) {
    auto removed = cgroup_->remove();
    if (!removed) return removed;
    cgroup_.reset();
  }
  return {};
}

Result<std::unique_ptr<MemoryLimit>> MemoryLimit::start(pid_t pid,
                                                        const MemoryLimitOptions& options) {
  if (options.limit_bytes < (1 << 20)) {
    return make_error("bad_fault_params", "limit_bytes must be at least 1 MiB, got " +
                                              std::to_string(options.limit_bytes));
  }
  auto alive = check_alive(pid);
  if (!alive) return alive.error();

  std::unique_ptr<MemoryLimit> fault(new MemoryLimit());
  fault->pid_ = pid;
  const std::string limit = std::to_string(options.limit_bytes);
  if (options.mechanism != FaultMechanism::kEmulation) {
    const CgroupLayout layout = detect_cgroup_layout(options.cgroup_root);
    auto group =
        layout == CgroupLayout::kV2
            ? cgroup_for(pid, options.cgroup_root, "memory", {{"memory.max", limit}})
            : cgroup_for(pid, options.cgroup_root, "memory", {{"memory.limit_in_bytes", limit}});
    if (group) {
      fault->cgroup_ = std::move(*group);
      // Without swap accounting the file is absent, and there is no swap to limit anyway.
      if (layout == CgroupLayout::kV2) (void)fault->cgroup_->write("memory.swap.max", "0");
      fault->mechanism_ =
          layout == CgroupLayout::kV2 ? "cgroup_v2_memory_max" : "cgroup_v1_memory_limit";
      return fault;
    }
    if (options.mechanism == FaultMechanism::kCgroup) return group.error();
    fault->fallback_reason_ = group.error().message;
  } else {
    fault->fallback_reason_ = "emulation requested";
  }
  rlimit old{};
  rlimit limit_as{static_cast<rlim_t>(options.limit_bytes),
                  static_cast<rlim_t>(options.limit_bytes)};
  if (::prlimit(pid, RLIMIT_AS, nullptr, &old) != 0) {
    return make_error("rlimit",
                      std::string("reading RLIMIT_AS of the process: ") + std::strerror(errno));
  }
  // Keep the hard limit so clear() can raise the soft one again without privileges.
  limit_as.rlim_max = old.rlim_max;
  if (::prlimit(pid, RLIMIT_AS, &limit_as, nullptr) != 0) {
    return make_error("rlimit", std::string("setting RLIMIT_AS: ") + std::strerror(errno));
  }
  fault->rlimit_set_ = true;
  fault->old_soft_ = old.rlim_cur;
  fault->old_hard_ = old.rlim_max;
  fault->mechanism_ = "rlimit_as";
  return fault;
}

MemoryLimit::~MemoryLimit() {
  (void)clear();
}

int64_t MemoryLimit::oom_kills() const {
  if (!cgroup_) return 0;
  if (cgroup_->layout() == CgroupLayout::kV2) {
    auto events = cgroup_->read("memory.events");
    return events ? keyed_value(*events, "oom_kill") : 0;
  }
  auto control = cgroup_->read("memory.oom_control");
  return control ? keyed_value(*control, "oom_kill") : 0;
}

Result<void> MemoryLimit::clear() {
  if (cgroup_) {
    auto removed = cgroup_->remove();
    if (!removed) return removed;
    cgroup_.reset();
  }
  if (rlimit_set_) {
    rlimit_set_ = false;
    rlimit old{static_cast<rlim_t>(old_soft_), static_cast<rlim_t>(old_hard_)};
    if (::prlimit(pid_, RLIMIT_AS, &old, nullptr) != 0 && errno != ESRCH) {
      return make_error("rlimit", std::string("restoring RLIMIT_AS: ") + std::strerror(errno));
    }
  }
  return {};
}

Result<void> apply_rlimit_as(int64_t bytes) {
  rlimit limit{static_cast<rlim_t>(bytes), static_cast<rlim_t>(bytes)};
  rlimit old{};
  if (::getrlimit(RLIMIT_AS, &old) == 0) limit.rlim_max = old.rlim_max;
  if (::setrlimit(RLIMIT_AS, &limit) != 0) {
    return make_error("rlimit", std::string("setting RLIMIT_AS: ") + std::strerror(errno));
  }
  return {};
}

}  // namespace gatedrill

// Process faults measured on real children: a CPU-bound child under a 20% quota (cgroup or
// duty cycle) does about a fifth of the work of an unthrottled one; a child allocating past a
// cgroup memory limit is OOM-killed (137); past RLIMIT_AS its allocations fail.
#include "scenarios/faults/process_faults.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/time/time_source.hpp"

namespace gatedrill {
namespace {

using std::chrono::milliseconds;

int decode(int status) {
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

// A unit of CPU work the optimiser cannot remove.
uint64_t work_unit(uint64_t x) {
  for (int i = 0; i < 2000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

// A forked child that waits for "go", then runs `body`; stopped with SIGKILL by its pid.
class Child {
 public:
  template <class Body>
  explicit Child(Body body) {
    int go[2];
    EXPECT_EQ(::pipe2(go, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(97);
      ::_exit(body());
    }
    ::close(go[0]);
    go_fd_ = go[1];
  }
  ~Child() {
    if (go_fd_ >= 0) ::close(go_fd_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  void go() {
    EXPECT_EQ(::write(go_fd_, "g", 1), 1);
    ::close(go_fd_);
    go_fd_ = -1;
  }
  // Blocks until the child exits; its body always ends by itself.
  int wait() {
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
    reaped_ = true;
    return decode(status);
  }

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1;
  bool reaped_ = false;
};

// Work counters shared with the spinning children, and a pipe the reference child writes to
// when it has done its share.
struct SharedCounters {
  SharedCounters() {
    void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    counters = static_cast<std::atomic<uint64_t>*>(p);
    new (&counters[0]) std::atomic<uint64_t>(0);
    new (&counters[1]) std::atomic<uint64_t>(0);
    EXPECT_EQ(::pipe2(done, O_CLOEXEC), 0);
  }
  ~SharedCounters() {
    ::munmap(counters, 4096);
    ::close(done[0]);
    ::close(done[1]);
  }
  std::atomic<uint64_t>* counters;
  int done[2];
};

// Spins forever counting units in counters[slot]; after `target` units writes to done_fd.
int spin(std::atomic<uint64_t>& counter, uint64_t target, int done_fd) {
  volatile uint64_t sink = 1;  // keeps the work from being optimised away
  for (uint64_t n = 1;; ++n) {
    sink = work_unit(sink);
    counter.store(n, std::memory_order_relaxed);
    if (n == target && done_fd >= 0) (void)!::write(done_fd, "d", 1);
  }
}

// Units one core does in about `span` (measured here, in this process).
uint64_t calibrate(milliseconds span) {
  SystemTimeSource time;
  const int64_t start = time.monotonic_ms();
  uint64_t units = 0, x = 1;
  while (time.monotonic_ms() - start < 100) {
    x = work_unit(x);
    ++units;
  }
  EXPECT_NE(x, 0u);
  return units * static_cast<uint64_t>(span.count()) / 100;
}

// Nanoseconds a process has run on a CPU (/proc/PID/schedstat, first field); 0 if unknown.
int64_t cpu_ns(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  int64_t ns = 0;
  in >> ns;
  return ns;
}

// Throttled work as a share of (a) what the unthrottled spinner beside it did, which other load
// on the machine slows down just as much, and (b) what that spinner would have done on a whole
// core. Other load can only lower (b), so (b) bounds the throttle from above and (a) from below.
struct WorkRatios {
  double of_neighbour = -1;
  double of_whole_core = -1;
};

// Runs a throttled and an unthrottled spinner side by side until the unthrottled one has done
// about a second of work. `throttle` applies the fault to the pid and returns the object that
// keeps it active.
template <class Throttle>
WorkRatios throttled_work_ratio(Throttle throttle, std::string* mechanism) {
  SharedCounters shared;
  const uint64_t target = calibrate(milliseconds(1000));
  Child throttled([&] { return spin(shared.counters[0], 0, -1); });
  Child reference([&] { return spin(shared.counters[1], target, shared.done[1]); });
  auto fault = throttle(throttled.pid());
  if (!fault) {
    ADD_FAILURE() << fault.error().message;
    return {};
  }
  *mechanism = (*fault)->mechanism();
  SystemTimeSource time;
  const int64_t start_ns = time.monotonic_ns();
  throttled.go();
  reference.go();
  pollfd p{shared.done[0], POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 15000), 1) << "the reference child did not finish its work in 15 s";
  const double a = static_cast<double>(shared.counters[0].load());
  const double b = static_cast<double>(shared.counters[1].load());
  const double wall_ns = static_cast<double>(time.monotonic_ns() - start_ns);
  const double reference_cpu_ns = static_cast<double>(cpu_ns(reference.pid()));
  EXPECT_TRUE((*fault)->clear().ok());
  const double full_core = reference_cpu_ns > 0 ? b * wall_ns / reference_cpu_ns : b;
  std::printf("throttled work %.0f, unthrottled %.0f (%.0f on a whole core), %s\n", a, b, full_core,
              mechanism->c_str());
  return {b > 0 ? a / b : -1, full_core > 0 ? a / full_core : -1};
}

TEST(CpuStarvation, DutyCycleGivesAboutAFifthOfTheWork) {
  std::string mechanism;
  const WorkRatios ratio = throttled_work_ratio(
      [](pid_t pid) {
        CpuStarvationOptions options;
        options.cpu_fraction = 0.2;
        options.mechanism = FaultMechanism::kEmulation;
        return CpuStarvation::start(pid, options);
      },
      &mechanism);
  EXPECT_EQ(mechanism, "sigstop_duty_cycle");
  EXPECT_GT(ratio.of_neighbour, 0.08);
  EXPECT_LT(ratio.of_whole_core, 0.35);
}

TEST(CpuStarvation, CgroupQuotaGivesAboutAFifthOfTheWork) {
  const CgroupLayout layout = detect_cgroup_layout();
  auto probe = Cgroup::create("/sys/fs/cgroup", layout, "cpu");
  if (!probe) GTEST_SKIP() << "no writable cpu cgroup here: " << probe.error().message;
  probe->reset();
  std::string mechanism;
  const WorkRatios ratio = throttled_work_ratio(
      [](pid_t pid) {
        CpuStarvationOptions options;
        options.cpu_fraction = 0.2;
        options.mechanism = FaultMechanism::kCgroup;
        return CpuStarvation::start(pid, options);
      },
      &mechanism);
  EXPECT_EQ(mechanism, layout == CgroupLayout::kV2 ? "cgroup_v2_cpu_max" : "cgroup_v1_cfs_quota");
  EXPECT_GT(ratio.of_neighbour, 0.10);
  EXPECT_LT(ratio.of_whole_core, 0.35);
}

TEST(CpuStarvation, RejectsBadParametersAndMissingProcesses) {
  CpuStarvationOptions options;
  options.cpu_fraction = 1.5;
  auto bad = CpuStarvation::start(::getpid(), options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "bad_fault_params");
  Child child([] { return 0; });
  const pid_t pid = child.pid();
  child.go();
  EXPECT_EQ(child.wait(), 0);
  auto gone = CpuStarvation::start(pid, CpuStarvationOptions{});
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, "no_such_process");
}

char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

TEST(DutyCycle, StopLeavesTheProcessRunning) {
  SharedCounters shared;
  Child child([&] { return spin(shared.counters[0], 0, -1); });
  child.go();
  {
    // 10 ms run per 500 ms: almost always stopped, so the stop() below usually lands mid-pause.
    DutyCycle cycle(child.pid(), milliseconds(10), milliseconds(500));
    SystemTimeSource time;
    const int64_t deadline = time.monotonic_ms() + 5000;
    while (process_state(child.pid()) != 'T' && time.monotonic_ms() < deadline) {
      std::this_thread::yield();
    }
    EXPECT_EQ(process_state(child.pid()), 'T') << "the duty cycle never stopped the child";
    cycle.stop();
  }
  const char state = process_state(child.pid());
  EXPECT_TRUE(state == 'R' || state == 'S') << "state " << state;
}

// Touches `mib` MiB one page at a time; exits 0 when all of it was allocated and written.
int allocate_and_touch(int mib) {
  for (int i = 0; i < mib; ++i) {
    char* p = static_cast<char*>(std::malloc(1 << 20));
    if (p == nullptr) return 3;
    std::memset(p, 0x5a, 1 << 20);
  }
  return 0;
}

TEST(MemoryLimit, CgroupLimitEndsInAnOomKill) {
  MemoryLimitOptions options;
  options.limit_bytes = 64 << 20;
  options.mechanism = FaultMechanism::kCgroup;
  Child child([] { return allocate_and_touch(512); });
  auto fault = MemoryLimit::start(child.pid(), options);
  if (!fault) GTEST_SKIP() << "no writable memory cgroup here: " << fault.error().message;
  const CgroupLayout layout = detect_cgroup_layout();
  EXPECT_EQ((*fault)->mechanism(),
            layout == CgroupLayout::kV2 ? "cgroup_v2_memory_max" : "cgroup_v1_memory_limit");
  const std::string path = "/sys/fs/cgroup/" +
                           std::string(layout == CgroupLayout::kV1 ? "memory/" : "") +
                           "gatedrill-" + std::to_string(::getpid()) + "-";
  child.go();
  EXPECT_EQ(child.wait(), 137);
  EXPECT_GE((*fault)->oom_kills(), 1);
  ASSERT_TRUE((*fault)->clear().ok());
  // Nothing of ours is left behind at the controller root.
  struct stat st {};
  for (int n = 1; n < 64; ++n) EXPECT_NE(::stat((path + std::to_string(n)).c_str(), &st), 0);
}

TEST(MemoryLimit, RlimitFallbackMakesAllocationsFail) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "RLIMIT_AS is incompatible with AddressSanitizer";
#endif
  // Address space, not memory: reserve 4 GiB without touching it.
  Child child([] {
    for (int i = 0; i < 256; ++i) {
      if (std::malloc(16 << 20) == nullptr) return 3;
    }
    return 0;
  });
  MemoryLimitOptions options;
  options.limit_bytes = int64_t{1} << 30;
  options.mechanism = FaultMechanism::kEmulation;
  auto fault = MemoryLimit::start(child.pid(), options);
  ASSERT_TRUE(fault.ok()) << fault.error().message;
  EXPECT_EQ((*fault)->mechanism(), "rlimit_as");
  child.go();
  EXPECT_EQ(child.wait(), 3);
  EXPECT_TRUE((*fault)->clear().ok());
}

TEST(MemoryLimit, UnthrottledChildAllocatesFreely) {
  // The control for both tests above: the same child without a limit exits 0.
  Child child([] { return allocate_and_touch(128); });
  child.go();
  EXPECT_EQ(child.wait(), 0);
}

}  // namespace
}  // namespace gatedrill

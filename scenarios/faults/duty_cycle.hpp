#pragma once
// CPU starvation without cgroups: SIGSTOP/SIGCONT a process so that it runs `run` out of every
// `period`, which emulates CFS throttling (20 ms per 100 ms gives ~20% of a core). A timer
// thread waits on a condition variable, so stop() takes effect at once.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace gatedrill {

class DutyCycle {
 public:
  // Starts at once with a run phase. Requires 0 < run < period.
  DutyCycle(pid_t pid, std::chrono::microseconds run, std::chrono::microseconds period);
  ~DutyCycle();  // stop()
  DutyCycle(const DutyCycle&) = delete;
  DutyCycle& operator=(const DutyCycle&) = delete;

  // Ends the cycle and leaves the process running (SIGCONT). Idempotent.
  void stop();
  uint64_t cycles() const { return cycles_.load(); }
  // The process disappeared (the cycle ended by itself).
  bool target_gone() const { return gone_.load(); }

 private:
  void loop();

  pid_t pid_;
  std::chrono::microseconds run_, period_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<uint64_t> cycles_{0};
  std::atomic<bool> gone_{false};
  std::thread thread_;
};

}  // namespace gatedrill

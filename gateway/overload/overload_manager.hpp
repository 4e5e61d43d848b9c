#pragma once
// The overload manager (Envoy overload manager in spirit): samples the process's memory against
// a budget and tells the data plane how to degrade, so a memory-pressure drill shows shedding
// before an OOM kill: above `keepalive_off_at` connections are closed after each response, above
// `shed_at` new requests get 503 "overloaded".
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace gatedrill::gateway {

struct OverloadOptions {
  int64_t memory_budget_bytes = 0;  // 0: off
  double keepalive_off_at = 0.80;   // fractions of the budget
  double shed_at = 0.95;
  std::chrono::milliseconds interval{250};
  std::function<int64_t()> memory_probe;  // default: resident set size from /proc/self/statm
};

enum class OverloadLevel { kNormal = 0, kNoKeepAlive = 1, kShed = 2 };

class OverloadManager {
 public:
  explicit OverloadManager(OverloadOptions options);
  ~OverloadManager();
  OverloadManager(const OverloadManager&) = delete;
  OverloadManager& operator=(const OverloadManager&) = delete;

  bool enabled() const { return options_.memory_budget_bytes > 0; }
  void start();  // samples once, then every interval on a thread (no-op when disabled)
  void stop();
  void sample_now();

  OverloadLevel level() const {
    return static_cast<OverloadLevel>(level_.load(std::memory_order_relaxed));
  }
  int64_t memory_bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  OverloadOptions options_;
  std::atomic<int> level_{0};
  std::atomic<int64_t> bytes_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// Resident set size of this process, or 0 when unknown.
int64_t resident_memory_bytes();

}  // namespace gatedrill::gateway

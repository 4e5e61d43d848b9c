#pragma once
// A gateway node's side of the registry: polls GET /v1/bundle (If-None-Match with the current
// hash), compiles each new revision and swaps it in, reports the revision it enforces, and on
// failure keeps the last good engine and backs off exponentially with full jitter so a fleet
// recovering from a registry outage does not refetch in lockstep (seed 003's recovery storm).
// A node that never got a bundle has no engine: callers must fail closed.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "gateway/policy/policy_engine.hpp"

namespace gatedrill {

class TimeSource;

struct BundlePollerOptions {
  std::string registry_url;  // "http://127.0.0.1:8282"
  std::string node;          // reported to /v1/nodes/{node}
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds max_backoff{30000};
  const TimeSource* time = nullptr;  // for the engines' time.now_ns
  std::chrono::nanoseconds eval_timeout{0};
  // Off: a failed poll waits exactly the backoff cap, so a fleet retries in lockstep (the
  // recovery-storm drill's baseline against full jitter).
  bool jitter = true;
};

class BundlePoller {
 public:
  explicit BundlePoller(BundlePollerOptions options);
  ~BundlePoller();  // stops the thread
  void start();
  void stop();

  // The engine to decide with; null until a first bundle arrived (fail closed).
  std::shared_ptr<const PolicyEngine> engine() const;
  int64_t revision() const;
  int64_t failures() const;  // consecutive failed polls
  // Blocks until revision() >= want or the timeout passes; true when reached.
  bool wait_for_revision(int64_t want, std::chrono::milliseconds timeout) const;
  // One poll now (also what the thread does). True when the registry answered.
  bool poll_once();

  // The wait after `failures` consecutive failed polls: full jitter, uniform in
  // [0, min(max_backoff, interval * 2^failures)]; exactly that cap with jitter off.
  static std::chrono::milliseconds backoff(const BundlePollerOptions& options, int64_t failures,
                                           std::mt19937_64& rng);

 private:
  void run();
  BundlePollerOptions options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const PolicyEngine> engine_;
  std::string hash_;
  int64_t revision_ = 0;
  int64_t failures_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace gatedrill

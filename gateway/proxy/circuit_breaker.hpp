#pragma once
// Upstream protection: a consecutive-failure circuit breaker (closed -> open for a cool-down ->
// half-open with one probe -> closed on success), on the monotonic clock. Thread-safe.
#include <chrono>
#include <cstdint>
#include <mutex>

#include "core/time/time_source.hpp"

namespace gatedrill::gateway {

struct CircuitBreakerOptions {
  int consecutive_failures = 5;  // 0: never opens
  std::chrono::milliseconds open_for{std::chrono::seconds(5)};
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(const TimeSource& time, CircuitBreakerOptions options);

  // False while open (and, when half-open, for everyone but the single probe).
  bool allow();
  void record_success();
  void record_failure();
  // The caller allowed by allow() never reached the upstream: frees the half-open probe slot.
  void release();
  State state() const;

 private:
  const TimeSource& time_;
  const CircuitBreakerOptions options_;
  mutable std::mutex mutex_;
  State state_ = State::kClosed;
  int failures_ = 0;
  int64_t opened_ns_ = 0;
  bool probe_in_flight_ = false;
};

const char* circuit_state_name(CircuitBreaker::State state);

}  // namespace gatedrill::gateway

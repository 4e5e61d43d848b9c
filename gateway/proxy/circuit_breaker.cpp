#include "gateway/proxy/circuit_breaker.hpp"

namespace gatedrill::gateway {

CircuitBreaker::CircuitBreaker(const TimeSource& time, CircuitBreakerOptions options)
    : time_(time), options_(options) {}

bool CircuitBreaker::allow() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (time_.monotonic_ns() - opened_ns_ < std::chrono::nanoseconds(options_.open_for).count())
        return false;
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      return true;  // this caller is the probe
    case State::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return true;
}

void CircuitBreaker::record_success() {
  std::lock_guard lock(mutex_);
  failures_ = 0;
  state_ = State::kClosed;
  probe_in_flight_ = false;
}

void CircuitBreaker::record_failure() {
  std::lock_guard lock(mutex_);
  probe_in_flight_ = false;
  if (state_ == State::kHalfOpen) {  // the probe failed: another cool-down
    state_ = State::kOpen;
    opened_ns_ = time_.monotonic_ns();
    return;
  }
  if (options_.consecutive_failures <= 0) return;
  if (++failures_ >= options_.consecutive_failures && state_ == State::kClosed) {
    state_ = State::kOpen;
    opened_ns_ = time_.monotonic_ns();
  }
}

void CircuitBreaker::release() {
  std::lock_guard lock(mutex_);
  probe_in_flight_ = false;
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

const char* circuit_state_name(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

}  // namespace gatedrill::gateway

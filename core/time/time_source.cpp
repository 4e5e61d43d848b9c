#include "core/time/time_source.hpp"

namespace gatedrill {

std::chrono::nanoseconds SystemTimeSource::monotonic() const {
  return std::chrono::steady_clock::now().time_since_epoch();
}

std::chrono::system_clock::time_point SystemTimeSource::wall() const {
  return std::chrono::system_clock::now() +
         std::chrono::milliseconds(skew_ms_.load(std::memory_order_relaxed));
}

void SystemTimeSource::set_skew(std::chrono::milliseconds skew) {
  skew_ms_.store(skew.count(), std::memory_order_relaxed);
}

std::chrono::milliseconds SystemTimeSource::skew() const {
  return std::chrono::milliseconds(skew_ms_.load(std::memory_order_relaxed));
}

ManualTimeSource::ManualTimeSource(std::chrono::system_clock::time_point wall_start)
    : wall_(wall_start) {}

std::chrono::nanoseconds ManualTimeSource::monotonic() const {
  std::lock_guard lock(mutex_);
  return monotonic_;
}

std::chrono::system_clock::time_point ManualTimeSource::wall() const {
  std::lock_guard lock(mutex_);
  return wall_ + skew_;
}

void ManualTimeSource::set_skew(std::chrono::milliseconds skew) {
  std::lock_guard lock(mutex_);
  skew_ = skew;
}

std::chrono::milliseconds ManualTimeSource::skew() const {
  std::lock_guard lock(mutex_);
  return skew_;
}

void ManualTimeSource::advance(std::chrono::nanoseconds by) {
  std::lock_guard lock(mutex_);
  monotonic_ += by;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
}

}  // namespace gatedrill

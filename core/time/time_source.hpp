#pragma once
// The only place in gatedrill that reads a clock. Durations use the monotonic clock; token
// validity, certificates and logs use the wall clock, which carries a per-process skew so a
// drill can move one node's clock by minutes at runtime without touching the machine's clock.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace gatedrill {

class TimeSource {
 public:
  virtual ~TimeSource() = default;

  // Nanoseconds since an arbitrary fixed origin; never jumps, never skewed.
  virtual std::chrono::nanoseconds monotonic() const = 0;
  // Wall clock including the skew.
  virtual std::chrono::system_clock::time_point wall() const = 0;

  virtual void set_skew(std::chrono::milliseconds skew) = 0;
  virtual std::chrono::milliseconds skew() const = 0;

  int64_t monotonic_ns() const { return monotonic().count(); }
  int64_t monotonic_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(monotonic()).count();
  }
  int64_t wall_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall().time_since_epoch()).count();
  }
  int64_t wall_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(wall().time_since_epoch()).count();
  }
};

// The machine's clocks plus an atomic skew; safe to read from any thread.
class SystemTimeSource final : public TimeSource {
 public:
  std::chrono::nanoseconds monotonic() const override;
  std::chrono::system_clock::time_point wall() const override;
  void set_skew(std::chrono::milliseconds skew) override;
  std::chrono::milliseconds skew() const override;

 private:
  std::atomic<int64_t> skew_ms_{0};
};

// Time that moves only when a test says so. Thread-safe.
class ManualTimeSource final : public TimeSource {
 public:
  // Starts at monotonic 0 and the given wall time (default: 2026-01-01T00:00:00Z).
  explicit ManualTimeSource(
      std::chrono::system_clock::time_point wall_start =
          std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)));

  std::chrono::nanoseconds monotonic() const override;
  std::chrono::system_clock::time_point wall() const override;
  void set_skew(std::chrono::milliseconds skew) override;
  std::chrono::milliseconds skew() const override;

  // Moves both clocks forward.
  void advance(std::chrono::nanoseconds by);

 private:
  mutable std::mutex mutex_;
  std::chrono::nanoseconds monotonic_{0};
  std::chrono::system_clock::time_point wall_;
  std::chrono::milliseconds skew_{0};
};

}  // namespace gatedrill

#pragma once
// A bounded wait for a condition that another process makes true (a child starts listening,
// a metric moves): polls, never sleeps a fixed time as synchronisation.
#include <time.h>

#include <chrono>
#include <functional>

#include "core/time/time_source.hpp"

namespace gatedrill::test {

// Polls `condition` until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  SystemTimeSource clock;
  const int64_t deadline = clock.monotonic_ms() + limit.count();
  while (clock.monotonic_ms() < deadline) {
    if (condition()) return true;
    timespec pause{0, 10'000'000};  // poll interval, not synchronisation
    nanosleep(&pause, nullptr);
  }
  return condition();
}

}  // namespace gatedrill::test

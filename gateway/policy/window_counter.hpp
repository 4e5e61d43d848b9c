#pragma once
// Counts events per fixed window of wall time (the registry's bundle fetches per 100 ms), keeping
// the most recent windows: a refetch storm is a burst within a poll interval, invisible in a
// per-second count.
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace gatedrill {

class WindowCounter {
 public:
  WindowCounter(int64_t window_ms, size_t max_windows)
      : window_ms_(window_ms), max_windows_(max_windows) {}

  void add(int64_t wall_ms) {
    std::lock_guard lock(mutex_);
    ++counts_[wall_ms / window_ms_ * window_ms_];
    while (counts_.size() > max_windows_) counts_.erase(counts_.begin());
  }
  // (window start in wall ms, events) of the windows that had any, oldest first.
  std::vector<std::pair<int64_t, int64_t>> windows() const {
    std::lock_guard lock(mutex_);
    return {counts_.begin(), counts_.end()};
  }
  int64_t window_ms() const { return window_ms_; }

 private:
  const int64_t window_ms_;
  const size_t max_windows_;
  mutable std::mutex mutex_;
  std::map<int64_t, int64_t> counts_;
};

}  // namespace gatedrill

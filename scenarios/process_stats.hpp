#pragma once
// CPU and memory of a child process from /proc, sampled once a second for the results store.
#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace gatedrill {

class ProcessStats {
 public:
  struct Sample {
    double cpu_pct = 0;  // of one core since the previous sample
    int64_t rss_bytes = 0;
  };
  // monotonic_ns: now, from the caller's TimeSource. nullopt when the process is gone.
  std::optional<Sample> sample(pid_t pid, int64_t monotonic_ns);

 private:
  pid_t pid_ = 0;
  int64_t last_cpu_ticks_ = -1;
  int64_t last_ns_ = 0;
};

}  // namespace gatedrill

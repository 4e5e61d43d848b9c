#pragma once
// Pieces the gateway's bench programs share: environment knobs, a process's CPU time and RSS
// from /proc, and the load average line every measurement prints.
#include <sched.h>
#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace gatedrill::gateway::test {

inline int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : fallback;
}

inline void pin(pid_t pid, int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  sched_setaffinity(pid, sizeof set, &set);
}

// CPU time of all of a process's threads, in ns.
inline uint64_t cpu_ns(pid_t pid) {
  uint64_t total = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream stat(task.path() / "schedstat");
    uint64_t ns = 0;
    stat >> ns;
    total += ns;
  }
  return total;
}

// VmRSS of a process, in KB (-1 when unknown).
inline long rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

// "load average 1.00 2.00 3.00; " (no newline).
inline void print_load() {
  double load[3] = {0, 0, 0};
  if (std::ifstream loadavg("/proc/loadavg"); loadavg) loadavg >> load[0] >> load[1] >> load[2];
  std::printf("load average %.2f %.2f %.2f; ", load[0], load[1], load[2]);
}

}  // namespace gatedrill::gateway::test

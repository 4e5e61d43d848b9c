#include "scenarios/process_stats.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace gatedrill {

std::optional<ProcessStats::Sample> ProcessStats::sample(pid_t pid, int64_t monotonic_ns) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return std::nullopt;
  // Fields after the command name, which may itself hold spaces and parentheses.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  int64_t utime = 0, stime = 0, rss_pages = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
    if (i == 24) {
      rss_pages = std::stoll(field);
      break;
    }
  }
  Sample s;
  s.rss_bytes = rss_pages * sysconf(_SC_PAGESIZE);
  int64_t ticks = utime + stime;
  if (pid == pid_ && last_cpu_ticks_ >= 0 && monotonic_ns > last_ns_) {
    double cpu_s = static_cast<double>(ticks - last_cpu_ticks_) / static_cast<double>(sysconf(_SC_CLK_TCK));
    s.cpu_pct = 100.0 * cpu_s / (static_cast<double>(monotonic_ns - last_ns_) / 1e9);
  }
  pid_ = pid;
  last_cpu_ticks_ = ticks;
  last_ns_ = monotonic_ns;
  return s;
}

}  // namespace gatedrill

#include "scenarios/status_line.hpp"

#include <unistd.h>

#include <cstdio>

#include "core/util/strings.hpp"

namespace gatedrill {

StatusLine::StatusLine(bool enabled, std::chrono::nanoseconds total)
    : enabled_(enabled),
      terminal_(isatty(STDERR_FILENO) != 0),
      total_s_(std::chrono::duration_cast<std::chrono::seconds>(total).count()) {}

void StatusLine::second(const SampleRecord& s, const Histogram& latency) {
  if (!enabled_) return;
  int64_t elapsed = s.second + 1;
  if (!terminal_ && elapsed % 5 != 0 && elapsed != 1) return;
  double error_pct = s.requests > 0 ? 100.0 * static_cast<double>(s.errors) / static_cast<double>(s.requests) : 0;
  char line[256];
  std::snprintf(line, sizeof line, "[%4llds/%llds] %-10s %8lld req/s  p50 %8s  p99 %8s  errors %5.2f%%  4xx %lld 5xx %lld",
                static_cast<long long>(elapsed), static_cast<long long>(total_s_), s.phase.c_str(),
                static_cast<long long>(s.requests),
                format_duration(std::chrono::nanoseconds(latency.percentile(50))).c_str(),
                format_duration(std::chrono::nanoseconds(latency.percentile(99))).c_str(), error_pct,
                static_cast<long long>(s.status_4xx), static_cast<long long>(s.status_5xx + s.connect_errors + s.timeouts));
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", line);
    dirty_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

void StatusLine::finish() {
  if (dirty_) std::fputc('\n', stderr);
  dirty_ = false;
}

}  // namespace gatedrill

#pragma once
// The live progress line of a run: elapsed/total, phase, achieved rate, p50/p99, errors. On a
// terminal it rewrites one line each second; in a log (CI) it prints a line every 5 seconds.
#include <chrono>
#include <cstdint>

#include "core/histogram/histogram.hpp"
#include "core/store/results_store.hpp"

namespace gatedrill {

class StatusLine {
 public:
  StatusLine(bool enabled, std::chrono::nanoseconds total);
  void second(const SampleRecord& sample, const Histogram& latency);
  void finish();  // ends the rewritten line

 private:
  bool enabled_;
  bool terminal_;
  int64_t total_s_;
  bool dirty_ = false;
};

}  // namespace gatedrill

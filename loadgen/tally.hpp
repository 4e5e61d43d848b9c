#pragma once
// What one event loop counted over one second or one phase; merged by the coordinator.
#include <cstdint>
#include <vector>

#include "core/histogram/histogram.hpp"

namespace gatedrill::loadgen {

struct Tally {
  int64_t sent = 0;
  int64_t completed = 0;
  int64_t errors = 0;
  int64_t connect_errors = 0;
  int64_t timeouts = 0;
  int64_t tls_handshakes = 0;
  int64_t tls_resumed = 0;
  std::vector<int64_t> status = std::vector<int64_t>(kStatusSlots, 0);  // index = HTTP status
  Histogram latency;
  Histogram latency_actual;

  static constexpr int kStatusSlots = 1000;

  void record(int status_code, int64_t latency_ns, int64_t actual_ns);
  void merge(const Tally& other);
  // Adds only other's responses (completed, status counts, both histograms).
  void add_responses(const Tally& other);
  void reset();
  bool empty() const {
    return sent == 0 && completed == 0 && errors == 0 && connect_errors == 0 && timeouts == 0 &&
           tls_handshakes == 0;
  }
};

}  // namespace gatedrill::loadgen

#include "loadgen/tally.hpp"

#include <algorithm>

namespace gatedrill::loadgen {

void Tally::record(int status_code, int64_t latency_ns, int64_t actual_ns) {
  ++completed;
  if (status_code >= 0 && status_code < kStatusSlots) ++status[static_cast<size_t>(status_code)];
  // Clamp at 1 ns: a response cannot arrive before it was sent, but planned times can be
  // rounded a hair after the actual send.
  latency.record(latency_ns > 0 ? latency_ns : 1);
  latency_actual.record(actual_ns > 0 ? actual_ns : 1);
}

void Tally::merge(const Tally& other) {
  sent += other.sent;
  errors += other.errors;
  connect_errors += other.connect_errors;
  timeouts += other.timeouts;
  tls_handshakes += other.tls_handshakes;
  tls_resumed += other.tls_resumed;
  add_responses(other);
}

void Tally::add_responses(const Tally& other) {
  completed += other.completed;
  for (size_t i = 0; i < status.size(); ++i) status[i] += other.status[i];
  latency.merge(other.latency);
  latency_actual.merge(other.latency_actual);
}

void Tally::reset() {
  sent = completed = errors = connect_errors = timeouts = tls_handshakes = tls_resumed = 0;
  std::fill(status.begin(), status.end(), 0);
  latency.reset();
  latency_actual.reset();
}

}  // namespace gatedrill::loadgen

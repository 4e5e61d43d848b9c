#pragma once
// One line of JSON per interval or per phase total, for worker processes to stream their counts
// to the parent (`--processes N`). Histograms travel as base64url of the HdrHistogram V2
// encoding, so the parent's merge is exact.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/util/result.hpp"
#include "loadgen/load_generator.hpp"

namespace gatedrill::loadgen {

// The count fields shared by every JSON form of an interval or a total (the wire lines here,
// `--json` reports): sent .. tls_resumed and "status": {"200": n, ...}. No histograms.
template <typename Counts>
void put_count_fields(boost::json::object& o, const Counts& c) {
  o["sent"] = c.sent;
  o["completed"] = c.completed;
  o["errors"] = c.errors;
  o["connect_errors"] = c.connect_errors;
  o["timeouts"] = c.timeouts;
  o["tls_handshakes"] = c.tls_handshakes;
  o["tls_resumed"] = c.tls_resumed;
  boost::json::object status;
  for (const auto& [code, count] : c.status_counts) status[std::to_string(code)] = count;
  o["status"] = std::move(status);
}

// What a worker process reports, one line each, newline-terminated.
struct WireFrame {
  enum class Kind { kInterval, kPhase, kEnd };
  Kind kind = Kind::kInterval;
  IntervalStats interval;  // kInterval; kPhase uses its counts, `second` = the phase index
  // kEnd: the worker's summary fields.
  int64_t elapsed_ns = 0;
  bool stopped = false;
  std::string first_error;
};

std::string encode_interval_frame(const IntervalStats& s);
std::string encode_phase_frame(size_t index, const LoadTotals& t);
std::string encode_end_frame(const LoadSummary& s);
// Errors: "bad_frame" naming what is wrong.
Result<WireFrame> decode_frame(std::string_view line);

// Adds every count and histogram of `from` into `into` (phase, second and target_rate of `into`
// are left to the caller).
void merge_counts(IntervalStats* into, const IntervalStats& from);

}  // namespace gatedrill::loadgen

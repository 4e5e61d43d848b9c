#pragma once
// A deterministic, realistic-looking run written through the results store: warmup/steady/spike
// phases over N gateways, a clock skew on gw-1 (401s), upstream latency (every node slower), a
// gw-2 restart, thresholds and expectations. Used by the GUI tests and the demo database tool.
#include <cstdint>
#include <string>
#include <vector>

#include "core/store/results_store.hpp"
#include "core/util/result.hpp"

namespace gatedrill::gui::testing {

struct SyntheticRun {
  std::string name = "synthetic";
  int nodes = 3;
  int seconds = 120;
  double rate = 3000;                      // total target req/s of the steady phase
  int64_t started_ms = 1'767'225'600'000;  // 2026-01-01 00:00:00 UTC
  bool histograms = true;                  // "all" histograms, for the exact phase table
  bool finished = true;                    // end_run; false leaves it "running"
  std::string verdict = "pass";
  double latency_scale = 1.0;  // to make a slower candidate for comparisons
};

// Where things are, in seconds since the load started (for assertions).
struct SyntheticLayout {
  int64_t load_start_ms = 0;
  int warmup_end = 0, steady_end = 0;  // phase boundaries
  int skew_start = 0, skew_end = 0;    // clock_skew on gw-1
  int slow_start = 0, slow_end = 0;    // latency on upstream
  int restart_at = 0;                  // gw-2 restart
};

SyntheticLayout layout_of(const SyntheticRun& run);

// The "all" row of one second and a node's row, as the generator writes them.
SampleRecord synthetic_sample(const SyntheticRun& run, int64_t run_id, const std::string& node,
                              int second);

// A fresh folder for a test's results.db, removed with the object.
class ScratchDb {
 public:
  ScratchDb();  // throws std::runtime_error when no folder can be made
  ~ScratchDb();
  ScratchDb(const ScratchDb&) = delete;
  ScratchDb& operator=(const ScratchDb&) = delete;
  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }
  // Writes the runs into path(); their ids, in order.
  Result<std::vector<int64_t>> write(const std::vector<SyntheticRun>& runs) const;

 private:
  std::string dir_, path_;
};

// Writes the whole run (begin_run .. end_run, flushed). Returns its id.
Result<int64_t> write_synthetic_run(ResultsStore& store, const SyntheticRun& run);
// Writes seconds [from, to) of an already begun run (for live-refresh tests), flushed.
Result<void> write_synthetic_seconds(ResultsStore& store, const SyntheticRun& run, int64_t run_id,
                                     int from, int to);

}  // namespace gatedrill::gui::testing

#pragma once
// A load generator's own results store (`gatedrill loadgen --store F`, `--worker`): one run row,
// the planned phases, and per second one sample and the two HDR histograms per node, in the
// schema the runner and the reports use, so stores from several machines can be merged exactly
// (store_merge.hpp) and read by `gatedrill report`.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/histogram/histogram.hpp"
#include "core/store/results_store.hpp"
#include "core/util/result.hpp"
#include "loadgen/load_generator.hpp"

namespace gatedrill::loadgen {

// The counts of one node's second, from which a sample row is derived.
struct SecondCounts {
  std::string phase;
  int64_t requests = 0;  // completed + connect errors + timeouts + I/O errors
  int64_t errors = 0;    // status outside 200..399 + connect errors + timeouts + I/O errors
  int64_t connect_errors = 0;
  int64_t timeouts = 0;
  std::map<int, int64_t> status_counts;
};

SecondCounts counts_of(const IntervalStats& s);

// The sample row of one node's second: the status classes from status_counts, the percentiles
// from `latency` (planned-send latency, ns).
SampleRecord make_sample(int64_t run_id, const std::string& node, int64_t second,
                         const SecondCounts& counts, const Histogram& latency);

class WorkerStore {
 public:
  // Opens (creating) the store at path and begins `run`; the phases are recorded with their
  // planned wall times from run.started_ms. Every second is written under each of `nodes`
  // ("all" first: what reports read). Errors: those of ResultsStore::open and begin_run.
  static Result<std::unique_ptr<WorkerStore>> open(const std::string& path, RunRecord run,
                                                   const std::vector<LoadPhase>& phases,
                                                   std::vector<std::string> nodes);

  void record(const IntervalStats& s);
  // Flushes and closes the run. verdict "pass" | "fail" | "aborted".
  Result<void> finish(const std::string& verdict, int exit_code, int64_t ended_ms);
  int64_t run_id() const { return run_id_; }

 private:
  WorkerStore(std::unique_ptr<ResultsStore> store, int64_t run_id, std::vector<std::string> nodes)
      : store_(std::move(store)), run_id_(run_id), nodes_(std::move(nodes)) {}

  std::unique_ptr<ResultsStore> store_;
  int64_t run_id_;
  std::vector<std::string> nodes_;
};

}  // namespace gatedrill::loadgen

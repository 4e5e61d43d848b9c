#pragma once
// `gatedrill merge OUT.db IN1.db IN2.db ...`: combines the runs of several load generator
// workers (each with its own results store) into one run, exactly: per node and second the
// histograms are added (HdrHistogram merge), counts summed, and the percentiles of the merged
// samples computed from the merged histograms, never averaged.
#include <cstdint>
#include <string>
#include <vector>

#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill::loadgen {

struct MergeOutcome {
  int64_t run_id = 0;   // the new run in OUT
  int64_t seconds = 0;  // distinct seconds written (over all nodes)
  int64_t samples = 0;  // sample rows written
};

// Takes the newest run of every input. Rows with the same node and second merge; each input's
// seconds are shifted by its start's distance from the earliest start (rounded to whole
// seconds), so workers started at different times line up on the wall clock. Phases merge by
// index (earliest start, latest end, summed target rate); events are copied.
// Errors: "bad_input" (an input that cannot be read, holds no run, a corrupt histogram, or is
// OUT itself), and those of ResultsStore::open for OUT.
Result<MergeOutcome> merge_stores(const std::string& out_path,
                                  const std::vector<std::string>& input_paths);

// `gatedrill merge ...`: argv[0] is "merge". Returns the process exit code.
int merge_command(int argc, char** argv);

}  // namespace gatedrill::loadgen

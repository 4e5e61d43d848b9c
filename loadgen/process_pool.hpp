#pragma once
// `--processes N`: the load spread over N forked worker processes, each with its own event-loop
// threads and its own file-descriptor limit (20000 here: one process tops out near 18k
// connections). Each worker streams every second's counts and HDR histograms to the parent over
// a pipe (interval_wire.hpp); the parent merges them exactly (histogram add) and reports one
// merged interval per second and one summary, as if one generator had run.
#include <atomic>
#include <functional>
#include <vector>

#include "core/time/time_source.hpp"
#include "core/util/result.hpp"
#include "loadgen/load_generator.hpp"

namespace gatedrill::loadgen {

// Connections and rates are split over the processes in proportion (process k gets connections
// [C*k/N, C*(k+1)/N) and the same share of every phase's rate, and staggers them as part of all
// C); every process runs options.threads threads (at most its connections). on_interval runs on
// the calling thread once per merged second. *stop ends every worker within about a second.
// Errors: those of LoadGenerator::check, "bad_options" (processes < 1 or > connections),
// "spawn_failed" (pipe/fork).
Result<LoadSummary> run_in_processes(TimeSource& time, const LoadRequestSpec& spec,
                                     const LoadOptions& options, int processes,
                                     const std::vector<LoadPhase>& phases,
                                     std::function<void(const IntervalStats&)> on_interval = {},
                                     const std::atomic<bool>* stop = nullptr);

}  // namespace gatedrill::loadgen

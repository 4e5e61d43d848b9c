#pragma once
// A run's summary from the results store: per phase the achieved rate, latency percentiles and
// errors by status; the thresholds and expectations with what was observed; the events; and the
// per-second samples of every node (for charts and the regression gate's spread test).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/store/results_store.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct PhaseReport {
  std::string name;
  double target_rate = 0;  // 0 = max
  int64_t seconds = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  double rps = 0;
  // From the phase's merged per-second histograms (exact, never averaged percentiles).
  int64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
  int64_t latency_count = 0;  // values in the merged histogram
  // The merged histogram's percentile spectrum: (percentile, ns) at 10, 20, ... 90, 95, 99,
  // 99.5, 99.9, 99.95, 99.99, 99.999 (empty without latency data).
  std::vector<std::pair<double, int64_t>> spectrum;
  std::map<int, int64_t> status_counts;
  int64_t status_2xx = 0, status_3xx = 0, status_4xx = 0, status_5xx = 0;
  int64_t connect_errors = 0, timeouts = 0;

  double error_rate() const {  // errors per completed request, 0..1
    return requests > 0 ? static_cast<double>(errors) / static_cast<double>(requests) : 0;
  }
};

struct RunSummary {
  RunRecord run;
  std::vector<PhaseReport> phases;
  std::vector<ThresholdRecord> thresholds;
  std::vector<EventRecord> events;
  // Wall clock of sample second 0 (the load start; the first phase's start), so events can be
  // placed on the per-second axis.
  int64_t load_start_ms = 0;
  std::vector<std::string> nodes;     // the gateway nodes with samples, without "all"
  std::vector<std::string> streams;   // other recorded streams ("hot@gw-1"), not merged into "all"
  std::vector<SampleRecord> samples;  // every node's, ordered by node then second
  std::vector<PhaseRecord> phase_records;

  const PhaseReport* phase(std::string_view name) const;
  // The seconds of node ("all" for the merge of every node), in order.
  std::vector<const SampleRecord*> node_samples(std::string_view node) const;
  // Seconds since the load start of a wall-clock time.
  double second_of(int64_t wall_ms) const {
    return static_cast<double>(wall_ms - load_start_ms) / 1000.0;
  }
};

// Latency metrics a comparison or gate can name: p50, p90, p99, p999, max.
bool is_latency_metric(std::string_view metric);
int64_t phase_metric_ns(const PhaseReport& phase, std::string_view metric);
double sample_metric_us(const SampleRecord& sample, std::string_view metric);

// Merges the per-second histograms of node "all" for each phase (exact, not averaged).
// Errors: the reader's ("no_such_run", ...).
Result<RunSummary> summarize_run(const ResultsReader& reader, int64_t run_id);
std::string format_run_summary(const RunSummary& summary);

}  // namespace gatedrill

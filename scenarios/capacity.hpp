#pragma once
// `gatedrill capacity FILE.lua --slo 'p99<10ms'`: the highest arrival rate the scenario's
// topology sustains within the SLOs, found the way Nighthawk's adaptive load controller and
// k6 users do it by hand: double the rate until an SLO breaks, then bisect between the last
// good and the first bad rate until they are within the precision. The topology is started
// once; each step is a load phase of the stored run, so reports draw the latency-vs-throughput
// curve.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

// "p99<10ms", "error_rate < 0.1%", "p999<=50ms": a metric, an operator and a limit, as a
// threshold over each step. Errors: "bad_slo" (no operator, unknown metric, bad unit).
Result<ThresholdSpec> parse_slo(std::string_view text);

// What one step measured.
struct CapacityStep {
  double rate = 0;          // requests/s asked for
  double achieved_rps = 0;  // completed per second over the judged seconds
  double p50_ns = 0, p99_ns = 0;
  double error_rate = 0;
  // Confidence in p99: (max - min) / median of the per-second p99s; small = stable.
  double p99_spread = 0;
  bool pass = false;
  std::vector<std::string> broken;  // the SLOs it broke, with what was observed
  // The gateways' CPU over the step (percent of one core, all nodes) and their RSS at its end:
  // what the seeds' sizing questions ask (vCPU per 5k requests/s, memory).
  double gateway_cpu_pct = 0;
  int64_t gateway_rss_bytes = 0;
  int connections = 0;  // client connections the step held open, all gateways
};

// "high" (< 20%), "medium" or "low" (>= 50%): how far a step's per-second p99s agree.
const char* p99_confidence(double p99_spread);

// The seeds' sizing questions, answered from the step at the sustainable rate: requests/s per
// node under the SLOs, vCPU per 5000 requests/s, and memory against the connection count.
struct CapacitySizing {
  double rps_per_node = 0;
  double cores_per_5k_rps = 0;  // gateway CPU (cores, all nodes) per 5000 requests/s achieved
  double rss_per_node_bytes = 0;
  int connections_per_node = 0;
  // What the held connections cost: (RSS at the step - RSS idle) / connections, per node; 0
  // when the RSS did not grow (nothing to attribute).
  double bytes_per_connection = 0;
  std::string p99_confidence;
};
// nodes >= 1; idle_rss_bytes: the gateways' RSS (all nodes) before the first step.
CapacitySizing capacity_sizing(const CapacityStep& step, int nodes, int64_t idle_rss_bytes);
// The sizing as the lines `gatedrill capacity` prints under the result.
std::string format_sizing(const CapacitySizing& sizing);

struct CapacitySearchOptions {
  double start = 1000;
  double max = 200000;
  double precision = 0.02;  // stop when (first bad - last good) <= precision * last good
  double min = 1;           // below this, give up: nothing is sustainable
};

// The search itself, with no processes: ask next_rate(), measure it, give the result to
// record(); done when next_rate() is empty.
class CapacitySearch {
 public:
  explicit CapacitySearch(CapacitySearchOptions options);

  std::optional<double> next_rate() const;
  void record(const CapacityStep& step);

  // The highest rate that met every SLO (nullopt: not even the lowest tried).
  std::optional<double> sustainable() const;
  // The lowest rate that broke an SLO (nullopt: none did, up to max).
  std::optional<double> breaking() const;
  const std::vector<CapacityStep>& steps() const { return steps_; }
  bool reached_max() const { return reached_max_; }

 private:
  CapacitySearchOptions options_;
  std::vector<CapacityStep> steps_;
  std::optional<double> good_, bad_;
  std::optional<double> next_;
  bool reached_max_ = false;
};

// `gatedrill capacity ...`: exit 0 a sustainable rate was found, 99 none (even the lowest rate
// broke an SLO), 1 error, 2 usage.
int capacity_command(int argc, char** argv);

}  // namespace gatedrill

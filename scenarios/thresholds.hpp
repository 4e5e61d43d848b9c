#pragma once
// Threshold expressions, k6-style: "steady.p99{node=gw-1}" with a condition "< 10ms".
// Latency metrics take durations, shares and rates take percentages, counts take numbers.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/histogram/histogram.hpp"
#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

// Errors: "bad_threshold" with a specific message (unknown metric, missing operator, unit that
// does not fit the metric, impossible value such as a share above 100%).
Result<ThresholdSpec> parse_threshold(std::string_view subject, std::string_view condition);
// Parses only "name_of_metric op value" against a known metric (used by expectations).
Result<ThresholdSpec> parse_condition(std::string_view metric, std::string_view condition);

// What was seen over a window of seconds (a phase, a fault window, the whole run).
struct WindowStats {
  int64_t requests = 0;
  int64_t errors = 0;
  std::map<int, int64_t> status_counts;
  Histogram latency;
  double seconds = 0;
  int64_t restarts = 0;  // supervisor restarts of the node(s) in those seconds
  // The latency of the scenario's first phase (its warm-up), for "p99_vs_baseline" metrics.
  std::optional<Histogram> baseline_latency;
};

// Metrics over the gateway nodes rather than requests: node_error_share (share of nodes where
// most requests failed: the stale share in a desync) and node_split (share of nodes in the
// minority, failing vs serving: 0 when all nodes agree, 50% for an even split).
bool is_cross_node(const std::string& metric);
double cross_node_value(const std::vector<WindowStats>& per_node, const std::string& metric);

// "p99_vs_baseline" -> true: a latency metric divided by the same metric over the baseline.
bool is_baseline_ratio(const std::string& metric);

// The metric's value over the window: nanoseconds for latency metrics, ratios 0..1 for shares.
double metric_value(const WindowStats& stats, const std::string& metric);
bool threshold_passes(const ThresholdSpec& threshold, double observed);
// "7.9ms", "96.2%", "1532": observed value in the metric's own unit.
std::string format_metric(const std::string& metric, double value);

}  // namespace gatedrill

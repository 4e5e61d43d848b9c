#include "scenarios/evaluation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/util/strings.hpp"
#include "scenarios/decision_log.hpp"
#include "scenarios/fault_catalog.hpp"
#include "scenarios/gateway_reasons.hpp"

namespace gatedrill {

namespace {

// value() is asked only when the window had requests.
template <typename Value>
Outcome verdict(const ThresholdSpec& t, int64_t requests, Value value, const std::string& text) {
  Outcome o;
  o.text = text;
  o.abort_on_fail = t.abort_on_fail;
  if (requests == 0) {
    o.observed_text = "no requests in the window";
    return o;
  }
  o.observed = value();
  o.observed_text = format_metric(t.metric, o.observed);
  o.pass = threshold_passes(t, o.observed);
  return o;
}

Outcome judge(const ThresholdSpec& t, const WindowStats& stats, const std::string& text) {
  return verdict(
      t, stats.requests, [&] { return metric_value(stats, t.metric); }, text);
}

// Seconds lying wholly inside [start_ms, end_ms) of the load's timeline.
struct SecondRange {
  int64_t first = 0, last = -1;
};
SecondRange full_seconds(int64_t start_ms, int64_t end_ms, int64_t load_start_ms) {
  SecondRange r;
  double start_s = static_cast<double>(start_ms - load_start_ms) / 1000.0;
  double end_s = static_cast<double>(end_ms - load_start_ms) / 1000.0;
  r.first = static_cast<int64_t>(std::ceil(start_s));
  r.last = static_cast<int64_t>(std::floor(end_s)) - 1;
  return r;
}

// Adds the first phase's latency on the same node when a condition compares against it.
void add_baseline(WindowStats& stats, const ThresholdSpec& t, const Scenario& scenario,
                  const RunRecorder& recorder, const std::string& node) {
  if (!is_baseline_ratio(t.metric) || scenario.phases.empty()) return;
  const std::string& first = scenario.phases.front().name;
  stats.baseline_latency =
      recorder.window(node, [&](int64_t, const std::string& phase) { return phase == first; })
          .latency;
}

// node_error_share / node_split: every gateway judged on its own over the same seconds.
template <typename Filter>
Outcome judge_nodes(const ThresholdSpec& t, const Scenario& scenario, const RunRecorder& recorder,
                    Filter filter, const std::string& text) {
  std::vector<WindowStats> per_node;
  int64_t requests = 0;
  for (int i = 1; i <= scenario.topology.gateways; ++i) {
    per_node.push_back(recorder.window("gw-" + std::to_string(i), filter));
    requests += per_node.back().requests;
  }
  return verdict(
      t, requests, [&] { return cross_node_value(per_node, t.metric); }, text);
}

// audit_deny_share: the 403s the node's clients saw that its decision log records as denies
// with a policy version; audit_share: the answers they got that it records at all (everything
// audited). node: "gw-N" (the main load: every identity but the declared ones) or "bob@gw-N".
template <typename Filter>
Outcome judge_audit(const ThresholdSpec& t, const Scenario& scenario, const RunRecorder& recorder,
                    const std::string& node, Filter filter, const std::string& decision_logs,
                    int64_t load_start_ms, const std::string& text) {
  Outcome o;
  o.text = text;
  o.abort_on_fail = t.abort_on_fail;
  auto at = node.find('@');
  std::string gateway = at == std::string::npos ? node : node.substr(at + 1);
  std::string identity = at == std::string::npos ? "" : node.substr(0, at);
  if (decision_logs.empty() || node_kind(scenario, gateway) != "gateway") {
    o.observed_text = "needs one gateway (node = \"gw-1\") with a decision log (topology.registry)";
    return o;
  }
  const bool denies = t.metric == "audit_deny_share";
  WindowStats seen = recorder.window(node, filter);
  int64_t refused = 0;
  for (const auto& [status, count] : seen.status_counts)
    if (!denies || status == 403) refused += count;
  if (refused == 0) {
    o.observed_text = denies ? "no 403 in the window" : "no answers in the window";
    return o;
  }
  int64_t logged = 0;
  auto log = read_decision_log(decision_logs + "/" + gateway + ".decisions.jsonl", load_start_ms,
                               identity, scenario.topology.identities);
  for (const auto& [second, tally] : log)
    if (filter(second, std::string())) logged += denies ? tally.denied_versioned : tally.decisions;
  o.observed = static_cast<double>(logged) / static_cast<double>(refused);
  o.observed_text = format_metric(t.metric, o.observed) + " (" + std::to_string(logged) + " of " +
                    std::to_string(refused) + ")";
  o.pass = threshold_passes(t, o.observed);
  return o;
}

// reason_X / reason_X_share: what the gateways (or the stream's gateway) answered with reason X
// over the window, as they counted it.
Outcome judge_reason(const ThresholdSpec& t, const FaultWindow& w, const std::string& node,
                     const std::string& text) {
  Outcome o;
  o.text = text;
  o.abort_on_fail = t.abort_on_fail;
  auto at = node.find('@');
  std::string gateway = at == std::string::npos ? node : node.substr(at + 1);
  int64_t count = 0, total = 0;
  const std::string reason = reason_of_metric(t.metric);
  for (const auto& [name, counts] : w.reasons) {
    if (gateway != kAllNodes && name != gateway) continue;
    for (const auto& [r, n] : counts) {
      total += n;
      if (r == reason) count += n;
    }
  }
  if (w.reasons.empty()) {
    o.observed_text = "the gateways' /metrics could not be read over the window";
    return o;
  }
  const bool share = t.metric.size() > 6 && t.metric.substr(t.metric.size() - 6) == "_share";
  if (share && total == 0) {
    o.observed_text = "the gateways answered nothing in the window";
    return o;
  }
  o.observed =
      share ? static_cast<double>(count) / static_cast<double>(total) : static_cast<double>(count);
  o.observed_text =
      format_metric(t.metric, o.observed) +
      (share ? " (" + std::to_string(count) + " of " + std::to_string(total) + ")" : std::string());
  o.pass = threshold_passes(t, o.observed);
  return o;
}

// refetch_burst: the busiest fetch window within kRefetchSpanMs after the fault's window, in
// multiples of the mean fetches per window over the first phase (the steady polling).
Outcome judge_refetch_burst(const ThresholdSpec& t, const Scenario& scenario,
                            const RegistryFetches& fetches, int64_t window_end_ms,
                            int64_t load_start_ms, const std::string& text) {
  Outcome o;
  o.text = text;
  if (fetches.window_ms <= 0 || scenario.phases.empty()) {
    o.observed_text = "the registry's fetch counts could not be read";
    return o;
  }
  const int64_t first_end = load_start_ms + std::chrono::duration_cast<std::chrono::milliseconds>(
                                                scenario.phases.front().duration)
                                                .count();
  int64_t steady = 0, peak = 0;
  for (const auto& [start, count] : fetches.windows) {
    if (start >= load_start_ms && start + fetches.window_ms <= first_end) steady += count;
    if (start + fetches.window_ms > window_end_ms && start < window_end_ms + kRefetchSpanMs)
      peak = std::max(peak, count);
  }
  const double windows = static_cast<double>(first_end - load_start_ms) / fetches.window_ms;
  if (steady == 0 || windows <= 0) {
    o.observed_text = "no fetches in the first phase to compare with";
    return o;
  }
  const double mean = static_cast<double>(steady) / windows;
  o.observed = static_cast<double>(peak) / mean;
  char detail[128];
  std::snprintf(detail, sizeof detail, " (peak %lld per %lld ms, steady %.2f)",
                static_cast<long long>(peak), static_cast<long long>(fetches.window_ms), mean);
  o.observed_text = format_metric(t.metric, o.observed) + detail;
  o.pass = threshold_passes(t, o.observed);
  return o;
}

}  // namespace

std::vector<Outcome> evaluate_run(const Scenario& scenario, const RunRecorder& recorder,
                                  const std::vector<FaultWindow>& windows, int64_t load_start_ms,
                                  const std::string& decision_logs,
                                  const RegistryFetches& registry_fetches) {
  std::vector<Outcome> outcomes;
  for (const auto& t : scenario.thresholds) {
    std::string node = t.node.empty() ? kAllNodes : t.node;
    auto in_phase = [&](int64_t, const std::string& phase) {
      return t.phase.empty() || phase == t.phase;
    };
    if (t.metric == "audit_deny_share" || t.metric == "audit_share") {
      outcomes.push_back(
          judge_audit(t, scenario, recorder, node, in_phase, decision_logs, load_start_ms, t.text));
      continue;
    }
    if (is_cross_node(t.metric)) {
      outcomes.push_back(judge_nodes(t, scenario, recorder, in_phase, t.text));
      continue;
    }
    auto stats = recorder.window(node, in_phase);
    add_baseline(stats, t, scenario, recorder, node);
    outcomes.push_back(judge(t, stats, t.text));
  }
  for (const auto& e : scenario.expectations) {
    // A fault on a peer (idp, redis, ...) is judged over the load on every gateway.
    bool stream = e.node.find('@') != std::string::npos;  // an identity's stream, "bob@gw-1"
    std::string node = e.node.empty() || (node_kind(scenario, e.node) != "gateway" && !stream)
                           ? kAllNodes
                           : e.node;
    // A peer named by the expectation (an upstream cluster, an issuer, app, idp) picks the
    // windows on that node: with two clusters, node = "catalog" is not judged on billing's.
    const bool peer = !e.node.empty() && node != e.node;
    bool any_window = false;
    for (const auto& w : windows) {
      if (w.type != e.fault || (peer && w.node != e.node) ||
          (!e.node.empty() && w.node != e.node && node_kind(scenario, w.node) == "gateway"))
        continue;
      any_window = true;
      int64_t end_ms = w.end_ms > 0 ? w.end_ms : w.start_ms;
      std::string label = (e.when == ExpectSpec::When::kDuring ? "during(" : "after(") + e.fault +
                          ", " + node + ")";
      if (e.when == ExpectSpec::When::kDuring) {
        SecondRange range = full_seconds(w.start_ms, end_ms, load_start_ms);
        for (const auto& c : e.conditions) {
          if (!reason_of_metric(c.metric).empty()) {
            outcomes.push_back(judge_reason(c, w, node, label + " " + c.text));
            continue;
          }
          if (range.last < range.first) {
            outcomes.push_back({label + " " + c.text, false, 0,
                                "the fault window holds no full second to measure", false});
            continue;
          }
          auto in_window = [&](int64_t s, const std::string&) {
            return s >= range.first && s <= range.last;
          };
          if (c.metric == "audit_deny_share" || c.metric == "audit_share") {
            outcomes.push_back(judge_audit(c, scenario, recorder, node, in_window, decision_logs,
                                           load_start_ms, label + " " + c.text));
            continue;
          }
          if (is_cross_node(c.metric)) {
            outcomes.push_back(judge_nodes(c, scenario, recorder, in_window, label + " " + c.text));
            continue;
          }
          auto stats = recorder.window(node, in_window);
          add_baseline(stats, c, scenario, recorder, node);
          outcomes.push_back(judge(c, stats, label + " " + c.text));
        }
      } else {
        for (const auto& c : e.conditions)  // refetch_burst (the parser allows no other)
          outcomes.push_back(judge_refetch_burst(c, scenario, registry_fetches, end_ms,
                                                 load_start_ms, label + " " + c.text));
      }
      if (e.when == ExpectSpec::When::kAfter && e.recovered_within) {
        // Recovered at the start of the first clean second at or after the window's end (all of
        // its requests succeeded, so the system was healthy when it began); an upper bound.
        double end_s = static_cast<double>(end_ms - load_start_ms) / 1000.0;
        auto series = recorder.error_series(node);
        Outcome o;
        o.text = label + " recovered_within " + format_duration(*e.recovered_within);
        o.observed_text = "never recovered before the load ended";
        for (const auto& [second, counts] : series) {
          if (static_cast<double>(second + 1) <= end_s) continue;
          auto [requests, errors] = counts;
          if (requests == 0) continue;
          if (static_cast<double>(errors) / static_cast<double>(requests) < kRecoveredErrorShare) {
            double recovery_s = std::max(0.0, static_cast<double>(second) - end_s);
            o.observed = recovery_s * 1e9;
            o.observed_text =
                format_duration(std::chrono::nanoseconds(static_cast<int64_t>(o.observed)));
            o.pass = o.observed <= static_cast<double>(e.recovered_within->count());
            break;
          }
        }
        outcomes.push_back(o);
      }
    }
    if (!any_window) outcomes.push_back({e.text, false, 0, "the fault never happened", false});
  }
  return outcomes;
}

}  // namespace gatedrill

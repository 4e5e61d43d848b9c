#pragma once
// The dashboard's model of one run: turns the results store's records into chart series (x is
// seconds since the load started), fault windows at the same x, and the phase summary. Plain
// C++ without Qt, so the tests check series values and node filtering without a display.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/store/results_store.hpp"
#include "core/util/result.hpp"
#include "reports/run_summary.hpp"

namespace gatedrill::gui {

inline constexpr const char* kAllNodes = "all";

struct Point {
  double x = 0;
  double y = 0;
};

struct Series {
  std::string name;
  std::vector<Point> points;
};

// A band shaded on every chart, in seconds since the load started.
struct FaultWindow {
  double start_s = 0;
  double end_s = 0;   // == start_s for a mark (a restart, an exit)
  std::string node;   // "" for run-wide
  std::string kind;   // "fault" | "restart" | "exit"
  std::string name;   // "clock_skew"
  std::string label;  // "clock_skew on gw-1"
  std::string detail_json;
};

// What the store holds for one run.
struct RunData {
  // The run, its thresholds and events; the per-phase reports ("all" nodes, exact percentiles
  // from merged histograms) only once summarize_run has run (see with_phase_reports).
  RunSummary summary;
  std::vector<PhaseRecord> phases;
  std::vector<SampleRecord> samples;
  bool phase_reports = false;
};

// Reads the records without merging histograms: fast enough to draw at once; the phase reports
// (seconds of histogram decoding for a long run) follow from summarize_run, off the UI thread.
// Errors: the reader's ("no_such_run", "db_read", ...).
Result<RunData> load_run_data(const ResultsReader& reader, int64_t run_id);
// load_run_data plus the phase reports, in one go (compare mode, tests).
Result<RunData> load_run_data_with_phase_reports(const ResultsReader& reader, int64_t run_id);

class RunModel {
 public:
  explicit RunModel(RunData data);

  const RunRecord& run() const { return data_.summary.run; }
  const RunSummary& summary() const { return data_.summary; }
  const std::vector<PhaseRecord>& phases() const { return data_.phases; }
  bool running() const { return run().ended_ms == 0; }

  // "all" first (when present), the gateways by name, then streams of other identities
  // ("hot@gw-1": kept apart, not merged into "all").
  std::vector<std::string> nodes() const;
  // The gateways the load was split over (neither "all" nor a stream).
  std::vector<std::string> gateway_nodes() const;
  size_t sample_count() const;
  // Wall clock (unix ms) of second 0: the first phase's start, else the run's.
  int64_t origin_ms() const;
  // The last second any node reported; -1 before the first.
  int64_t last_second() const;
  // Where a live poll should start reading: the earliest second some node has not reported.
  int64_t poll_from_second() const;

  // Live refresh: keeps the rows whose second is newer than what the model holds for that node
  // (re-read rows are ignored). Returns how many were kept.
  size_t append_samples(const std::vector<SampleRecord>& samples);
  // Newer records of a running run (its row, phases, thresholds and events change).
  void update_records(RunRecord run, std::vector<PhaseRecord> phases,
                      std::vector<EventRecord> events, std::vector<ThresholdRecord> thresholds);
  // The per-phase reports from summarize_run.
  void set_phase_reports(std::vector<PhaseReport> phases);
  bool has_phase_reports() const { return data_.phase_reports; }

  // Requests completed per second (incl. connect errors and timeouts: what was attempted).
  Series achieved_rps(const std::string& node) const;
  // The phases' target rates as a step line; a node's share is the target over the gateways.
  // Phases with target 0 ("max") have no target.
  Series target_rps(const std::string& node) const;
  // p50, p99, p99.9 in milliseconds.
  std::vector<Series> latency_ms(const std::string& node) const;
  // 2xx, 4xx, 5xx and "no response" (connect errors + timeouts) as % of the second's requests.
  std::vector<Series> status_share(const std::string& node) const;
  // One series per gateway for "all", else the node's own.
  std::vector<Series> cpu_pct(const std::string& node) const;
  std::vector<Series> rss_mib(const std::string& node) const;
  // Faults (and restart/exit marks) relevant to node: for "all" every one; for a gateway its
  // own, the run-wide ones and those on shared peers (idp, upstream, ...), not another gateway's.
  std::vector<FaultWindow> fault_windows(const std::string& node) const;

  // The phase a second belongs to ("" when unknown).
  std::string phase_at(double second) const;

 private:
  const std::vector<SampleRecord>* rows(const std::string& node) const;
  template <class Value>
  Series series_of(const std::string& node, std::string name, Value value) const;
  std::vector<Series> per_gateway(const std::string& node, const char* suffix,
                                  double (*value)(const SampleRecord&)) const;

  RunData data_;                                              // samples moved out into by_node_
  std::map<std::string, std::vector<SampleRecord>> by_node_;  // each sorted by second
};

// The points of a series to draw for x in [lo, hi]: those in range plus one on each side (so the
// line reaches the edges); above max_points, each bucket of consecutive points keeps its lowest
// and highest (in x order), so spikes survive. Painting 3,600 points a line costs more than the
// pixels can show.
std::vector<Point> envelope(const std::vector<Point>& points, double lo, double hi,
                            size_t max_points);

// The gateway a node name is about: "gw-1" for "gw-1" and for the stream "hot@gw-1".
std::string gateway_of(const std::string& node);

// One row of the runs list.
struct RunRow {
  RunRecord run;
  int64_t seconds = 0;  // seconds of "all" samples
  int64_t requests = 0;
  double rps = 0;  // requests / seconds; 0 with no samples
};

// The runs, newest first, with their totals. Errors: the reader's.
Result<std::vector<RunRow>> load_run_rows(const ResultsReader& reader);
// A case-insensitive match of every word of filter against id, name, scenario, verdict and
// params ("quick fail" finds failed quickstart runs).
bool row_matches(const RunRow& row, const std::string& filter);

// "2026-12-01 11:53" (UTC), for the runs list (reports' format_wall_time has the seconds).
std::string format_wall_minute(int64_t wall_ms);
// "45 s", "12 m 05 s", "1 h 02 m".
std::string format_seconds(double seconds);
// The run's duration for the list: ended - started, or "running".
std::string format_run_duration(const RunRecord& run);
// {"RATE": "5000"} -> "RATE=5000"; the text itself when it is not a JSON object.
std::string format_params(const std::string& params_json);

}  // namespace gatedrill::gui

#pragma once
// The results store: SQLite in WAL mode, one writer (the runner) and any number of readers
// (reports, the GUI) that never block it. Schema (see docs/ARCHITECTURE.md):
//   runs, phases, samples, histograms, events, thresholds; PRAGMA user_version = schema version.
// Rows are queued and committed by a writer thread in one transaction per second, so the load
// loop never waits on the disk.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill {

inline constexpr int kResultsSchemaVersion = 1;

struct RunRecord {
  int64_t id = 0;
  std::string scenario;      // file name or "quickstart"
  std::string name;          // scenario { name = ... }
  std::string git_describe;  // of the gatedrill build
  std::string host;
  int64_t started_ms = 0;   // wall clock, unix ms
  int64_t ended_ms = 0;     // 0 while running
  std::string params_json;  // {"RATE": "20000", ...}
  std::string verdict;      // "running" | "pass" | "fail" | "error" | "aborted"
  int exit_code = -1;
  std::string run_dir;
};

struct PhaseRecord {
  int64_t run_id = 0;
  int index = 0;
  std::string name;
  int64_t started_ms = 0;  // wall clock
  int64_t ended_ms = 0;
  double target_rate = 0;  // requests/s; 0 for "max"
};

// One second of one node. node "loadgen" holds what clients saw; "gw-1" etc. what a node
// reported (cpu, rss, its own counters).
struct SampleRecord {
  int64_t run_id = 0;
  std::string node;
  int64_t second = 0;  // since the run started
  std::string phase;
  int64_t requests = 0;  // completed in this second
  int64_t errors = 0;    // non-2xx/3xx + connect errors + timeouts
  int64_t status_2xx = 0, status_3xx = 0, status_4xx = 0, status_5xx = 0;
  std::string status_counts_json;  // {"200": 9000, "401": 12}
  int64_t connect_errors = 0;
  int64_t timeouts = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  double cpu_pct = 0;  // of one core
  int64_t rss_bytes = 0;
};

struct HistogramRecord {
  int64_t run_id = 0;
  std::string node;
  int64_t second = 0;
  std::string kind;  // "latency" (from planned send time) | "latency_actual" (from actual send)
  std::string hdr;   // HdrHistogram V2 compressed blob (Histogram::encode)
};

struct EventRecord {
  int64_t run_id = 0;
  int64_t start_ms = 0;  // wall clock
  int64_t end_ms = 0;    // 0: instantaneous or still open
  std::string node;      // "" for run-wide
  std::string kind;      // "fault" | "restart" | "exit" | "threshold_breach" | "phase" | "note"
  std::string name;      // "clock_skew"
  std::string detail_json;
};

// Per run, what its "all" rows add up to: enough for a run list without reading every sample.
struct RunTotals {
  int64_t run_id = 0;
  int64_t seconds = 0;
  int64_t requests = 0;
};

struct ThresholdRecord {
  int64_t run_id = 0;
  std::string expression;  // "steady.p99 < 10ms"
  double observed = 0;
  std::string observed_text;  // "7.9ms"
  bool pass = false;
  bool abort_on_fail = false;
};

class ResultsStore {
 public:
  // Creates or migrates the database. Errors: "db_open" (cannot open/create), "db_read_only",
  // "db_locked" (another writer holds it beyond the busy timeout), "schema_too_new".
  static Result<std::unique_ptr<ResultsStore>> open(const std::string& path);
  ~ResultsStore();  // flushes what is queued, then stops the writer thread

  // Synchronous: the run row exists when this returns.
  Result<int64_t> begin_run(RunRecord run);
  // Queued; committed by the writer thread within about a second.
  void add_phase(PhaseRecord phase);
  void add_sample(SampleRecord sample);
  void add_histogram(HistogramRecord histogram);
  void add_event(EventRecord event);
  void add_threshold(ThresholdRecord threshold);
  // Flushes, then sets ended_ms, verdict and exit_code.
  Result<void> end_run(int64_t run_id, const std::string& verdict, int exit_code, int64_t ended_ms);
  // Blocks until everything queued so far is committed. Reports the first write error since the
  // last flush (rows of a failed batch are kept queued and retried, never dropped).
  Result<void> flush();

  const std::string& path() const;

 private:
  struct Impl;
  explicit ResultsStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Read-only access; never blocks the writer (WAL).
class ResultsReader {
 public:
  // Errors: "db_open" (missing file), "schema_too_new", "not_a_results_db", "db_corrupt"
  // (the header pages are damaged: a truncated copy).
  static Result<std::unique_ptr<ResultsReader>> open(const std::string& path);
  ~ResultsReader();

  Result<std::vector<RunRecord>> runs() const;  // newest first
  Result<RunRecord> run(int64_t run_id) const;  // "no_such_run"
  Result<std::vector<PhaseRecord>> phases(int64_t run_id) const;
  // node empty: every node. from_second: only seconds >= it (a live view polls for new rows).
  Result<std::vector<SampleRecord>> samples(int64_t run_id, const std::string& node = {},
                                            int64_t from_second = 0) const;
  // Every run that has "all" samples; one aggregate query.
  Result<std::vector<RunTotals>> run_totals() const;
  Result<std::vector<HistogramRecord>> histograms(int64_t run_id, const std::string& node,
                                                  const std::string& kind) const;
  Result<std::vector<EventRecord>> events(int64_t run_id) const;
  Result<std::vector<ThresholdRecord>> thresholds(int64_t run_id) const;

 private:
  struct Impl;
  explicit ResultsReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatedrill

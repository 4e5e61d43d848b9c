#pragma once
// Collects every second of a run per gateway node (what the clients saw, plus the node's CPU
// and RSS), writes samples and histograms to the results store, merges the nodes into the "all"
// row, and answers questions about windows of seconds for thresholds and expectations.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/histogram/histogram.hpp"
#include "core/store/results_store.hpp"
#include "scenarios/thresholds.hpp"

namespace gatedrill {

inline constexpr const char* kAllNodes = "all";

// One second of one node, as the load generator reported it.
struct SecondStats {
  int64_t second = 0;  // since the load started
  std::string phase;
  double target_rate = 0;
  int64_t sent = 0, completed = 0, errors = 0, connect_errors = 0, timeouts = 0;
  // Requests lost on an established connection (reset, closed early): e.g. a client certificate
  // refused after a TLS 1.3 handshake, which the client only learns when it reads.
  int64_t io_errors = 0;
  std::map<int, int64_t> status_counts;
  Histogram latency;         // from the planned send time
  Histogram latency_actual;  // from the actual send time
};

class RunRecorder {
 public:
  // store may be null (a dry run); nodes are the gateway names whose seconds merge into "all".
  RunRecorder(ResultsStore* store, int64_t run_id, std::vector<std::string> nodes);

  // Thread-safe; each node's seconds arrive in order from its load generator.
  void record(const std::string& node, const SecondStats& stats);
  // The node process's CPU (% of one core) and RSS for a second, merged into its sample.
  void record_process(const std::string& node, int64_t second, double cpu_pct, int64_t rss_bytes);
  // The supervisor restarted the node during that second (counted by window() as "restarts").
  void record_restart(const std::string& node, int64_t second);
  // Called with every completed "all" second (for the live status line).
  void on_all_second(std::function<void(const SampleRecord&, const Histogram&)> listener);
  // Writes the seconds still waiting for other nodes (end of run).
  void finish();

  // What node ("all" for every node) saw over the seconds for which include(second, phase) holds.
  WindowStats window(const std::string& node,
                     const std::function<bool(int64_t, const std::string&)>& include) const;
  // Per-second error share of a node: second -> (requests, errors).
  std::map<int64_t, std::pair<int64_t, int64_t>> error_series(const std::string& node) const;

 private:
  struct Kept {  // what evaluation needs later: counts and the encoded histogram
    std::string phase;
    int64_t requests = 0, errors = 0;
    std::map<int, int64_t> status_counts;
    std::string latency_hdr;
  };
  struct Pending {
    int reported = 0;
    SecondStats merged;
  };
  void write(const std::string& node, const SecondStats& stats);

  ResultsStore* store_;
  int64_t run_id_;
  std::vector<std::string> nodes_;
  mutable std::mutex mutex_;
  std::map<std::string, std::map<int64_t, Kept>> kept_;  // node -> second -> data
  std::map<int64_t, Pending> pending_all_;
  std::map<std::string, std::map<int64_t, std::pair<double, int64_t>>> process_;  // cpu, rss
  std::map<std::string, std::map<int64_t, int64_t>> restarts_;  // node -> second -> count
  std::function<void(const SampleRecord&, const Histogram&)> listener_;
};

}  // namespace gatedrill

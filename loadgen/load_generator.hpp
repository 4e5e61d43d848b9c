#pragma once
// The open-loop, coordinated-omission-free HTTP/1.1 load generator (after wrk2): every request
// has a planned send time; latency counts from it, so a stalled server shows in the tail even
// while the connections wait. Used in process by the scenario runner and by `gatedrill loadgen`.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/histogram/histogram.hpp"
#include "core/http/http_message.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

// One entry of a weighted path mix: `path` is sent in weight / (sum of weights) of requests.
struct WeightedPath {
  std::string path;  // path and query, starting with '/'
  int weight = 1;
};

// What to send. http:// or https:// (TLS 1.2/1.3, verified against ca_file, the system store
// when ca_file is empty, or not at all with insecure).
struct LoadRequestSpec {
  std::string url;
  std::string method = "GET";
  HeaderList headers;
  std::string body;
  std::vector<std::string> bearer_tokens;  // "Authorization: Bearer T", rotated per request
  // The paths to request instead of the URL's, mixed by weight (empty: the URL's path).
  std::vector<WeightedPath> paths;
  // This share (0..1) of requests carries a token the gateway must refuse: one of
  // bad_bearer_tokens (expired ones minted by the IdP, say) or, when that is empty, one of
  // bearer_tokens with a corrupted signature. Needs bearer_tokens.
  double bad_token_share = 0;
  std::vector<std::string> bad_bearer_tokens;
  std::string ca_file;
  bool insecure = false;
  // mTLS: a PEM certificate (chain) and its private key, presented when the server asks.
  std::string client_cert_file;
  std::string client_key_file;
  // Re-read the two files when they change and present the new pair from the next handshake
  // (an agent rotating the workload's SVID). Off: the pair read at the start, for the whole run.
  bool follow_client_cert = false;
  // The TLS server name (SNI) and the name the certificate is checked against; empty: the URL's
  // host (no SNI when that is an IP address).
  std::string sni;
  // Offer the session of the connection's previous handshake (tickets / session ids), so a
  // reconnect is an abbreviated handshake. Off: every handshake is a full one.
  bool tls_resume = true;
};

struct LoadPhase {
  std::string name;
  double rate = 0;      // requests/s over all connections; 0 = as fast as possible (closed loop)
  double rate_to = -1;  // the rate at the phase end (a linear ramp); -1 = constant
  std::chrono::nanoseconds duration{0};
};

struct LoadOptions {
  int connections = 16;
  int threads = 1;                                  // event loops; connections are spread over them
  std::chrono::milliseconds timeout{2000};          // per request, from its actual send
  std::chrono::milliseconds connect_timeout{1000};  // TCP connect + TLS handshake
  // Close and reopen a connection after this many responses (1: a new connection, and TLS
  // handshake, per request), so the handshake path carries the load. 0: keep-alive for ever.
  int requests_per_connection = 0;
  // When this generator runs a share of a bigger load (one of several processes): its
  // connections are numbers [first_connection, first_connection + connections) of
  // total_connections, so the schedules of all the shares interleave evenly. 0: the whole load.
  int first_connection = 0;
  int total_connections = 0;
  // HTTP/2 instead of HTTP/1.1: ALPN h2 over TLS, prior knowledge (h2c) on http://, with up to
  // `streams` concurrent requests per connection.
  bool h2 = false;
  int streams = 1;
  // Schedule jitter: each planned send moves randomly by up to +-jitter/2 of its connection's
  // gap to the next one (0 = off, at most 1); latency still counts from the moved time. The
  // seed makes runs repeatable; each connection draws from its own stream of it.
  double jitter = 0;
  uint64_t jitter_seed = 1;
  // HTTP/1.1 pipelining: up to this many requests in flight per connection, answered in order.
  int pipeline = 1;
};

// One second of the schedule, merged over threads. Counts are events in that second: `sent` by
// send time, everything else by completion time; responses arriving after the schedule ended
// count in its last second.
struct IntervalStats {
  int64_t second = 0;      // 0-based, since the load started
  std::string phase;       // the phase active at the start of the second
  double target_rate = 0;  // requests planned in this second (= the rate); 0 in a max phase
  int64_t sent = 0;
  int64_t completed = 0;       // responses received, any status
  int64_t errors = 0;          // I/O and protocol errors on established connections
  int64_t connect_errors = 0;  // failed TCP connects or TLS handshakes
  int64_t timeouts = 0;        // no complete response within LoadOptions::timeout
  int64_t tls_handshakes = 0;  // completed TLS handshakes
  int64_t tls_resumed = 0;     // of those, abbreviated ones (a resumed session)
  std::map<int, int64_t> status_counts;
  Histogram latency;         // ns, response complete - planned send (corrected)
  Histogram latency_actual;  // ns, response complete - actual send (uncorrected)
};

struct LoadTotals {
  int64_t sent = 0;
  int64_t completed = 0;
  int64_t errors = 0;
  int64_t connect_errors = 0;
  int64_t timeouts = 0;
  int64_t tls_handshakes = 0;
  int64_t tls_resumed = 0;
  std::map<int, int64_t> status_counts;
  Histogram latency;
  Histogram latency_actual;

  void add(const IntervalStats& s);
};

struct PhaseSummary {
  std::string name;
  double rate = 0;
  double rate_to = -1;
  std::chrono::nanoseconds duration{0};
  LoadTotals totals;  // requests by the phase they were planned in
};

// A phase's summary from its plan and its counts.
PhaseSummary summarize_phase(const LoadPhase& phase, const IntervalStats& counts);

struct LoadSummary {
  std::chrono::nanoseconds elapsed{0};  // from the load start to the last response or timeout
  LoadTotals totals;
  std::vector<PhaseSummary> phases;
  std::vector<IntervalStats> intervals;  // every second, as given to on_interval
  bool stopped = false;                  // ended early by *stop
  std::string first_error;               // the first connect/IO error or timeout, for humans

  double achieved_rps() const;  // completed / elapsed
};

class LoadGenerator {
 public:
  LoadGenerator(TimeSource& time, LoadRequestSpec request, LoadOptions options);

  // Runs the phases back to back and blocks until they are over (plus at most one timeout for
  // the responses still in flight). on_interval is called once per elapsed second, from this
  // thread, with the stats merged over all threads. Connection errors and timeouts are counted,
  // never fatal. Returns early when *stop becomes true.
  // Errors: "bad_url" (unparsable, unsupported scheme, unresolvable host), "bad_options"
  // (connections, threads, timeouts, phases, method, headers or CA file).
  Result<LoadSummary> run(const std::vector<LoadPhase>& phases,
                          std::function<void(const IntervalStats&)> on_interval = {},
                          const std::atomic<bool>* stop = nullptr);

  // Everything run() checks before it starts (URL, host resolution, options, phases, request,
  // CA file), without sending anything. Same errors as run().
  Result<void> check(const std::vector<LoadPhase>& phases) const;

 private:
  struct Prepared;
  Result<std::unique_ptr<Prepared>> prepare(const std::vector<LoadPhase>& phases) const;

  TimeSource& time_;
  LoadRequestSpec request_;
  LoadOptions options_;
};

}  // namespace gatedrill

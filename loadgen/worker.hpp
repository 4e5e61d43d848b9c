#pragma once
// One event loop (epoll, one thread) driving a share of the connections: connect, TLS
// handshake, send on schedule, parse responses, count. Nothing is shared with other loops while
// running except the Collector, which it touches once per second.
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/time/time_source.hpp"
#include "loadgen/schedule.hpp"
#include "loadgen/tally.hpp"

struct ssl_ctx_st;

namespace gatedrill::loadgen {

class H2Requests;

// Per-second tallies from every loop, handed to the coordinating thread.
class Collector {
 public:
  explicit Collector(int workers);

  // Worker side: the tally of `second`; the worker will publish nothing more for seconds <= second.
  void publish(int worker, int64_t second, const Tally& tally);
  // Worker side: done; its per-phase tallies, the last time it looked at (ns since the load
  // start) and its first error message (empty when none).
  void finish(int worker, std::vector<Tally> phases, int64_t end_ns, std::string first_error);

  // Coordinator side: blocks until every worker has published `second` or finished, then the
  // merged tally of that second; nullopt once every worker finished and nothing is left.
  std::optional<Tally> take_second(int64_t second);

  // After take_second returned nullopt.
  std::vector<Tally> phase_totals(size_t phase_count) const;
  int64_t end_ns() const { return end_ns_; }
  const std::string& first_error() const { return first_error_; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<int64_t> published_through_;
  std::vector<bool> finished_;
  std::map<int64_t, Tally> seconds_;
  std::vector<std::vector<Tally>> phases_;
  int64_t end_ns_ = 0;
  std::string first_error_;
};

struct WorkerSetup {
  int index = 0;
  TimeSource* time = nullptr;
  int64_t start_mono_ns = 0;  // the load's time zero on the monotonic clock
  int64_t end_ns = 0;         // the end of the last phase, ns since time zero
  const std::vector<PhasePlan>* plans = nullptr;
  const std::vector<std::string>* requests = nullptr;
  bool head_request = false;
  sockaddr_storage address{};
  socklen_t address_len = 0;
  ssl_ctx_st* ssl_ctx = nullptr;  // null: plain TCP
  std::string tls_host;           // SNI and certificate name check
  bool tls_host_is_ip = false;
  bool verify_peer = true;
  bool tls_resume = true;           // offer the previous handshake's session on a reconnect
  int requests_per_connection = 0;  // reconnect after this many responses; 0: never
  // HTTP/2 (ALPN h2 over TLS, prior knowledge on plain TCP) with up to h2_streams concurrent
  // streams per connection; the requests as header lists.
  const H2Requests* h2_requests = nullptr;  // null: HTTP/1.1
  int h2_streams = 1;
  int pipeline = 1;   // HTTP/1.1 requests in flight per connection
  double jitter = 0;  // schedule jitter (a fraction of the gap), 0 = off
  uint64_t jitter_seed = 0;
  int64_t timeout_ns = 0;
  int64_t connect_timeout_ns = 0;
  int first_connection = 0;  // this loop's connections among all of them (for the stagger)
  int connection_count = 0;
  int total_connections = 0;
  const std::atomic<bool>* stop = nullptr;
  Collector* collector = nullptr;
};

// Sets up ctx for client-side session caching: every connection keeps the latest session the
// server gave it (TLS 1.2 session id or TLS 1.3 ticket) and offers it on its next handshake
// when `resume`; without it, tickets are refused and every handshake is a full one.
void configure_client_sessions(ssl_ctx_st* ctx, bool resume);

// Runs the loop on the calling thread until the schedule ends (and in-flight responses complete
// or time out) or *stop; always ends with Collector::finish.
void run_worker(const WorkerSetup& setup);

}  // namespace gatedrill::loadgen

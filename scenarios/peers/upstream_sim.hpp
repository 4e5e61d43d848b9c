#pragma once
// The simulated upstream service behind the gateway: answers every request with a configurable
// status, body size and latency, and takes faults on its admin port (latency, errors, a stall
// that freezes answers for a while, down). Latency is served by timers, never by a blocked
// thread, so one upstream can hold thousands of slow requests.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/admin/admin_server.hpp"
#include "core/admin/faults.hpp"
#include "core/admin/metrics.hpp"
#include "core/http/http_server.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct UpstreamOptions {
  std::string name = "app";
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  uint16_t admin_port = 0;
  int threads = 1;
  int status = 200;
  int64_t body_bytes = 512;
  std::chrono::microseconds latency{0};
};

class UpstreamSim {
 public:
  UpstreamSim(TimeSource& time, UpstreamOptions options);
  ~UpstreamSim();

  Result<void> start();
  void stop();
  uint16_t port() const;
  uint16_t admin_port() const;
  uint64_t requests_served() const;

  // The answer to one request at the current time, faults included. Public for tests.
  HttpResponse answer(const HttpRequest& request);

 private:
  void register_faults();

  TimeSource& time_;
  UpstreamOptions options_;
  std::string body_;
  MetricsRegistry metrics_;
  FaultRegistry faults_;
  Counter* requests_ = nullptr;
  // Fault state, read on every request (relaxed atomics: a fault taking effect a request late
  // is fine).
  std::atomic<int64_t> extra_latency_us_{0};
  std::atomic<int> error_status_{0};
  std::atomic<double> error_probability_{0};
  std::atomic<int64_t> stall_until_ms_{0};  // monotonic
  std::atomic<bool> down_{false};
  std::atomic<uint64_t> error_draw_{0};
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace gatedrill

#pragma once
// Service discovery for the routes (seed 003): polls the registry's GET /v1/discovery/{service}
// for every service the route table names, off the request path, and answers "is this service
// live" from memory. A service with no live registration makes its routes answer 503
// `service_not_found`; routes of other services are unaffected. When the registry cannot be
// reached, the last known state stays (as Envoy keeps its endpoints when the control plane is
// gone); before the first answer for a service, it counts as not live (fail closed).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gatedrill::gateway {

struct DiscoveryOptions {
  std::string url;  // the registry: http://127.0.0.1:P
  std::chrono::milliseconds interval{1000};
  std::vector<std::string> services;
};

class DiscoveryWatcher {
 public:
  explicit DiscoveryWatcher(DiscoveryOptions options);
  ~DiscoveryWatcher();  // stops
  DiscoveryWatcher(const DiscoveryWatcher&) = delete;
  DiscoveryWatcher& operator=(const DiscoveryWatcher&) = delete;

  // One poll round now (bounded by the registry timeout), then a background thread.
  void start();
  void stop();
  // One round: every service asked once. False when the registry could not be reached.
  bool poll_once();

  bool live(std::string_view service) const;
  int64_t rounds() const;    // completed poll rounds
  int64_t failures() const;  // lookups that could not reach the registry

 private:
  void run();

  const DiscoveryOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, bool, std::less<>> live_;
  int64_t rounds_ = 0, failures_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gatedrill::gateway

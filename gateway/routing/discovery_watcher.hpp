#pragma once
// What the registry says per service (seed 003), polled off the request path for every service
// the route table names: live registrations (GET /v1/discovery/{service}) and rate-limit quotas
// (GET /v1/quotas/{service}), answered from memory. A service with no live registration makes its
// routes answer 503 `service_not_found`; routes of other services are unaffected. When the registry
// cannot be reached, the last known state stays (as Envoy keeps its endpoints when the control
// plane is gone); before the first answer for a service, it counts as not live (fail closed).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gatedrill::gateway {

struct DiscoveryOptions {
  std::string url;  // the registry: http://127.0.0.1:P
  std::chrono::milliseconds interval{1000};
  std::vector<std::string> services;
  bool discovery = true;           // poll /v1/discovery
  bool quotas = false;             // poll /v1/quotas
  std::function<void()> on_round;  // after each poll round (quotas may have changed)
};

struct ServiceQuota {
  double requests_per_second = 0;
  double burst_capacity = 0;
  bool operator==(const ServiceQuota&) const = default;
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
  // The services to poll from the next round on (a new route table names others); what is
  // known of services no longer named is dropped.
  void set_services(std::vector<std::string> services);

  bool live(std::string_view service) const;
  // The live instances' addresses as registered ("host:port" or a URL); empty when none.
  std::vector<std::string> instances(std::string_view service) const;
  // The registry's quota for the service; nullopt when none was published.
  std::optional<ServiceQuota> quota(std::string_view service) const;
  int64_t rounds() const;    // completed poll rounds
  int64_t failures() const;  // lookups that could not reach the registry

 private:
  void run();

  const DiscoveryOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  void poll_discovery(const std::string& service, bool& reached);
  void poll_quota(const std::string& service, bool& reached);

  std::vector<std::string> services_;
  std::map<std::string, bool, std::less<>> live_;
  std::map<std::string, std::vector<std::string>, std::less<>> instances_;
  std::map<std::string, ServiceQuota, std::less<>> quotas_;
  int64_t rounds_ = 0, failures_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gatedrill::gateway

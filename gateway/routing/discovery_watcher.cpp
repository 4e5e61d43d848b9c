#include "gateway/routing/discovery_watcher.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"

namespace gatedrill::gateway {

DiscoveryWatcher::DiscoveryWatcher(DiscoveryOptions options)
    : options_(std::move(options)), services_(options_.services) {}

void DiscoveryWatcher::set_services(std::vector<std::string> services) {
  const std::set<std::string, std::less<>> kept(services.begin(), services.end());
  auto named = [&](const std::string& s) { return kept.count(s) > 0; };
  std::lock_guard lock(mutex_);
  std::erase_if(live_, [&](const auto& kv) { return !named(kv.first); });
  std::erase_if(instances_, [&](const auto& kv) { return !named(kv.first); });
  std::erase_if(quotas_, [&](const auto& kv) { return !named(kv.first); });
  services_ = std::move(services);
}

DiscoveryWatcher::~DiscoveryWatcher() {
  stop();
}

void DiscoveryWatcher::start() {
  poll_once();
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void DiscoveryWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

namespace {
HttpClientOptions client_options(std::chrono::milliseconds interval) {
  HttpClientOptions http;
  http.timeout =
      std::clamp(interval, std::chrono::milliseconds(200), std::chrono::milliseconds(2000));
  return http;
}
}  // namespace

void DiscoveryWatcher::poll_discovery(const std::string& service, bool& reached) {
  auto r = http_get(options_.url + "/v1/discovery/" + service, client_options(options_.interval));
  std::optional<bool> live;
  std::vector<std::string> addresses;
  if (r && r->status == 200) {
    auto doc = parse_json(r->body);
    const boost::json::value* instances =
        doc && doc->is_object() ? doc->as_object().if_contains("instances") : nullptr;
    live = instances && instances->is_array() && !instances->as_array().empty();
    if (*live)
      for (const auto& instance : instances->as_array())
        if (instance.is_string()) addresses.emplace_back(instance.as_string());
  } else if (r && r->status == 404) {
    live = false;  // service_not_found: no live registration
  }
  std::lock_guard lock(mutex_);
  if (live) {
    live_[service] = *live;
    instances_[service] = std::move(addresses);
  } else {
    ++failures_;  // unreachable or a 5xx: keep what we knew
    reached = false;
  }
}

void DiscoveryWatcher::poll_quota(const std::string& service, bool& reached) {
  auto r = http_get(options_.url + "/v1/quotas/" + service, client_options(options_.interval));
  std::lock_guard lock(mutex_);
  if (r && r->status == 404) {
    quotas_.erase(service);  // no quota configuration published
    return;
  }
  std::optional<boost::json::value> doc;
  if (r && r->status == 200)
    if (auto parsed = parse_json(r->body); parsed && parsed->is_object()) doc = std::move(*parsed);
  auto number = [&](const char* name) {
    const boost::json::value* v = doc ? doc->as_object().if_contains(name) : nullptr;
    return v && v->is_number() ? v->to_number<double>() : -1.0;
  };
  const double rps = number("requests_per_second"), burst = number("burst_capacity");
  if (rps <= 0) {
    ++failures_;  // unreachable, a 5xx or a malformed answer: keep what we knew
    reached = false;
    return;
  }
  quotas_[service] = ServiceQuota{rps, burst > 0 ? burst : rps};
}

bool DiscoveryWatcher::poll_once() {
  bool reached = true;
  std::vector<std::string> services;
  {
    std::lock_guard lock(mutex_);
    services = services_;
  }
  for (const auto& service : services) {
    if (options_.discovery) poll_discovery(service, reached);
    if (options_.quotas) poll_quota(service, reached);
  }
  {
    std::lock_guard lock(mutex_);
    ++rounds_;
  }
  wake_.notify_all();
  if (options_.on_round) options_.on_round();
  return reached;
}

void DiscoveryWatcher::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
    }
    poll_once();
  }
}

bool DiscoveryWatcher::live(std::string_view service) const {
  std::lock_guard lock(mutex_);
  auto it = live_.find(service);
  return it != live_.end() && it->second;
}

std::vector<std::string> DiscoveryWatcher::instances(std::string_view service) const {
  std::lock_guard lock(mutex_);
  auto it = instances_.find(service);
  return it == instances_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<ServiceQuota> DiscoveryWatcher::quota(std::string_view service) const {
  std::lock_guard lock(mutex_);
  auto it = quotas_.find(service);
  if (it == quotas_.end()) return std::nullopt;
  return it->second;
}

int64_t DiscoveryWatcher::rounds() const {
  std::lock_guard lock(mutex_);
  return rounds_;
}

int64_t DiscoveryWatcher::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

}  // namespace gatedrill::gateway

#include "gateway/routing/discovery_watcher.hpp"

#include <algorithm>
#include <utility>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"

namespace gatedrill::gateway {

DiscoveryWatcher::DiscoveryWatcher(DiscoveryOptions options) : options_(std::move(options)) {}

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

bool DiscoveryWatcher::poll_once() {
  HttpClientOptions http;
  http.timeout = std::clamp(options_.interval, std::chrono::milliseconds(200),
                            std::chrono::milliseconds(2000));
  bool reached = true;
  for (const auto& service : options_.services) {
    auto r = http_get(options_.url + "/v1/discovery/" + service, http);
    std::optional<bool> live;
    if (r && r->status == 200) {
      auto doc = parse_json(r->body);
      const boost::json::value* instances =
          doc && doc->is_object() ? doc->as_object().if_contains("instances") : nullptr;
      live = instances && instances->is_array() && !instances->as_array().empty();
    } else if (r && r->status == 404) {
      live = false;  // service_not_found: no live registration
    }
    std::lock_guard lock(mutex_);
    if (live) {
      live_[service] = *live;
    } else {
      ++failures_;  // unreachable or a 5xx: keep what we knew
      reached = false;
    }
  }
  {
    std::lock_guard lock(mutex_);
    ++rounds_;
  }
  wake_.notify_all();
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

int64_t DiscoveryWatcher::rounds() const {
  std::lock_guard lock(mutex_);
  return rounds_;
}

int64_t DiscoveryWatcher::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

}  // namespace gatedrill::gateway

#include "gateway/ratelimit/local_rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

namespace gatedrill::gateway {

LocalRateLimiter::LocalRateLimiter(const TimeSource& time, RateLimitConfig config)
    : time_(time), config_(std::move(config)) {}

bool LocalRateLimiter::enabled() const {
  if (config_.defaults.requests_per_second > 0) return true;
  for (const auto& [identity, limit] : config_.overrides)
    if (limit.requests_per_second > 0) return true;
  if (auto routes = route_limits())
    for (const auto& [route, limit] : *routes)
      if (limit.requests_per_second > 0) return true;
  return false;
}

void LocalRateLimiter::set_route_limits(RouteLimits limits) {
  auto fresh = std::make_shared<const RouteLimits>(std::move(limits));
  std::lock_guard lock(routes_mutex_);
  routes_ = std::move(fresh);
}

std::shared_ptr<const RouteLimits> LocalRateLimiter::route_limits() const {
  std::lock_guard lock(routes_mutex_);
  return routes_;
}

RateLimit LocalRateLimiter::limit_for(std::string_view identity, std::string_view route) const {
  if (auto it = config_.overrides.find(identity); it != config_.overrides.end()) return it->second;
  if (auto routes = route_limits())
    if (auto it = routes->find(route); it != routes->end()) return it->second;
  return config_.defaults;
}

RateDecision LocalRateLimiter::check(std::string_view identity, std::string_view route) {
  const RateLimit limit = limit_for(identity, route);
  if (limit.requests_per_second <= 0) return {};
  const double capacity = std::max(1.0, limit.burst_capacity);
  std::string key;
  key.reserve(identity.size() + route.size() + 1);
  key.append(identity).push_back('\n');
  key.append(route);
  Shard& shard = shards_[std::hash<std::string>{}(key) % shards_.size()];
  const int64_t now = time_.monotonic_ns();

  std::lock_guard lock(shard.mutex);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= config_.max_buckets / shards_.size() + 1) trim(shard, now);
    it = shard.buckets.emplace(std::move(key), Bucket{capacity, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed_s = static_cast<double>(now - b.updated_ns) / 1e9;
  b.tokens = std::min(capacity, b.tokens + elapsed_s * limit.requests_per_second);
  b.updated_ns = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {};
  }
  RateDecision refused;
  refused.allowed = false;
  const double wait_s = (1.0 - b.tokens) / limit.requests_per_second;
  refused.retry_after =
      std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s))));
  return refused;
}

void LocalRateLimiter::trim(Shard& shard, int64_t now_ns) {
  // Buckets that would be full by now carry no state worth keeping: an identity seen again
  // starts with a full bucket either way.
  for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
    const std::string_view key = it->first;
    const auto newline = key.find('\n');
    const RateLimit limit = limit_for(key.substr(0, newline), key.substr(newline + 1));
    const double capacity = std::max(1.0, limit.burst_capacity);
    const double tokens = it->second.tokens + static_cast<double>(now_ns - it->second.updated_ns) /
                                                  1e9 * limit.requests_per_second;
    it = tokens >= capacity ? shard.buckets.erase(it) : std::next(it);
  }
  if (shard.buckets.size() >= config_.max_buckets / shards_.size() + 1) shard.buckets.clear();
}

size_t LocalRateLimiter::bucket_count() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.buckets.size();
  }
  return n;
}

}  // namespace gatedrill::gateway

#pragma once
// Local rate limiting (Envoy local_ratelimit in spirit): a token bucket per identity and route,
// refilled at requests_per_second up to burst_capacity (seed 003), with per-identity overrides.
// Thread-safe; buckets are sharded to keep lock contention low, and bounded in number.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time/time_source.hpp"

namespace gatedrill::gateway {

struct RateLimit {
  double requests_per_second = 0;  // 0: unlimited
  double burst_capacity = 0;       // bucket size; < 1 is treated as 1
  bool operator==(const RateLimit&) const = default;
};

struct RateLimitConfig {
  RateLimit defaults;
  std::map<std::string, RateLimit, std::less<>> overrides;  // by identity (sub or SPIFFE ID)
  size_t max_buckets = 100000;                              // idle buckets are dropped beyond this
};

struct RateDecision {
  bool allowed = true;
  std::chrono::seconds retry_after{0};  // when refused: whole seconds until a token is back (>= 1)
};

// Per-route limits set at runtime (quotas from the registry, by the route's service).
using RouteLimits = std::map<std::string, RateLimit, std::less<>>;

class LocalRateLimiter {
 public:
  LocalRateLimiter(const TimeSource& time, RateLimitConfig config);

  bool enabled() const;
  RateDecision check(std::string_view identity, std::string_view route);
  size_t bucket_count() const;
  // Replaces the per-route limits. Precedence: identity override, then the route's limit, then
  // the defaults. Buckets keep their tokens; the new rate applies from the next request.
  void set_route_limits(RouteLimits limits);
  std::shared_ptr<const RouteLimits> route_limits() const;

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ns = 0;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };
  RateLimit limit_for(std::string_view identity, std::string_view route) const;
  void trim(Shard& shard, int64_t now_ns);

  const TimeSource& time_;
  const RateLimitConfig config_;
  mutable std::mutex routes_mutex_;
  std::shared_ptr<const RouteLimits> routes_;  // null: none
  std::array<Shard, 16> shards_;
};

}  // namespace gatedrill::gateway

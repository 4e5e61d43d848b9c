#pragma once
// Local rate limiting (Envoy local_ratelimit in spirit): a token bucket per identity and route,
// refilled at requests_per_second up to burst_capacity (seed 003), with per-identity overrides.
// Thread-safe; buckets are sharded to keep lock contention low, and bounded in number.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time/time_source.hpp"

namespace gatedrill::gateway {

struct RateLimit {
  double requests_per_second = 0;  // 0: unlimited
  double burst_capacity = 0;       // bucket size; < 1 is treated as 1
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

class LocalRateLimiter {
 public:
  LocalRateLimiter(const TimeSource& time, RateLimitConfig config);

  bool enabled() const;
  RateDecision check(std::string_view identity, std::string_view route);
  size_t bucket_count() const;

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ns = 0;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };
  const RateLimit& limit_for(std::string_view identity) const;
  void trim(Shard& shard, int64_t now_ns);

  const TimeSource& time_;
  const RateLimitConfig config_;
  std::array<Shard, 16> shards_;
};

}  // namespace gatedrill::gateway

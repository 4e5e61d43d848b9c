#pragma once
// The global rate limit (Envoy's global ratelimit in spirit, seed 003's Redis backend): a fixed
// window per identity and route counted in Redis (INCR + PEXPIRE in one pipelined batch), shared
// by every node. Windows are aligned to the node's wall clock. Once a window is known to be over
// the limit, this node answers 429 for it without asking Redis again. When Redis cannot answer,
// the caller falls back to the local token bucket (seed 003) and counts it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time/time_source.hpp"
#include "core/util/result.hpp"
#include "gateway/ratelimit/local_rate_limiter.hpp"

namespace gatedrill::gateway {

class RedisLink;

struct GlobalRateLimitOptions {
  int64_t requests_per_window = 0;  // 0: off
  std::chrono::milliseconds window{1000};
  size_t max_remembered = 10000;  // windows known to be over the limit
};

class GlobalRateLimiter {
 public:
  GlobalRateLimiter(const TimeSource& time, GlobalRateLimitOptions options);

  bool enabled() const { return options_.requests_per_window > 0; }
  // A refusal known without Redis (this window is already over the limit), else nullopt.
  std::optional<RateDecision> known_over(std::string_view identity, std::string_view route);
  // Counts the request in Redis. `done` runs once (the link's thread or inline) with the
  // decision, or the link's error (the caller then relies on local limits).
  void check(RedisLink& link, std::string_view identity, std::string_view route,
             std::function<void(Result<RateDecision>)> done);

 private:
  int64_t window_start_ms() const;
  RateDecision refusal(int64_t window_end_ms) const;

  const TimeSource& time_;
  const GlobalRateLimitOptions options_;
  std::mutex mutex_;
  std::unordered_map<std::string, int64_t> over_;  // key -> window end (wall ms)
};

}  // namespace gatedrill::gateway

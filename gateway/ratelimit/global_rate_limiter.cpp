#include "gateway/ratelimit/global_rate_limiter.hpp"

#include <utility>
#include <vector>

#include "gateway/redis/redis_keys.hpp"
#include "gateway/redis/redis_link.hpp"

namespace gatedrill::gateway {

GlobalRateLimiter::GlobalRateLimiter(const TimeSource& time, GlobalRateLimitOptions options)
    : time_(time), options_(std::move(options)) {}

int64_t GlobalRateLimiter::window_start_ms() const {
  const int64_t now = time_.wall_ms();
  const int64_t w = std::max<int64_t>(1, options_.window.count());
  return now - ((now % w) + w) % w;
}

RateDecision GlobalRateLimiter::refusal(int64_t window_end_ms) const {
  RateDecision d;
  d.allowed = false;
  const int64_t left_ms = window_end_ms - time_.wall_ms();
  d.retry_after = std::chrono::seconds(std::max<int64_t>(1, (left_ms + 999) / 1000));
  return d;
}

std::optional<RateDecision> GlobalRateLimiter::known_over(std::string_view identity,
                                                          std::string_view route) {
  const std::string key = rate_limit_key(identity, route, window_start_ms());
  std::lock_guard lock(mutex_);
  auto it = over_.find(key);
  if (it == over_.end()) return std::nullopt;
  if (time_.wall_ms() >= it->second) {
    over_.erase(it);
    return std::nullopt;
  }
  return refusal(it->second);
}

void GlobalRateLimiter::check(RedisLink& link, std::string_view identity, std::string_view route,
                              std::function<void(Result<RateDecision>)> done) {
  const int64_t start = window_start_ms();
  const int64_t end = start + options_.window.count();
  std::string key = rate_limit_key(identity, route, start);
  // The key outlives its window a little, so late INCRs from a skewed node still expire.
  std::vector<std::vector<std::string>> commands{
      {"INCR", key}, {"PEXPIRE", key, std::to_string(options_.window.count() * 2)}};
  link.submit(std::move(commands), [this, key = std::move(key), end,
                                    done = std::move(done)](RedisLink::Replies replies) {
    if (!replies) {
      done(replies.error());
      return;
    }
    const resp::Value& count = replies->front();
    if (count.type != resp::Value::Type::kInteger) {
      done(make_error("redis_reply", "INCR answered " + std::string(resp::type_name(count.type)) +
                                         (count.is_error() ? ": " + count.str : "")));
      return;
    }
    if (count.integer <= options_.requests_per_window) {
      done(RateDecision{});
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (over_.size() >= options_.max_remembered) over_.clear();
      over_[key] = end;
    }
    done(refusal(end));
  });
}

}  // namespace gatedrill::gateway

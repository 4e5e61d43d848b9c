#include "gateway/ratelimit/local_rate_limiter.hpp"

#include <string>

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

RateLimitConfig config(double rps, double burst) {
  RateLimitConfig c;
  c.defaults = RateLimit{rps, burst};
  return c;
}

int allowed_of(LocalRateLimiter& limiter, int attempts, std::string_view id = "alice",
               std::string_view route = "r") {
  int allowed = 0;
  for (int i = 0; i < attempts; ++i) allowed += limiter.check(id, route).allowed ? 1 : 0;
  return allowed;
}

TEST(LocalRateLimiter, OffByDefault) {
  ManualTimeSource time;
  LocalRateLimiter limiter(time, RateLimitConfig{});
  EXPECT_FALSE(limiter.enabled());
  EXPECT_EQ(allowed_of(limiter, 1000), 1000);
}

TEST(LocalRateLimiter, RouteLimitsFromTheRegistrySitBetweenOverridesAndDefaults) {
  ManualTimeSource time;
  RateLimitConfig c = config(0, 0);  // no default limit
  c.overrides["vip"] = RateLimit{100, 50};
  LocalRateLimiter limiter(time, c);
  EXPECT_TRUE(limiter.enabled());
  EXPECT_EQ(allowed_of(limiter, 20, "alice", "orders"), 20);
  limiter.set_route_limits({{"orders", RateLimit{1, 3}}});
  EXPECT_EQ(allowed_of(limiter, 20, "bob", "orders"), 3);   // the route's quota
  EXPECT_EQ(allowed_of(limiter, 20, "bob", "users"), 20);   // other routes: the defaults
  EXPECT_EQ(allowed_of(limiter, 80, "vip", "orders"), 50);  // an identity override wins
  limiter.set_route_limits({});
  EXPECT_EQ(allowed_of(limiter, 20, "carol", "orders"), 20);  // quota withdrawn
}

TEST(LocalRateLimiter, BurstThenRefillAtTheRate) {
  ManualTimeSource time;
  LocalRateLimiter limiter(time, config(10, 5));
  EXPECT_EQ(allowed_of(limiter, 20), 5);  // the burst
  auto refused = limiter.check("alice", "r");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, std::chrono::seconds(1));
  time.advance(std::chrono::milliseconds(300));  // 3 tokens back
  EXPECT_EQ(allowed_of(limiter, 10), 3);
  time.advance(std::chrono::seconds(60));  // never more than the burst
  EXPECT_EQ(allowed_of(limiter, 100), 5);
}

TEST(LocalRateLimiter, BucketsArePerIdentityAndRoute) {
  ManualTimeSource time;
  LocalRateLimiter limiter(time, config(1, 2));
  EXPECT_EQ(allowed_of(limiter, 5, "alice", "a"), 2);
  EXPECT_EQ(allowed_of(limiter, 5, "alice", "b"), 2);
  EXPECT_EQ(allowed_of(limiter, 5, "bob", "a"), 2);
  EXPECT_EQ(limiter.bucket_count(), 3u);
}

TEST(LocalRateLimiter, OverridesPerIdentity) {
  ManualTimeSource time;
  auto c = config(1, 1);
  c.overrides["payment-gateway"] = RateLimit{100, 50};
  c.overrides["unlimited"] = RateLimit{0, 0};
  LocalRateLimiter limiter(time, c);
  EXPECT_EQ(allowed_of(limiter, 100, "payment-gateway"), 50);
  EXPECT_EQ(allowed_of(limiter, 100, "someone"), 1);
  EXPECT_EQ(allowed_of(limiter, 100, "unlimited"), 100);
}

TEST(LocalRateLimiter, RetryAfterGrowsWithSlowRates) {
  ManualTimeSource time;
  LocalRateLimiter limiter(time, config(0.1, 1));  // one request per 10 s
  EXPECT_TRUE(limiter.check("a", "r").allowed);
  auto refused = limiter.check("a", "r");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, std::chrono::seconds(10));
}

TEST(LocalRateLimiter, BucketCountStaysBounded) {
  ManualTimeSource time;
  auto c = config(1, 1);
  c.max_buckets = 160;
  LocalRateLimiter limiter(time, c);
  for (int i = 0; i < 10000; ++i) (void)limiter.check("id-" + std::to_string(i), "r");
  EXPECT_LE(limiter.bucket_count(), 160u + 16u);
}

}  // namespace
}  // namespace gatedrill::gateway

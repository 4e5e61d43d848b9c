#include "gateway/proxy/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

using State = CircuitBreaker::State;

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  ManualTimeSource time;
  CircuitBreaker b(time, {3, std::chrono::seconds(5)});
  b.record_failure();
  b.record_failure();
  b.record_success();  // resets the streak
  b.record_failure();
  b.record_failure();
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_TRUE(b.allow());
  b.record_failure();
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_FALSE(b.allow());
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThrough) {
  ManualTimeSource time;
  CircuitBreaker b(time, {1, std::chrono::seconds(5)});
  b.record_failure();
  time.advance(std::chrono::milliseconds(4999));
  EXPECT_FALSE(b.allow());
  time.advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(b.allow());  // the probe
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_FALSE(b.allow());  // everyone else waits for it
  b.record_failure();       // probe failed: open again for a full cool-down
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_FALSE(b.allow());
  time.advance(std::chrono::seconds(5));
  EXPECT_TRUE(b.allow());
  b.record_success();
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_TRUE(b.allow());
  EXPECT_TRUE(b.allow());
}

TEST(CircuitBreaker, AReleasedProbeLetsTheNextCallerProbe) {
  ManualTimeSource time;
  CircuitBreaker b(time, {1, std::chrono::seconds(1)});
  b.record_failure();
  time.advance(std::chrono::seconds(1));
  ASSERT_TRUE(b.allow());
  EXPECT_FALSE(b.allow());
  b.release();  // the probe never reached the upstream (pool full)
  EXPECT_TRUE(b.allow());
  EXPECT_EQ(b.state(), State::kHalfOpen);
}

TEST(CircuitBreaker, ZeroThresholdNeverOpens) {
  ManualTimeSource time;
  CircuitBreaker b(time, {0, std::chrono::seconds(5)});
  for (int i = 0; i < 100; ++i) b.record_failure();
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_STREQ(circuit_state_name(b.state()), "closed");
}

}  // namespace
}  // namespace gatedrill::gateway

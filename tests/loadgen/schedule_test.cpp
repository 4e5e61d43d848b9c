#include "loadgen/schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/time/time_source.hpp"

namespace gatedrill::loadgen {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;

std::vector<Slot> drain(ConnectionSchedule& s, int64_t now = 0) {
  std::vector<Slot> out;
  while (auto slot = s.next(now)) out.push_back(*slot);
  return out;
}

TEST(Schedule, ConstantRatePlansEvenlySpacedRequestsFromTheOffset) {
  // 400 req/s over 4 connections = 100 req/s each: one every 10 ms, this one 2.5 ms late.
  auto plans = plan_phases({{400, -1, 1 * kS}}, 4);
  ConnectionSchedule s(&plans, 0.25);
  auto slots = drain(s);
  ASSERT_EQ(slots.size(), 100u);
  for (size_t k = 0; k < slots.size(); ++k) {
    EXPECT_NEAR(static_cast<double>(slots[k].planned_ns),
                (static_cast<double>(k) + 0.25) * 10 * kMs, 1000)
        << k;
    EXPECT_EQ(slots[k].phase, 0);
  }
}

TEST(Schedule, ConnectionsWithEvenOffsetsInterleaveIntoOneEvenStream) {
  constexpr int kConnections = 8;
  auto plans = plan_phases({{800, -1, kS / 2}}, kConnections);
  std::vector<int64_t> all;
  for (int c = 0; c < kConnections; ++c) {
    ConnectionSchedule s(&plans, (c + 0.5) / kConnections);
    for (auto& slot : drain(s)) all.push_back(slot.planned_ns);
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 400u);
  for (size_t i = 1; i < all.size(); ++i)
    EXPECT_NEAR(static_cast<double>(all[i] - all[i - 1]), 1.25 * kMs, 1000) << i;
}

TEST(Schedule, RampPlansTheIntegralOfTheRateAndSpeedsUp) {
  // 0 -> 200 req/s over 2 s on one connection: 200 requests, n(t) = 50 t^2.
  auto plans = plan_phases({{0, 200, 2 * kS}}, 1);
  ConnectionSchedule s(&plans, 0.5);
  auto slots = drain(s);
  ASSERT_EQ(slots.size(), 200u);
  for (size_t k = 0; k < slots.size(); k += 37) {
    double expected_s = std::sqrt((static_cast<double>(k) + 0.5) / 50.0);
    EXPECT_NEAR(static_cast<double>(slots[k].planned_ns) / kS, expected_s, 1e-6) << k;
  }
  EXPECT_GT(slots[1].planned_ns - slots[0].planned_ns,
            slots[199].planned_ns - slots[198].planned_ns);
  // Half the time holds a quarter of the requests.
  auto first_second =
      std::count_if(slots.begin(), slots.end(), [](const Slot& x) { return x.planned_ns < kS; });
  EXPECT_EQ(first_second, 50);
}

TEST(Schedule, RampDownPlansTheSameCountAsTheRampUp) {
  auto plans = plan_phases({{300, 100, kS}}, 1);
  ConnectionSchedule s(&plans, 0.5);
  auto slots = drain(s);
  EXPECT_EQ(slots.size(), 200u);
  EXPECT_LT(slots.back().planned_ns, kS);
  EXPECT_LT(slots[1].planned_ns - slots[0].planned_ns,
            slots[199].planned_ns - slots[198].planned_ns);
}

TEST(Schedule, PhasesFollowEachOtherAndCarryTheirIndex) {
  auto plans = plan_phases({{100, -1, kS}, {300, -1, kS}}, 1);
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[1].start_ns, kS);
  ConnectionSchedule s(&plans, 0.5);
  auto slots = drain(s);
  ASSERT_EQ(slots.size(), 400u);
  EXPECT_EQ(slots[99].phase, 0);
  EXPECT_EQ(slots[100].phase, 1);
  EXPECT_NEAR(static_cast<double>(slots[100].planned_ns), kS + 0.5 / 300 * kS, 1000);
}

TEST(Schedule, ABusyConnectionGetsPastSlotsInOrderSoLatencyCountsFromThePlan) {
  auto plans = plan_phases({{100, -1, kS}}, 1);
  ConnectionSchedule s(&plans, 0);
  // The connection was stuck until 305 ms: the slots it missed come back, oldest first.
  auto a = s.next(305 * kMs);
  auto b = s.next(305 * kMs);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->planned_ns, 0);
  EXPECT_EQ(b->planned_ns, 10 * kMs);
}

TEST(Schedule, ClosedLoopPhaseSendsWhenFreeUntilItsEnd) {
  ManualTimeSource time;
  auto plans = plan_phases({{0, -1, kS}, {100, -1, kS}}, 1);
  ASSERT_TRUE(plans[0].closed_loop());
  ConnectionSchedule s(&plans, 0.5);
  auto first = s.next(time.monotonic_ns());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->planned_ns, 0);
  time.advance(std::chrono::milliseconds(250));
  auto second = s.next(time.monotonic_ns());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->planned_ns, 250 * kMs);
  EXPECT_EQ(second->phase, 0);
  time.advance(std::chrono::milliseconds(800));  // 1.05 s: in the open-loop phase now
  auto third = s.next(time.monotonic_ns());
  ASSERT_TRUE(third);
  EXPECT_EQ(third->phase, 1);
  EXPECT_EQ(third->planned_ns, kS + 5 * kMs);
  time.advance(std::chrono::seconds(2));
  auto rest = drain(s, time.monotonic_ns());
  EXPECT_EQ(rest.size(), 99u);  // the open-loop phase still plans all of its requests
  EXPECT_FALSE(s.next(time.monotonic_ns()));
}

TEST(Schedule, RateAtInterpolatesOverThePhase) {
  auto plans = plan_phases({{100, 300, 2 * kS}}, 2);
  EXPECT_DOUBLE_EQ(plans[0].rate_at(0), 50);
  EXPECT_DOUBLE_EQ(plans[0].rate_at(kS), 100);
  EXPECT_DOUBLE_EQ(plans[0].rate_at(2 * kS), 150);
  EXPECT_DOUBLE_EQ(plans[0].planned_count(), 200);
}

}  // namespace
}  // namespace gatedrill::loadgen

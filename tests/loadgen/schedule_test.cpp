#include "loadgen/schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <vector>

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

TEST(Schedule, StepsParseIntoConstantPhasesBackToBack) {
  auto steps = parse_steps("100:1s, 200:500ms,max:2s,400:1.5s");
  ASSERT_TRUE(steps.ok()) << steps.error().message;
  ASSERT_EQ(steps->size(), 4u);
  EXPECT_EQ((*steps)[0].rate, 100);
  EXPECT_EQ((*steps)[0].rate_to, -1);
  EXPECT_EQ((*steps)[1].duration_ns, kS / 2);
  EXPECT_EQ((*steps)[2].rate, 0);  // max: a closed-loop step
  EXPECT_EQ((*steps)[3].duration_ns, 3 * kS / 2);
  auto plans = plan_phases(*steps, 2);
  ASSERT_EQ(plans.size(), 4u);
  EXPECT_EQ(plans[1].start_ns, kS);
  EXPECT_EQ(plans[2].start_ns, 3 * kS / 2);
  EXPECT_TRUE(plans[2].closed_loop());
  EXPECT_EQ(plans[3].start_ns, 7 * kS / 2);
  EXPECT_DOUBLE_EQ(plans[3].rate, 200);
}

TEST(Schedule, BadStepsNameTheStepThatDoesNotParse) {
  for (const char* bad : {"", "100", "100:", ":5s", "abc:5s", "-5:5s", "0:5s", "100:0s",
                          "100:5s,,200:5s", "100:5s,200:soon", "nan:1s", "inf:1s"}) {
    auto steps = parse_steps(bad);
    ASSERT_FALSE(steps.ok()) << bad;
    EXPECT_EQ(steps.error().code, "bad_options") << bad;
  }
  auto steps = parse_steps("100:1s,200:xs");
  ASSERT_FALSE(steps.ok());
  EXPECT_NE(steps.error().message.find("step 2 '200:xs'"), std::string::npos)
      << steps.error().message;
}

TEST(Schedule, StepsSendEachStepsRateOnTheManualClock) {
  // 100, 200 then 400 req/s for half a second each over 4 connections: each connection sends
  // on its own schedule, read through a manual clock as a loop would.
  constexpr int kConnections = 4;
  auto steps = parse_steps("100:500ms,200:500ms,400:500ms");
  ASSERT_TRUE(steps.ok());
  auto plans = plan_phases(*steps, kConnections);
  ManualTimeSource time;
  std::vector<ConnectionSchedule> schedules;
  std::vector<std::optional<Slot>> pending(kConnections);
  for (int c = 0; c < kConnections; ++c) schedules.emplace_back(&plans, (c + 0.5) / kConnections);
  std::vector<int64_t> sent_at;
  int per_phase[3] = {0, 0, 0};
  for (int64_t now = 0; now < 2 * kS; now += kMs / 10) {
    time.advance(std::chrono::microseconds(100));
    for (int c = 0; c < kConnections; ++c) {
      if (!pending[c]) pending[c] = schedules[c].next(now);
      while (pending[c] && pending[c]->planned_ns <= now) {
        sent_at.push_back(pending[c]->planned_ns);
        ++per_phase[pending[c]->phase];
        pending[c] = schedules[c].next(now);
      }
    }
  }
  EXPECT_EQ(per_phase[0], 50);
  EXPECT_EQ(per_phase[1], 100);
  EXPECT_EQ(per_phase[2], 200);
  std::sort(sent_at.begin(), sent_at.end());
  // Within each step the stream is even at that step's rate: 10, 5, then 2.5 ms apart.
  const double gaps[] = {10 * kMs, 5 * kMs, 2.5 * kMs};
  for (size_t i = 1; i < sent_at.size(); ++i) {
    size_t step = static_cast<size_t>(sent_at[i - 1] / (kS / 2));
    if (sent_at[i] / (kS / 2) != static_cast<int64_t>(step)) continue;  // across a boundary
    EXPECT_NEAR(static_cast<double>(sent_at[i] - sent_at[i - 1]), gaps[step], 1000) << i;
  }
}

// Planned times of one connection's whole schedule.
std::vector<int64_t> planned_times(const std::vector<PhasePlan>& plans, double offset,
                                   Jitter jitter) {
  ConnectionSchedule s(&plans, offset, jitter);
  std::vector<int64_t> out;
  for (auto& slot : drain(s)) out.push_back(slot.planned_ns);
  return out;
}

TEST(Schedule, JitterMovesSlotsByAtMostItsShareOfTheGapAndKeepsTheCount) {
  auto plans = plan_phases({{1000, -1, kS}}, 10);  // 100 req/s per connection: 10 ms apart
  auto exact = planned_times(plans, 0.5, {});
  auto jittered = planned_times(plans, 0.5, {0.2, 42});
  ASSERT_EQ(exact.size(), 100u);
  ASSERT_EQ(jittered.size(), exact.size());  // the mean rate is unchanged
  double sum_shift = 0;
  int moved = 0;
  for (size_t k = 0; k < exact.size(); ++k) {
    int64_t shift = jittered[k] - exact[k];
    EXPECT_LE(std::abs(shift), kMs) << k;  // 0.2 x 10 ms / 2
    sum_shift += static_cast<double>(shift);
    if (std::abs(shift) > 10'000) ++moved;
    if (k > 0) {
      EXPECT_GT(jittered[k], jittered[k - 1]) << k;
    }
  }
  EXPECT_GT(moved, 80);                            // no longer on the exact grid
  EXPECT_LT(std::fabs(sum_shift / 100), 200'000);  // shifts average out (mean |shift| ~ 0.5 ms)
  // Deterministic per seed, different across seeds.
  EXPECT_EQ(planned_times(plans, 0.5, {0.2, 42}), jittered);
  EXPECT_NE(planned_times(plans, 0.5, {0.2, 43}), jittered);
}

TEST(Schedule, JitteredConnectionsNoLongerSendInLockstep) {
  // Without jitter, connections with the same offset (two processes' shares sharing a rate,
  // say) send at the same instants; with it their sends drift apart, at the same mean rate.
  auto plans = plan_phases({{400, -1, kS}}, 4);
  auto a0 = planned_times(plans, 0.125, {});
  auto b0 = planned_times(plans, 0.125, {});
  EXPECT_EQ(a0, b0);
  auto a = planned_times(plans, 0.125, {0.5, 1});
  auto b = planned_times(plans, 0.125, {0.5, 2});
  ASSERT_EQ(a.size(), 100u);
  ASSERT_EQ(b.size(), 100u);
  int together = 0;
  for (size_t k = 0; k < a.size(); ++k)
    if (std::abs(a[k] - b[k]) < 100'000) ++together;  // within 0.1 ms
  EXPECT_LT(together, 20);
  // Over the run the rate holds: a quarter of the requests in each quarter second (+-1).
  for (int q = 0; q < 4; ++q) {
    auto in_quarter = std::count_if(
        a.begin(), a.end(), [q](int64_t t) { return t >= q * kS / 4 && t < (q + 1) * kS / 4; });
    EXPECT_NEAR(static_cast<double>(in_quarter), 25, 1) << q;
  }
}

TEST(Schedule, JitterStaysInsideThePhaseAndKeepsEachPhasesCount) {
  auto plans = plan_phases({{0, 200, kS}, {20, -1, kS / 2}, {50, -1, kS}}, 1);
  ConnectionSchedule s(&plans, 0.0, {1.0, 7});
  auto slots = drain(s);
  int64_t previous = 0;
  for (const auto& slot : slots) {
    const auto& p = plans[static_cast<size_t>(slot.phase)];
    EXPECT_GE(slot.planned_ns, p.start_ns);
    EXPECT_LT(slot.planned_ns, p.end_ns());
    EXPECT_GE(slot.planned_ns, previous);
    previous = slot.planned_ns;
  }
  EXPECT_EQ(std::count_if(slots.begin(), slots.end(), [](const Slot& x) { return x.phase == 0; }),
            100);
  EXPECT_EQ(std::count_if(slots.begin(), slots.end(), [](const Slot& x) { return x.phase == 1; }),
            10);
  EXPECT_EQ(std::count_if(slots.begin(), slots.end(), [](const Slot& x) { return x.phase == 2; }),
            50);
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

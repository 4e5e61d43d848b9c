// after("registry_offline", { refetch_burst = "> 2" }): the registry's busiest 100 ms of bundle
// fetches after the window, against the mean over the first phase; and where it may be written.
#include <gtest/gtest.h>

#include "gateway/policy/window_counter.hpp"
#include "scenarios/evaluation.hpp"
#include "scenarios/thresholds.hpp"

namespace gatedrill {
namespace {

Scenario storm_scenario() {
  Scenario s;
  s.phases.push_back({});
  s.phases.back().name = "warmup";
  s.phases.back().duration = std::chrono::seconds(2);
  ExpectSpec e;
  e.when = ExpectSpec::When::kAfter;
  e.fault = "registry_offline";
  auto burst = parse_condition("refetch_burst", "> 2");
  EXPECT_TRUE(burst) << burst.error().message;
  e.conditions.push_back(*burst);
  e.text = "after(registry_offline) refetch_burst > 2";
  s.expectations.push_back(e);
  return s;
}

TEST(RefetchBurstTest, PeakAfterTheWindowAgainstTheSteadyMean) {
  const int64_t start = 1'000'000;
  RegistryFetches fetches;
  fetches.window_ms = 100;
  // Warm-up: 2 s of 20 windows, one fetch in each but every fourth with two: 25 fetches, 1.25
  // per window.
  for (int i = 0; i < 20; ++i) fetches.windows.emplace_back(start + 100 * i, i % 4 == 0 ? 2 : 1);
  // The outage ends at +5 s; the refetches land 1.2 s later, 4 in the same 100 ms.
  fetches.windows.emplace_back(start + 6200, 4);
  fetches.windows.emplace_back(start + 6300, 1);
  // Far later (out of the span): a bigger burst that must not count.
  fetches.windows.emplace_back(start + 9000, 9);
  FaultWindow w{"registry_offline", "registry", "{}", start + 3000, start + 5000, {}};
  RunRecorder recorder(nullptr, 0, {"gw-1"});
  auto outcomes = evaluate_run(storm_scenario(), recorder, {w}, start, "", fetches);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(outcomes[0].pass) << outcomes[0].observed_text;
  EXPECT_DOUBLE_EQ(outcomes[0].observed, 4 / 1.25);
  EXPECT_NE(outcomes[0].observed_text.find("peak 4 per 100 ms"), std::string::npos)
      << outcomes[0].observed_text;

  // A gentle return (no window above twice the mean) fails the "> 2" storm check.
  fetches.windows[20].second = 2;
  outcomes = evaluate_run(storm_scenario(), recorder, {w}, start, "", fetches);
  EXPECT_FALSE(outcomes[0].pass);
  // Without the registry's counts there is nothing to judge: a failure that says so.
  outcomes = evaluate_run(storm_scenario(), recorder, {w}, start, "", RegistryFetches{});
  EXPECT_FALSE(outcomes[0].pass);
  EXPECT_NE(outcomes[0].observed_text.find("could not be read"), std::string::npos);
}

TEST(RefetchBurstTest, OnlyInAfter) {
  EXPECT_FALSE(parse_threshold("refetch_burst", "> 2"));
  EXPECT_TRUE(parse_condition("refetch_burst", "> 2x"));
}

// What the registry keeps: fetches per 100 ms of wall time, the oldest windows dropped.
TEST(RefetchBurstTest, WindowCounterCountsPerWindowAndKeepsTheLatest) {
  WindowCounter counter(100, 2);
  for (int64_t t : {1000, 1050, 1099, 1100, 1250, 1260}) counter.add(t);
  auto windows = counter.windows();
  ASSERT_EQ(windows.size(), 2u);  // 1000 (3 fetches) was the oldest of three
  EXPECT_EQ(windows[0], std::make_pair(int64_t{1100}, int64_t{1}));
  EXPECT_EQ(windows[1], std::make_pair(int64_t{1200}, int64_t{2}));
}

}  // namespace
}  // namespace gatedrill

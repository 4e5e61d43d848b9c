// The capacity search over a fake system (measure(rate) -> p99), no processes: doubling, then
// bisection to the precision, and the edge cases (nothing sustainable, the max rate holds).
#include "scenarios/capacity.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace gatedrill {
namespace {

// Runs the search against a system whose p99 is given by p99_ms(rate); SLO p99 < 10 ms.
CapacitySearch search_against(CapacitySearchOptions options,
                              const std::function<double(double)>& p99_ms) {
  CapacitySearch search(options);
  int guard = 0;
  while (auto rate = search.next_rate()) {
    CapacityStep step;
    step.rate = *rate;
    step.p99_ns = p99_ms(*rate) * 1e6;
    step.pass = step.p99_ns < 10e6;
    search.record(step);
    if (++guard > 100) break;
  }
  EXPECT_LE(guard, 100) << "the search must end";
  return search;
}

TEST(CapacitySearchTest, DoublesUntilTheSloBreaksThenBisectsToThePrecision) {
  const double knee = 23456;  // the fake system holds p99 < 10 ms up to here
  auto search =
      search_against({1000, 200000, 0.02, 1}, [&](double r) { return r <= knee ? 2.0 : 40.0; });
  const auto& steps = search.steps();
  ASSERT_GE(steps.size(), 6u);
  // 1000, 2000, 4000, 8000, 16000 pass; 32000 breaks.
  for (size_t i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(steps[i].rate, 1000.0 * (1 << i));
  ASSERT_TRUE(search.sustainable());
  ASSERT_TRUE(search.breaking());
  EXPECT_LE(*search.sustainable(), knee);
  EXPECT_GT(*search.breaking(), knee);
  EXPECT_LE(*search.breaking() - *search.sustainable(), 0.02 * *search.sustainable());
  EXPECT_GE(*search.sustainable(), knee * 0.98);
  // Bisection: every step after the first failure lies strictly between good and bad.
  EXPECT_LE(steps.size(), 6u + 10u);
  EXPECT_FALSE(search.reached_max());
}

TEST(CapacitySearchTest, CoarserPrecisionTakesFewerSteps) {
  auto p99 = [](double r) { return r <= 50000 ? 1.0 : 20.0; };
  auto fine = search_against({1000, 200000, 0.01, 1}, p99);
  auto coarse = search_against({1000, 200000, 0.10, 1}, p99);
  EXPECT_LT(coarse.steps().size(), fine.steps().size());
  EXPECT_GE(*coarse.sustainable(), 50000 / 1.10);
}

TEST(CapacitySearchTest, NothingSustainableWhenEvenTheStartBreaks) {
  auto search = search_against({1000, 200000, 0.02, 100}, [](double) { return 50.0; });
  EXPECT_FALSE(search.sustainable());
  ASSERT_TRUE(search.breaking());
  // It halved down to the minimum and gave up.
  EXPECT_LT(search.steps().back().rate, 200.0);
  EXPECT_GE(search.steps().back().rate, 100.0);
}

TEST(CapacitySearchTest, StopsAtTheMaxWhenEverythingPasses) {
  auto search = search_against({1000, 5000, 0.02, 1}, [](double) { return 1.0; });
  ASSERT_TRUE(search.sustainable());
  EXPECT_DOUBLE_EQ(*search.sustainable(), 5000);
  EXPECT_TRUE(search.reached_max());
  EXPECT_FALSE(search.breaking());
  // 1000, 2000, 4000, then the max itself.
  ASSERT_EQ(search.steps().size(), 4u);
  EXPECT_DOUBLE_EQ(search.steps().back().rate, 5000);
}

CapacityStep step_at(double rate, bool pass) {
  CapacityStep step;
  step.rate = rate;
  step.pass = pass;
  return step;
}

TEST(CapacitySearchTest, ANoisyPassAboveAFailureDoesNotRaiseTheAnswer) {
  CapacitySearch search({1000, 200000, 0.02, 1});
  search.record(step_at(1000, true));
  search.record(step_at(2000, false));
  search.record(step_at(3000, true));  // a step asked for outside the search
  ASSERT_TRUE(search.sustainable());
  EXPECT_DOUBLE_EQ(*search.sustainable(), 1000);
}

TEST(SloTest, ParsesCompactAndSpacedForms) {
  auto a = parse_slo("p99<10ms");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->metric, "p99");
  EXPECT_EQ(a->op, "<");
  EXPECT_DOUBLE_EQ(a->limit, 10e6);
  EXPECT_EQ(a->text, "p99 < 10ms");
  auto b = parse_slo(" error_rate <= 0.1% ");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->op, "<=");
  EXPECT_DOUBLE_EQ(b->limit, 0.001);
}

TEST(SloTest, RejectsWhatIsNotAnSlo) {
  for (const char* bad : {"p99", "<10ms", "p42<10ms", "p99<10 parsecs", "error_rate<150%"}) {
    auto slo = parse_slo(bad);
    EXPECT_FALSE(slo) << bad;
    if (!slo) {
      EXPECT_EQ(slo.error().code, "bad_slo") << bad;
    }
  }
}

}  // namespace
}  // namespace gatedrill

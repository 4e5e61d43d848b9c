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

// The seeds' sizing questions from the sustainable step: 2 nodes sharing 9000 req/s at 1.5
// cores, 30 MiB more RSS than at rest over 64 connections.
TEST(CapacitySizingTest, AnswersRpsPerNodeCoresPer5kAndMemoryPerConnection) {
  CapacityStep step;
  step.rate = 9000;
  step.achieved_rps = 9000;
  step.gateway_cpu_pct = 150;
  step.gateway_rss_bytes = int64_t{70} << 20;
  step.connections = 64;
  step.p99_spread = 0.1;
  CapacitySizing z = capacity_sizing(step, 2, int64_t{40} << 20);
  EXPECT_DOUBLE_EQ(z.rps_per_node, 4500);
  EXPECT_NEAR(z.cores_per_5k_rps, 1.5 / (9000.0 / 5000), 1e-9);
  EXPECT_DOUBLE_EQ(z.rss_per_node_bytes, 35.0 * (1 << 20));
  EXPECT_EQ(z.connections_per_node, 32);
  EXPECT_DOUBLE_EQ(z.bytes_per_connection, 30.0 * (1 << 20) / 64);
  EXPECT_EQ(z.p99_confidence, "high");
  std::string text = format_sizing(z);
  EXPECT_NE(text.find("requests/s per node within the SLOs: 4500"), std::string::npos) << text;
  EXPECT_NE(text.find("gateway vCPU per 5000 req/s: 0.83"), std::string::npos) << text;
  EXPECT_NE(text.find("480.0 KiB per connection"), std::string::npos) << text;
  // Memory that did not grow is not attributed to the connections; the spread sets the label.
  step.gateway_rss_bytes = int64_t{30} << 20;
  step.p99_spread = 0.7;
  z = capacity_sizing(step, 2, int64_t{40} << 20);
  EXPECT_DOUBLE_EQ(z.bytes_per_connection, 0);
  EXPECT_EQ(z.p99_confidence, "low");
  EXPECT_STREQ(p99_confidence(0.3), "medium");
}

}  // namespace
}  // namespace gatedrill

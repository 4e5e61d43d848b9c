// Threshold expressions: parsing with units that fit the metric, and judging observed values.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "scenarios/thresholds.hpp"

namespace gatedrill {
namespace {

TEST(Thresholds, ParsesPhaseMetricNodeAndLatencyUnits) {
  auto t = parse_threshold("steady.p99{node=gw-2}", "< 10ms");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->phase, "steady");
  EXPECT_EQ(t->metric, "p99");
  EXPECT_EQ(t->node, "gw-2");
  EXPECT_EQ(t->op, "<");
  EXPECT_EQ(t->limit, 10e6);
}

TEST(Thresholds, SharesTakePercentagesOrFractions) {
  EXPECT_DOUBLE_EQ(parse_threshold("error_rate", "<= 0.1%")->limit, 0.001);
  EXPECT_DOUBLE_EQ(parse_threshold("status_401_share", "> 0.95")->limit, 0.95);
  EXPECT_FALSE(parse_threshold("error_rate", "< 101%"));
  EXPECT_FALSE(parse_threshold("error_rate", "< lots"));
}

TEST(Thresholds, RejectsUnknownMetricsMissingOperatorsAndBadUnits) {
  EXPECT_EQ(parse_threshold("p42", "< 1ms").error().code, "bad_threshold");
  EXPECT_FALSE(parse_threshold("p99", "1ms"));
  EXPECT_FALSE(parse_threshold("p99", "< 1 parsec"));
  EXPECT_FALSE(parse_threshold("rps", "> -5"));
  EXPECT_FALSE(parse_threshold("p99{zone=a}", "< 1ms"));
  EXPECT_FALSE(parse_threshold("status_6xx", "< 1"));
}

TEST(Thresholds, MetricValuesComeFromTheWindow) {
  WindowStats w;
  w.requests = 200;
  w.errors = 50;
  w.seconds = 2;
  w.status_counts = {{200, 150}, {401, 40}, {503, 10}};
  for (int i = 1; i <= 100; ++i) w.latency.record(i * 1'000'000);  // 1..100 ms
  EXPECT_DOUBLE_EQ(metric_value(w, "rps"), 100);
  EXPECT_DOUBLE_EQ(metric_value(w, "error_rate"), 0.25);
  EXPECT_DOUBLE_EQ(metric_value(w, "status_401_share"), 0.2);
  EXPECT_DOUBLE_EQ(metric_value(w, "status_4xx"), 40);
  EXPECT_DOUBLE_EQ(metric_value(w, "status_5xx_share"), 0.05);
  EXPECT_NEAR(metric_value(w, "p50"), 50e6, 50e6 * 0.001);
  EXPECT_NEAR(metric_value(w, "p99"), 99e6, 99e6 * 0.001);
}

TEST(Thresholds, OperatorsJudgeTheObservedValue) {
  auto lt = *parse_threshold("p99", "< 10ms");
  EXPECT_TRUE(threshold_passes(lt, 9.9e6));
  EXPECT_FALSE(threshold_passes(lt, 10e6));
  auto ge = *parse_threshold("rps", ">= 1000");
  EXPECT_TRUE(threshold_passes(ge, 1000));
  EXPECT_FALSE(threshold_passes(ge, 999.9));
}

TEST(Thresholds, ObservedValuesAreFormattedInTheMetricsUnit) {
  EXPECT_EQ(format_metric("p99", 7.9e6), "7.90ms");
  EXPECT_EQ(format_metric("error_rate", 0.0123), "1.23%");
  EXPECT_EQ(format_metric("rps", 1532), "1532");
}

}  // namespace
}  // namespace gatedrill

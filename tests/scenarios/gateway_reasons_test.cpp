// The gateways' answers by reason, read from their Prometheus counters: parsing, deltas over a
// window (a restarted node counts from zero), and the reason_* conditions of during(...).
#include "scenarios/gateway_reasons.hpp"

#include <gtest/gtest.h>

#include "scenarios/thresholds.hpp"

namespace gatedrill {
namespace {

TEST(GatewayReasonsTest, SumsTheRequestCounterOverStatusPerReason) {
  const char* text =
      "# HELP gatedrill_gateway_requests_total Requests answered, by status and reason\n"
      "# TYPE gatedrill_gateway_requests_total counter\n"
      "gatedrill_gateway_requests_total{status=\"200\",reason=\"ok\"} 1200\n"
      "gatedrill_gateway_requests_total{status=\"503\",reason=\"circuit_open\"} 40\n"
      "gatedrill_gateway_requests_total{status=\"503\",reason=\"max_requests\"} 7\n"
      "gatedrill_gateway_requests_total{status=\"504\",reason=\"max_requests\"} 3\n"
      "gatedrill_gateway_upstream_errors_total{kind=\"timeout\"} 9\n"
      "gatedrill_gateway_requests_total{status=\"401\",reason=\"token_expired\"} garbage\n";
  ReasonCounts counts = parse_reason_counts(text);
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts["ok"], 1200);
  EXPECT_EQ(counts["circuit_open"], 40);
  EXPECT_EQ(counts["max_requests"], 10);
  EXPECT_EQ(counts.count("token_expired"), 0u);
}

TEST(GatewayReasonsTest, DeltaOverAWindowCountsARestartedNodeFromZero) {
  ReasonCounts before{{"ok", 100}, {"circuit_open", 5}};
  ReasonCounts after{{"ok", 150}, {"circuit_open", 2}, {"max_requests", 4}};
  ReasonCounts delta = reason_delta(before, after);
  EXPECT_EQ(delta["ok"], 50);
  EXPECT_EQ(delta["circuit_open"], 2);  // went down: the node restarted, all 2 are new
  EXPECT_EQ(delta["max_requests"], 4);
}

TEST(GatewayReasonsTest, ReasonMetricsAreCountsAndSharesForFaultWindowsOnly) {
  EXPECT_EQ(reason_of_metric("reason_circuit_open"), "circuit_open");
  EXPECT_EQ(reason_of_metric("reason_circuit_open_share"), "circuit_open");
  EXPECT_EQ(reason_of_metric("p99"), "");
  auto count = parse_condition("reason_circuit_open", "> 0");
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(format_metric("reason_circuit_open", 12), "12");
  auto share = parse_condition("reason_circuit_open_share", "> 10%");
  ASSERT_TRUE(share) << share.error().message;
  EXPECT_DOUBLE_EQ(share->limit, 0.1);
  EXPECT_FALSE(parse_condition("reason_circuit_open_share", "> 150%"));
  EXPECT_FALSE(parse_condition("reason_", "> 1"));
  EXPECT_FALSE(parse_condition("reason_Circuit", "> 1"));
  // A phase threshold has no window the gateways were asked about.
  auto threshold = parse_threshold("slow.reason_circuit_open", "> 0");
  ASSERT_FALSE(threshold);
  EXPECT_NE(threshold.error().message.find("use it in during"), std::string::npos);
}

}  // namespace
}  // namespace gatedrill

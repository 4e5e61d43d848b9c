#include "core/admin/metrics.hpp"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace gatedrill {
namespace {

TEST(Metrics, RendersASmallRegistryExactly) {
  MetricsRegistry registry;
  auto& ok = registry.counter("requests_total", "Requests served", {{"code", "200"}});
  auto& failed = registry.counter("requests_total", "Requests served", {{"code", "500"}});
  auto& depth = registry.gauge("queue_depth", "Items waiting");
  auto& latency = registry.latency("request_seconds", "Request latency", {{"route", "/a"}});
  ok.inc(3);
  failed.inc();
  depth.set(2.5);
  depth.add(-1);
  latency.observe_ns(50'000);          // 50us: every bucket
  latency.observe_ns(3'000'000);       // 3ms: from le=0.005
  latency.observe_ns(20'000'000'000);  // 20s: only +Inf
  registry.add_collector([](std::string& out) { out += "process_up 1\n"; });

  const std::string expected =
      "# HELP requests_total Requests served\n"
      "# TYPE requests_total counter\n"
      "requests_total{code=\"200\"} 3\n"
      "requests_total{code=\"500\"} 1\n"
      "# HELP queue_depth Items waiting\n"
      "# TYPE queue_depth gauge\n"
      "queue_depth 1.5\n"
      "# HELP request_seconds Request latency\n"
      "# TYPE request_seconds histogram\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.0001\"} 1\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.00025\"} 1\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.0005\"} 1\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.001\"} 1\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.0025\"} 1\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.005\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.01\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.025\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.05\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.25\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"0.5\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"2.5\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"5\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"10\"} 2\n"
      "request_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"
      "request_seconds_sum{route=\"/a\"} 20.00305\n"
      "request_seconds_count{route=\"/a\"} 3\n"
      "process_up 1\n";
  EXPECT_EQ(registry.render(), expected);
}

TEST(Metrics, SameNameAndLabelsReturnTheSameMetric) {
  MetricsRegistry registry;
  auto& a = registry.counter("hits_total", "Hits", {{"k", "v"}});
  auto& b = registry.counter("hits_total", "Hits", {{"k", "v"}});
  auto& c = registry.counter("hits_total", "Hits", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  // One HELP/TYPE pair per family, however many series.
  const std::string rendered = registry.render();
  EXPECT_EQ(rendered.find("# TYPE hits_total"), rendered.rfind("# TYPE hits_total"));
}

TEST(Metrics, SameNameWithAnotherTypeIsAProgrammingError) {
  MetricsRegistry registry;
  registry.counter("x", "X");
  EXPECT_THROW(registry.gauge("x", "X"), std::logic_error);
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.counter("odd_total", "Line one\nback\\slash", {{"path", "a\"b\\c\nd"}}).inc();
  EXPECT_EQ(registry.render(),
            "# HELP odd_total Line one\\nback\\\\slash\n"
            "# TYPE odd_total counter\n"
            "odd_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, GaugeSpecialValues) {
  MetricsRegistry registry;
  auto& g = registry.gauge("g", "G");
  g.set(std::numeric_limits<double>::infinity());
  EXPECT_NE(registry.render().find("\ng +Inf\n"), std::string::npos);
  g.set(std::nan(""));
  EXPECT_NE(registry.render().find("\ng NaN\n"), std::string::npos);
}

TEST(LatencyMetric, BoundIsInclusiveAndCustomBoundsWork) {
  LatencyMetric metric({0.001, 0.01});
  metric.observe_ns(1'000'000);  // exactly 1ms: le="0.001"
  metric.observe_ns(1'000'001);
  metric.observe_ns(-5);  // clamped to 0
  EXPECT_EQ(metric.bucket_count(0), 2u);
  EXPECT_EQ(metric.bucket_count(1), 3u);
  EXPECT_EQ(metric.count(), 3u);
  EXPECT_DOUBLE_EQ(metric.sum_seconds(), 0.002000001);
  EXPECT_THROW(LatencyMetric({0.01, 0.001}), std::invalid_argument);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  auto& counter = registry.counter("c_total", "C");
  auto& gauge = registry.gauge("g", "G");
  auto& latency = registry.latency("l_seconds", "L");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.inc();
        gauge.add(1);
        latency.observe_ns(2'000'000);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.value(), 40000u);
  EXPECT_EQ(gauge.value(), 40000.0);
  EXPECT_EQ(latency.count(), 40000u);
  EXPECT_EQ(latency.bucket_count(4), 40000u);  // le=0.0025
  EXPECT_EQ(latency.bucket_count(3), 0u);      // le=0.001
}

}  // namespace
}  // namespace gatedrill

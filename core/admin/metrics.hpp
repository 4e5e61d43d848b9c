#pragma once
// Prometheus metrics: counters, gauges and latency histograms registered once at start-up and
// updated lock-free on the hot path (relaxed atomics); rendered in text format 0.0.4.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace gatedrill {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets in seconds (Prometheus convention), observed in nanoseconds.
class LatencyMetric {
 public:
  // Default bounds: 100us .. 10s, roughly 1-2.5-5 per decade.
  LatencyMetric();
  explicit LatencyMetric(std::vector<double> upper_bounds_seconds);
  void observe_ns(int64_t ns);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket_count(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_ns_{0};
};

class MetricsRegistry {
 public:
  // Returns a reference that stays valid for the registry's life. Registering the same name and
  // labels twice returns the same metric. Call at set-up, not per request.
  Counter& counter(const std::string& name, const std::string& help, MetricLabels labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, MetricLabels labels = {});
  LatencyMetric& latency(const std::string& name, const std::string& help,
                         MetricLabels labels = {});
  // Values computed at scrape time (RSS, queue depths). The callback appends complete lines.
  void add_collector(std::function<void(std::string& out)> collector);

  std::string render() const;  // Prometheus text exposition format 0.0.4

 private:
  enum class Kind { kCounter, kGauge, kLatency };
  struct Family {
    std::string name, help;
    Kind kind;
    std::deque<std::pair<MetricLabels, Counter>> counters;
    std::deque<std::pair<MetricLabels, Gauge>> gauges;
    std::deque<std::pair<MetricLabels, LatencyMetric>> latencies;
  };
  Family& family(const std::string& name, const std::string& help, Kind kind);

  mutable std::mutex mutex_;
  std::deque<Family> families_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

}  // namespace gatedrill

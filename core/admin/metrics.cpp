#include "core/admin/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <tuple>

namespace gatedrill {

void Gauge::add(double d) {
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + d, std::memory_order_relaxed)) {
  }
}

namespace {

std::vector<double> default_bounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

// Prometheus sample values: shortest round-trip decimal, and its spellings of the specials.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general);
  (void)ec;
  return std::string(buffer, end);
}

std::string escape_help(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="1",b="2"} plus an optional extra label (le for histogram buckets); empty without labels.
std::string label_block(const MetricLabels& labels, const char* extra_name = nullptr,
                        const std::string& extra_value = {}) {
  if (labels.empty() && !extra_name) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ",";
    first = false;
    out += name + "=\"" + escape_label_value(value) + "\"";
  }
  if (extra_name) {
    if (!first) out += ",";
    out += std::string(extra_name) + "=\"" + escape_label_value(extra_value) + "\"";
  }
  return out + "}";
}

template <class Metric>
Metric& find_or_add(std::deque<std::pair<MetricLabels, Metric>>& series, MetricLabels labels) {
  for (auto& [existing, metric] : series) {
    if (existing == labels) return metric;
  }
  series.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(labels)),
                      std::forward_as_tuple());
  return series.back().second;
}

}  // namespace

LatencyMetric::LatencyMetric() : LatencyMetric(default_bounds()) {}

LatencyMetric::LatencyMetric(std::vector<double> upper_bounds_seconds)
    : bounds_(std::move(upper_bounds_seconds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size())) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    throw std::invalid_argument("latency bucket bounds must be strictly increasing");
  }
  for (size_t i = 0; i < bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void LatencyMetric::observe_ns(int64_t ns) {
  if (ns < 0) ns = 0;
  const double seconds = static_cast<double>(ns) / 1e9;
  // Buckets are stored cumulatively (le = "less or equal"), as they are exposed.
  auto first = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
  for (auto i = static_cast<size_t>(first - bounds_.begin()); i < bounds_.size(); ++i) {
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

double LatencyMetric::sum_seconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 Kind kind) {
  for (auto& f : families_) {
    if (f.name != name) continue;
    if (f.kind != kind) {
      throw std::logic_error("metric " + name + " registered twice with different types");
    }
    return f;
  }
  families_.emplace_back();
  Family& f = families_.back();
  f.name = name;
  f.help = help;
  f.kind = kind;
  return f;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  MetricLabels labels) {
  std::lock_guard lock(mutex_);
  return find_or_add(family(name, help, Kind::kCounter).counters, std::move(labels));
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              MetricLabels labels) {
  std::lock_guard lock(mutex_);
  return find_or_add(family(name, help, Kind::kGauge).gauges, std::move(labels));
}

LatencyMetric& MetricsRegistry::latency(const std::string& name, const std::string& help,
                                        MetricLabels labels) {
  std::lock_guard lock(mutex_);
  return find_or_add(family(name, help, Kind::kLatency).latencies, std::move(labels));
}

void MetricsRegistry::add_collector(std::function<void(std::string& out)> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    switch (f.kind) {
      case Kind::kCounter:
        out += "# TYPE " + f.name + " counter\n";
        for (const auto& [labels, c] : f.counters) {
          out += f.name + label_block(labels) + " " + std::to_string(c.value()) + "\n";
        }
        break;
      case Kind::kGauge:
        out += "# TYPE " + f.name + " gauge\n";
        for (const auto& [labels, g] : f.gauges) {
          out += f.name + label_block(labels) + " " + format_value(g.value()) + "\n";
        }
        break;
      case Kind::kLatency:
        out += "# TYPE " + f.name + " histogram\n";
        for (const auto& [labels, h] : f.latencies) {
          // Read count first: buckets observed later can only be larger, and +Inf must not
          // be smaller than the last finite bucket in one scrape.
          uint64_t count = h.count();
          for (size_t i = 0; i < h.bounds().size(); ++i) {
            uint64_t bucket = h.bucket_count(i);
            count = std::max(count, bucket);
            out += f.name + "_bucket" + label_block(labels, "le", format_value(h.bounds()[i])) +
                   " " + std::to_string(bucket) + "\n";
          }
          out += f.name + "_bucket" + label_block(labels, "le", "+Inf") + " " +
                 std::to_string(count) + "\n";
          out += f.name + "_sum" + label_block(labels) + " " + format_value(h.sum_seconds()) + "\n";
          out += f.name + "_count" + label_block(labels) + " " + std::to_string(count) + "\n";
        }
        break;
    }
  }
  for (const auto& collector : collectors_) collector(out);
  return out;
}

}  // namespace gatedrill

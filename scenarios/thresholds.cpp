#include "scenarios/thresholds.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/util/strings.hpp"

namespace gatedrill {

namespace {

enum class MetricKind { kLatency, kShare, kCount, kRatio, kUnknown };

constexpr std::string_view kVsBaseline = "_vs_baseline";

bool is_status_code(std::string_view s) {
  return s.size() == 3 && std::isdigit(static_cast<unsigned char>(s[0])) &&
         std::isdigit(static_cast<unsigned char>(s[1])) &&
         std::isdigit(static_cast<unsigned char>(s[2]));
}
bool is_status_class(std::string_view s) {
  return s.size() == 3 && s[0] >= '1' && s[0] <= '5' && s[1] == 'x' && s[2] == 'x';
}

MetricKind kind_of(std::string_view m);

// "reason_circuit_open", "reason_max_requests_share": a reason the gateways answered with.
bool is_reason_metric(std::string_view m) {
  constexpr std::string_view prefix = "reason_";
  if (m.substr(0, prefix.size()) != prefix || m.size() == prefix.size() || m == "reason__share")
    return false;
  return std::all_of(m.begin(), m.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// "p99_vs_baseline": the latency metric's prefix.
std::string_view ratio_base(std::string_view m) {
  if (m.size() <= kVsBaseline.size() || m.substr(m.size() - kVsBaseline.size()) != kVsBaseline)
    return {};
  return m.substr(0, m.size() - kVsBaseline.size());
}

MetricKind kind_of(std::string_view m) {
  if (m == "refetch_burst") return MetricKind::kRatio;
  if (auto base = ratio_base(m); !base.empty())
    return kind_of(base) == MetricKind::kLatency ? MetricKind::kRatio : MetricKind::kUnknown;
  if (m == "p50" || m == "p75" || m == "p90" || m == "p95" || m == "p99" || m == "p999" ||
      m == "max" || m == "mean" || m == "min")
    return MetricKind::kLatency;
  if (m == "error_rate" || m == "node_error_share" || m == "node_split" ||
      m == "audit_deny_share" || m == "audit_share")
    return MetricKind::kShare;
  if (m == "rps" || m == "requests" || m == "errors" || m == "restarts") return MetricKind::kCount;
  if (is_reason_metric(m))
    return m.size() > 6 && m.substr(m.size() - 6) == "_share" ? MetricKind::kShare
                                                              : MetricKind::kCount;
  if (m.rfind("status_", 0) == 0) {
    std::string_view rest = m.substr(7);
    bool share = rest.size() > 6 && rest.substr(rest.size() - 6) == "_share";
    if (share) rest = rest.substr(0, rest.size() - 6);
    if (is_status_code(rest) || is_status_class(rest))
      return share ? MetricKind::kShare : MetricKind::kCount;
  }
  return MetricKind::kUnknown;
}

Error bad(const std::string& message) {
  return make_error("bad_threshold", message);
}

}  // namespace

Result<ThresholdSpec> parse_condition(std::string_view metric, std::string_view condition) {
  ThresholdSpec spec;
  spec.metric = std::string(metric);
  MetricKind kind = kind_of(metric);
  if (kind == MetricKind::kUnknown)
    return bad(
        "unknown metric '" + spec.metric +
        "' (use p50 p90 p95 p99 p999 max mean rps requests errors error_rate "
        "status_401 status_4xx status_401_share p99_vs_baseline node_error_share node_split ...)");
  std::string_view c = trim(condition);
  for (std::string_view op : {"<=", ">=", "<", ">"}) {
    if (c.substr(0, op.size()) == op) {
      spec.op = std::string(op);
      c = trim(c.substr(op.size()));
      break;
    }
  }
  if (spec.op.empty())
    return bad("condition '" + std::string(condition) + "' needs an operator: < <= > >=");
  if (c.empty()) return bad("condition '" + std::string(condition) + "' has no value");
  switch (kind) {
    case MetricKind::kLatency: {
      auto d = parse_duration(c);
      if (!d) return bad(spec.metric + ": " + d.error().message);
      if (d->count() < 0) return bad(spec.metric + ": a latency cannot be negative");
      spec.limit = static_cast<double>(d->count());
      break;
    }
    case MetricKind::kShare: {
      std::string v(c);
      bool percent = !v.empty() && v.back() == '%';
      if (percent) v.pop_back();
      char* end = nullptr;
      double x = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size())
        return bad(spec.metric + ": '" + std::string(c) + "' is not a share (try 1% or 0.01)");
      if (percent) x /= 100.0;
      if (x < 0 || x > 1)
        return bad(spec.metric + ": '" + std::string(c) + "' is outside 0%..100%");
      spec.limit = x;
      break;
    }
    case MetricKind::kRatio: {
      std::string v(c);
      if (!v.empty() && v.back() == 'x') v.pop_back();
      char* end = nullptr;
      double x = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x) || x < 0)
        return bad(spec.metric + ": '" + std::string(c) + "' is not a ratio (try 3 or 3x)");
      spec.limit = x;
      break;
    }
    case MetricKind::kCount: {
      std::string v(c);
      char* end = nullptr;
      double x = std::strtod(v.c_str(), &end);
      if (end != v.c_str() + v.size() || !std::isfinite(x))
        return bad(spec.metric + ": '" + std::string(c) + "' is not a number");
      if (x < 0) return bad(spec.metric + ": a count cannot be negative");
      spec.limit = x;
      break;
    }
    case MetricKind::kUnknown:
      break;
  }
  spec.text = spec.metric + " " + std::string(trim(condition));
  return spec;
}

Result<ThresholdSpec> parse_threshold(std::string_view subject, std::string_view condition) {
  std::string_view s = trim(subject);
  std::string node;
  if (auto brace = s.find('{'); brace != std::string_view::npos) {
    if (s.back() != '}') return bad("'" + std::string(subject) + "': missing closing }");
    std::string_view tag = s.substr(brace + 1, s.size() - brace - 2);
    if (tag.substr(0, 5) != "node=" || tag.size() == 5)
      return bad("'" + std::string(subject) + "': only {node=NAME} is supported");
    node = std::string(tag.substr(5));
    s = s.substr(0, brace);
  }
  std::string phase;
  std::string_view metric = s;
  if (auto dot = s.find('.'); dot != std::string_view::npos) {
    phase = std::string(s.substr(0, dot));
    metric = s.substr(dot + 1);
  }
  auto spec = parse_condition(metric, condition);
  if (!spec) return spec;
  if (spec->metric == "refetch_burst")
    return bad("'refetch_burst' is measured after a registry fault: use it in after(...)");
  if (spec->metric.rfind("reason_", 0) == 0)
    return bad("'" + spec->metric +
               "' is counted by the gateways over fault windows: use it in during(...)");
  spec->phase = phase;
  spec->node = node;
  spec->text = std::string(trim(subject)) + " " + std::string(trim(condition));
  return spec;
}

bool is_cross_node(const std::string& metric) {
  return metric == "node_error_share" || metric == "node_split";
}

double cross_node_value(const std::vector<WindowStats>& per_node, const std::string& metric) {
  // A node "fails" when most of its requests in the window failed.
  int failing = 0, serving = 0;
  for (const auto& s : per_node) {
    if (s.requests == 0) continue;
    if (2 * s.errors > s.requests)
      ++failing;
    else
      ++serving;
  }
  int nodes = failing + serving;
  if (nodes == 0) return 0;
  if (metric == "node_error_share") return static_cast<double>(failing) / nodes;
  if (metric == "node_split") return static_cast<double>(std::min(failing, serving)) / nodes;
  return 0;
}

bool is_baseline_ratio(const std::string& metric) {
  return kind_of(metric) == MetricKind::kRatio;
}

double metric_value(const WindowStats& stats, const std::string& metric) {
  if (auto base = ratio_base(metric); !base.empty()) {
    if (!stats.baseline_latency) return 0;
    WindowStats baseline;
    baseline.latency = *stats.baseline_latency;
    double before = metric_value(baseline, std::string(base));
    return before > 0 ? metric_value(stats, std::string(base)) / before : 0;
  }
  const Histogram& h = stats.latency;
  if (metric == "p50") return static_cast<double>(h.percentile(50));
  if (metric == "p75") return static_cast<double>(h.percentile(75));
  if (metric == "p90") return static_cast<double>(h.percentile(90));
  if (metric == "p95") return static_cast<double>(h.percentile(95));
  if (metric == "p99") return static_cast<double>(h.percentile(99));
  if (metric == "p999") return static_cast<double>(h.percentile(99.9));
  if (metric == "max") return static_cast<double>(h.max());
  if (metric == "min") return static_cast<double>(h.min());
  if (metric == "mean") return h.mean();
  if (metric == "requests") return static_cast<double>(stats.requests);
  if (metric == "errors") return static_cast<double>(stats.errors);
  if (metric == "restarts") return static_cast<double>(stats.restarts);
  if (metric == "rps")
    return stats.seconds > 0 ? static_cast<double>(stats.requests) / stats.seconds : 0;
  if (metric == "error_rate")
    return stats.requests > 0
               ? static_cast<double>(stats.errors) / static_cast<double>(stats.requests)
               : 0;
  if (metric.rfind("status_", 0) == 0) {
    std::string rest = metric.substr(7);
    bool share = rest.size() > 6 && rest.substr(rest.size() - 6) == "_share";
    if (share) rest = rest.substr(0, rest.size() - 6);
    int64_t n = 0;
    for (const auto& [status, count] : stats.status_counts) {
      std::string code = std::to_string(status);
      bool match = is_status_class(rest) ? code[0] == rest[0] : code == rest;
      if (match) n += count;
    }
    if (!share) return static_cast<double>(n);
    return stats.requests > 0 ? static_cast<double>(n) / static_cast<double>(stats.requests) : 0;
  }
  return 0;
}

bool threshold_passes(const ThresholdSpec& t, double observed) {
  if (t.op == "<") return observed < t.limit;
  if (t.op == "<=") return observed <= t.limit;
  if (t.op == ">") return observed > t.limit;
  if (t.op == ">=") return observed >= t.limit;
  return false;
}

std::string format_metric(const std::string& metric, double value) {
  char buf[64];
  switch (kind_of(metric)) {
    case MetricKind::kLatency:
      return format_duration(std::chrono::nanoseconds(static_cast<int64_t>(value)));
    case MetricKind::kShare:
      std::snprintf(buf, sizeof buf, "%.2f%%", value * 100);
      return buf;
    case MetricKind::kRatio:
      std::snprintf(buf, sizeof buf, "%.2fx", value);
      return buf;
    default:
      std::snprintf(buf, sizeof buf, value == std::floor(value) ? "%.0f" : "%.1f", value);
      return buf;
  }
}

}  // namespace gatedrill

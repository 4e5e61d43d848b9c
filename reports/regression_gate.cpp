#include "reports/regression_gate.hpp"

#include <algorithm>
#include <cmath>

#include "reports/report_text.hpp"

namespace gatedrill {

namespace {

// The phase's per-second values of the metric (seconds with completed requests only).
std::vector<double> per_second(const RunSummary& s, const std::string& phase,
                               const std::string& metric) {
  std::vector<double> out;
  for (const auto* r : s.node_samples("all"))
    if (r->phase == phase && r->requests > 0) out.push_back(sample_metric_us(*r, metric));
  return out;
}

std::string metric_text(const GateCheck& c, double v) {
  return c.name == "error_rate" ? format_share(v) : format_latency_ns(static_cast<int64_t>(v));
}

GateCheck latency_check(const RunSummary& b, const RunSummary& c, const std::string& phase,
                        const GateOptions& o) {
  GateCheck check;
  check.phase = phase;
  check.name = o.metric;
  check.base = static_cast<double>(phase_metric_ns(*b.phase(phase), o.metric));
  check.candidate = static_cast<double>(phase_metric_ns(*c.phase(phase), o.metric));
  check.limit = check.base * (1 + o.max_regression);
  check.exceeded = check.candidate > check.limit;
  std::string head =
      strprintf("%s %s: %s -> %s (%s, allowed +%.1f%%)", phase.c_str(), o.metric.c_str(),
                metric_text(check, check.base).c_str(), metric_text(check, check.candidate).c_str(),
                format_change(check.base, check.candidate).c_str(), o.max_regression * 100.0);
  if (!check.exceeded) {
    check.message = head + ": ok";
    return check;
  }
  auto base_seconds = per_second(b, phase, o.metric), cand_seconds = per_second(c, phase, o.metric);
  if (o.alpha > 0 && static_cast<int>(base_seconds.size()) >= o.min_seconds &&
      static_cast<int>(cand_seconds.size()) >= o.min_seconds) {
    check.noise_tested = true;
    check.p_value = mann_whitney_p_greater(base_seconds, cand_seconds);
    check.significant = check.p_value < o.alpha;
  }
  check.pass = !check.significant;
  if (check.pass) {
    check.message =
        head + strprintf(
                   ": above the limit but within run-to-run noise (per-second %s, Mann-Whitney "
                   "p=%.3f >= %.3g over %zu vs %zu s): not a regression",
                   o.metric.c_str(), check.p_value, o.alpha, base_seconds.size(),
                   cand_seconds.size());
  } else if (check.noise_tested) {
    check.message =
        head +
        strprintf(
            ": REGRESSION (per-second %s higher, Mann-Whitney p=%.3g < %.3g over %zu vs %zu s)",
            o.metric.c_str(), check.p_value, o.alpha, base_seconds.size(), cand_seconds.size());
  } else {
    check.message =
        head + (o.alpha > 0
                    ? strprintf(": REGRESSION (noise test skipped: fewer than %d seconds per run)",
                                o.min_seconds)
                    : std::string(": REGRESSION"));
  }
  return check;
}

GateCheck error_check(const RunSummary& b, const RunSummary& c, const std::string& phase,
                      const GateOptions& o) {
  GateCheck check;
  check.phase = phase;
  check.name = "error_rate";
  check.base = b.phase(phase)->error_rate();
  check.candidate = c.phase(phase)->error_rate();
  check.limit = check.base + o.max_error_rate_increase;
  // A small tolerance so that "exactly at the limit" is not failed by floating-point noise.
  check.exceeded = check.candidate > check.limit + 1e-12;
  check.pass = !check.exceeded;
  check.message =
      strprintf("%s error rate: %s -> %s (%+.3f pp, allowed +%.3f pp)%s", phase.c_str(),
                format_share(check.base).c_str(), format_share(check.candidate).c_str(),
                (check.candidate - check.base) * 100.0, o.max_error_rate_increase * 100.0,
                check.pass ? ": ok" : ": REGRESSION");
  return check;
}

}  // namespace

bool GateResult::pass() const {
  return std::all_of(checks.begin(), checks.end(), [](const GateCheck& c) { return c.pass; });
}

double mann_whitney_p_greater(const std::vector<double>& lower, const std::vector<double>& higher) {
  const double n1 = static_cast<double>(lower.size()), n2 = static_cast<double>(higher.size());
  if (lower.empty() || higher.empty()) return 1;
  std::vector<std::pair<double, int>> all;  // value, 0 = lower / 1 = higher
  for (double v : lower) all.emplace_back(v, 0);
  for (double v : higher) all.emplace_back(v, 1);
  std::sort(all.begin(), all.end());
  double rank_sum_higher = 0, tie_term = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    double t = static_cast<double>(j - i);
    double mid_rank =
        (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // ranks are 1-based
    for (size_t k = i; k < j; ++k)
      if (all[k].second == 1) rank_sum_higher += mid_rank;
    tie_term += t * t * t - t;
    i = j;
  }
  const double n = n1 + n2;
  double u = rank_sum_higher - n2 * (n2 + 1) / 2.0;
  double mean = n1 * n2 / 2.0;
  double variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)));
  if (variance <= 0) return 1;
  double z = (u - mean - 0.5) / std::sqrt(variance);
  return 0.5 * std::erfc(z / std::sqrt(2.0));
}

Result<GateResult> evaluate_gate(const RunSummary& b, const RunSummary& c, const GateOptions& o) {
  if (!is_latency_metric(o.metric))
    return make_error("bad_option", "unknown metric '" + o.metric + "' (p50, p90, p99, p999, max)");
  std::vector<std::string> phases = o.phases;
  if (phases.empty()) {
    for (const auto& p : b.phases)
      if (c.phase(p.name)) phases.push_back(p.name);
    if (phases.empty())
      return make_error("no_common_phase", "the two runs have no phase name in common");
  }
  GateResult result;
  for (const auto& phase : phases) {
    for (const RunSummary* s : {&b, &c}) {
      if (!s->phase(phase)) {
        std::string names;
        for (const auto& p : s->phases) names += (names.empty() ? "" : ", ") + p.name;
        return make_error("no_such_phase", strprintf("run %lld has no phase '%s' (it has: %s)",
                                                     static_cast<long long>(s->run.id),
                                                     phase.c_str(), names.c_str()));
      }
    }
    if (b.phase(phase)->latency_count == 0)
      return make_error("no_data", strprintf("baseline run %lld recorded no latency in phase '%s'",
                                             static_cast<long long>(b.run.id), phase.c_str()));
    result.checks.push_back(latency_check(b, c, phase, o));
    if (o.max_error_rate_increase >= 0) result.checks.push_back(error_check(b, c, phase, o));
  }
  return result;
}

std::string format_gate_text(const GateResult& r, const RunSummary& b, const RunSummary& c) {
  std::string out =
      strprintf("gate: baseline run %lld (%s, git %s) vs candidate run %lld (%s, git %s)\n",
                static_cast<long long>(b.run.id), b.run.name.c_str(), b.run.git_describe.c_str(),
                static_cast<long long>(c.run.id), c.run.name.c_str(), c.run.git_describe.c_str());
  for (const auto& check : r.checks)
    out += strprintf("  %s  %s\n", check.pass ? "PASS" : "FAIL", check.message.c_str());
  out += r.pass() ? "gate: pass\n" : "gate: REGRESSION\n";
  return out;
}

std::string format_gate_markdown(const GateResult& r, const RunSummary& b, const RunSummary& c) {
  std::string out = strprintf(
      "### gatedrill gate: %s\n\nbaseline run %lld (git `%s`) → candidate run %lld (git `%s`)\n\n",
      r.pass() ? "✅ pass" : "❌ regression", static_cast<long long>(b.run.id),
      md_cell(b.run.git_describe).c_str(), static_cast<long long>(c.run.id),
      md_cell(c.run.git_describe).c_str());
  out += "| | phase | metric | baseline | candidate | change | limit | noise test |\n";
  out += "|---|---|---|--:|--:|--:|--:|---|\n";
  for (const auto& check : r.checks) {
    std::string noise = check.noise_tested ? strprintf("p=%.3g", check.p_value) : "-";
    out += strprintf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", check.pass ? "✅" : "❌",
                     md_cell(check.phase).c_str(), check.name.c_str(),
                     metric_text(check, check.base).c_str(),
                     metric_text(check, check.candidate).c_str(),
                     check.name == "error_rate"
                         ? strprintf("%+.3f pp", (check.candidate - check.base) * 100).c_str()
                         : format_change(check.base, check.candidate).c_str(),
                     metric_text(check, check.limit).c_str(), noise.c_str());
  }
  return out;
}

std::string render_gate_junit(const GateResult& r, const RunSummary& b, const RunSummary& c) {
  int failures = 0;
  std::string cases;
  for (const auto& check : r.checks) {
    cases += strprintf("    <testcase name=\"%s.%s\" classname=\"gatedrill.gate\" time=\"0\">\n",
                       xml_escape(check.phase).c_str(), xml_escape(check.name).c_str());
    if (!check.pass) {
      ++failures;
      cases += strprintf("      <failure message=\"%s\" type=\"regression\">%s</failure>\n",
                         xml_escape(check.message).c_str(), xml_escape(check.message).c_str());
    } else {
      cases += "      <system-out>" + xml_escape(check.message) + "</system-out>\n";
    }
    cases += "    </testcase>\n";
  }
  int tests = static_cast<int>(r.checks.size());
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += strprintf(
      "<testsuites name=\"gatedrill\" tests=\"%d\" failures=\"%d\" errors=\"0\" time=\"0\">\n",
      tests, failures);
  out += strprintf(
      "  <testsuite name=\"gatedrill gate: run %lld vs run %lld\" tests=\"%d\" failures=\"%d\" "
      "errors=\"0\" "
      "skipped=\"0\" time=\"0\">\n",
      static_cast<long long>(b.run.id), static_cast<long long>(c.run.id), tests, failures);
  out += cases + "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace gatedrill

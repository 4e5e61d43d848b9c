#include "reports/run_compare.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cmath>

#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "reports/report_formats.hpp"
#include "reports/report_text.hpp"

namespace gatedrill {

namespace {

// Changes smaller than this are shown neutral in colour: per-run noise, not a finding.
constexpr double kNotableChange = 0.05;

std::string value_text(const ComparedMetric& m, double v) {
  if (m.name == "rps") return strprintf("%.0f", v);
  if (m.name == "error_rate") return format_share(v);
  return format_latency_ns(static_cast<int64_t>(v));
}

std::string delta_text(const ComparedMetric& m) {
  double d = m.delta();
  if (m.name == "rps") return strprintf("%+.0f", d);
  if (m.name == "error_rate") return strprintf("%+.2f pp", d * 100.0);
  if (d == 0) return "0";
  return (d > 0 ? "+" : "-") +
         format_duration(std::chrono::nanoseconds(static_cast<int64_t>(std::fabs(d))));
}

std::string change_text(const ComparedMetric& m) {
  return format_change(m.base, m.candidate);
}

// "worse", "better" or "" (a small or no change).
const char* judgement(const ComparedMetric& m) {
  auto c = m.change();
  double rel = c ? *c : (m.candidate > m.base ? 1.0 : 0.0);
  if (std::fabs(rel) < kNotableChange) return "";
  bool up = rel > 0;
  return up == m.lower_is_better ? "worse" : "better";
}

const char* display_name(const std::string& metric) {
  if (metric == "rps") return "achieved/s";
  if (metric == "p999") return "p99.9";
  if (metric == "error_rate") return "error rate";
  return metric.c_str();
}

std::string run_line(const char* label, const RunSummary& s) {
  return strprintf("%s run %lld  %s  (%s)  %s  verdict %s  git %s", label,
                   static_cast<long long>(s.run.id), s.run.name.c_str(), s.run.scenario.c_str(),
                   format_wall_time(s.run.started_ms).c_str(), s.run.verdict.c_str(),
                   s.run.git_describe.c_str());
}

std::string missing_note(const PhaseComparison& p) {
  return p.base ? "only in the base run" : "only in the candidate run";
}

std::string render_text(const RunComparison& c) {
  std::string out =
      run_line("base:     ", c.base) + "\n" + run_line("candidate:", c.candidate) + "\n";
  for (const auto& p : c.phases) {
    out += "\n  phase " + p.name + "\n";
    if (!p.base || !p.candidate) {
      out += "    " + missing_note(p) + "\n";
      continue;
    }
    out += strprintf("    %-12s %12s %12s %12s %9s\n", "", "base", "candidate", "delta", "change");
    for (const auto& m : compared_metrics(*p.base, *p.candidate)) {
      std::string j = judgement(m);
      out += strprintf("    %-12s %12s %12s %12s %9s%s\n", display_name(m.name),
                       value_text(m, m.base).c_str(), value_text(m, m.candidate).c_str(),
                       delta_text(m).c_str(), change_text(m).c_str(),
                       j.empty() ? "" : ("  " + j).c_str());
    }
  }
  return out;
}

std::string render_md(const RunComparison& c) {
  std::string out =
      strprintf("### gatedrill compare: run %lld → run %lld\n\n",
                static_cast<long long>(c.base.run.id), static_cast<long long>(c.candidate.run.id));
  out += strprintf("base `%s` (%s, git `%s`) · candidate `%s` (%s, git `%s`)\n",
                   md_cell(c.base.run.name).c_str(), c.base.run.verdict.c_str(),
                   md_cell(c.base.run.git_describe).c_str(), md_cell(c.candidate.run.name).c_str(),
                   c.candidate.run.verdict.c_str(), md_cell(c.candidate.run.git_describe).c_str());
  for (const auto& p : c.phases) {
    out += "\n**" + md_cell(p.name) + "**";
    if (!p.base || !p.candidate) {
      out += ": " + missing_note(p) + "\n";
      continue;
    }
    out += "\n\n| metric | base | candidate | delta | change |\n|---|--:|--:|--:|--:|\n";
    for (const auto& m : compared_metrics(*p.base, *p.candidate)) {
      std::string j = judgement(m);
      out += strprintf("| %s | %s | %s | %s | %s%s |\n", display_name(m.name),
                       value_text(m, m.base).c_str(), value_text(m, m.candidate).c_str(),
                       delta_text(m).c_str(), change_text(m).c_str(),
                       j == "worse" ? " 🔺" : (j == "better" ? " 🟢" : ""));
    }
  }
  return out;
}

std::string render_json_comparison(const RunComparison& c) {
  namespace json = boost::json;
  auto run = [](const RunSummary& s) {
    return json::object{{"id", s.run.id},
                        {"name", s.run.name},
                        {"scenario", s.run.scenario},
                        {"verdict", s.run.verdict},
                        {"git_describe", s.run.git_describe},
                        {"started_ms", s.run.started_ms}};
  };
  json::array phases;
  for (const auto& p : c.phases) {
    json::object o{{"name", p.name},
                   {"in_base", p.base.has_value()},
                   {"in_candidate", p.candidate.has_value()}};
    if (p.base && p.candidate) {
      json::object metrics;
      for (const auto& m : compared_metrics(*p.base, *p.candidate)) {
        auto change = m.change();
        metrics[m.name] =
            json::object{{"base", m.base},
                         {"candidate", m.candidate},
                         {"delta", m.delta()},
                         {"change", change ? json::value(*change) : json::value(nullptr)}};
      }
      o["metrics"] = std::move(metrics);
    }
    phases.push_back(std::move(o));
  }
  json::object root{{"base", run(c.base)},
                    {"candidate", run(c.candidate)},
                    {"latency_unit", "ns"},
                    {"phases", std::move(phases)}};
  return to_json(root) + "\n";
}

std::string render_html_comparison(const RunComparison& c) {
  std::string body =
      strprintf("<header><h1>Run %lld vs run %lld</h1><div class=\"meta\">",
                static_cast<long long>(c.base.run.id), static_cast<long long>(c.candidate.run.id));
  auto side = [&body](const char* label, const RunSummary& s) {
    body += strprintf("<div>%s<b>run %lld %s (%s), %s, git %s</b></div>", label,
                      static_cast<long long>(s.run.id), xml_escape(s.run.name).c_str(),
                      xml_escape(s.run.verdict).c_str(), format_wall_time(s.run.started_ms).c_str(),
                      xml_escape(s.run.git_describe).c_str());
  };
  side("base", c.base);
  side("candidate", c.candidate);
  body += "</div></header>\n";
  for (const auto& p : c.phases) {
    body += "<h2>Phase " + xml_escape(p.name) + "</h2>\n";
    if (!p.base || !p.candidate) {
      body += "<p class=\"empty\">" + missing_note(p) + "</p>\n";
      continue;
    }
    body +=
        "<table><tr><th "
        "class=\"l\">metric</th><th>base</th><th>candidate</th><th>delta</th><th>change</th></"
        "tr>\n";
    for (const auto& m : compared_metrics(*p.base, *p.candidate))
      body += strprintf(
          "<tr><td class=\"l\">%s</td><td>%s</td><td>%s</td><td>%s</td><td "
          "class=\"%s\">%s</td></tr>\n",
          display_name(m.name), value_text(m, m.base).c_str(), value_text(m, m.candidate).c_str(),
          xml_escape(delta_text(m)).c_str(), judgement(m), change_text(m).c_str());
    body += "</table>\n";
  }
  body += "<h2>Over time</h2>\n" + render_comparison_charts(c.base, c.candidate);
  body +=
      "<footer>Percentiles come from each phase's merged HDR histograms (exact, not averaged). "
      "Changes under 5% are not coloured. Shaded: the candidate's fault windows.</footer>\n";
  return html_page(
      strprintf("gatedrill: run %lld vs run %lld", static_cast<long long>(c.base.run.id),
                static_cast<long long>(c.candidate.run.id)),
      body);
}

}  // namespace

std::optional<double> ComparedMetric::change() const {
  if (base == 0) return std::nullopt;
  return (candidate - base) / base;
}

RunComparison compare_runs(RunSummary base, RunSummary candidate) {
  RunComparison c{std::move(base), std::move(candidate), {}};
  for (const auto& p : c.base.phases) {
    const PhaseReport* other = c.candidate.phase(p.name);
    c.phases.push_back({p.name, p, other ? std::optional<PhaseReport>(*other) : std::nullopt});
  }
  for (const auto& p : c.candidate.phases)
    if (!c.base.phase(p.name)) c.phases.push_back({p.name, std::nullopt, p});
  return c;
}

std::vector<ComparedMetric> compared_metrics(const PhaseReport& b, const PhaseReport& c) {
  auto d = [](int64_t v) { return static_cast<double>(v); };
  return {{"rps", b.rps, c.rps, false},
          {"p50", d(b.p50_ns), d(c.p50_ns), true},
          {"p90", d(b.p90_ns), d(c.p90_ns), true},
          {"p99", d(b.p99_ns), d(c.p99_ns), true},
          {"p999", d(b.p999_ns), d(c.p999_ns), true},
          {"max", d(b.max_ns), d(c.max_ns), true},
          {"error_rate", b.error_rate(), c.error_rate(), true}};
}

Result<std::string> render_comparison(const RunComparison& comparison, std::string_view format) {
  if (format == "text") return render_text(comparison);
  if (format == "md" || format == "markdown") return render_md(comparison);
  if (format == "json") return render_json_comparison(comparison);
  if (format == "html") return render_html_comparison(comparison);
  return make_error("bad_format",
                    "unknown format '" + std::string(format) + "' (text, md, json, html)");
}

}  // namespace gatedrill

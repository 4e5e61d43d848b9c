#include "reports/report_formats.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/util/json.hpp"
#include "reports/report_text.hpp"

namespace gatedrill {

namespace {

double ms(int64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

double run_seconds(const RunRecord& run) {
  return run.ended_ms > run.started_ms ? static_cast<double>(run.ended_ms - run.started_ms) / 1000.0
                                       : 0;
}

std::string target_text(double rate) {
  return rate > 0 ? strprintf("%.0f", rate) : std::string("max");
}

std::string iso_time(int64_t wall_ms) {       // JUnit's timestamp: ISO 8601 without a zone
  std::string t = format_wall_time(wall_ms);  // "YYYY-MM-DD HH:MM:SS UTC"
  t = t.substr(0, 19);
  t[10] = 'T';
  return t;
}

// {"50": ns, "99.9": ns, ...}: the phase's percentile spectrum.
boost::json::object spectrum_json(const PhaseReport& p) {
  boost::json::object o;
  for (const auto& [q, ns] : p.spectrum) o[strprintf("%g", q)] = ns;
  return o;
}

std::string upper(std::string text) {
  for (char& c : text)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return text;
}

}  // namespace

bool verdict_passed(const RunRecord& run) {
  return run.verdict == "pass";
}

std::string render_markdown(const RunSummary& s) {
  const RunRecord& r = s.run;
  std::string out = strprintf("### gatedrill run %lld: %s %s\n\n", static_cast<long long>(r.id),
                              md_cell(r.name).c_str(),
                              verdict_passed(r) ? "✅ PASS" : ("❌ " + upper(r.verdict)).c_str());
  out += strprintf("`%s` · started %s · %.0f s · git `%s` · host `%s`\n\n",
                   md_cell(r.scenario).c_str(), format_wall_time(r.started_ms).c_str(),
                   run_seconds(r), md_cell(r.git_describe).c_str(), md_cell(r.host).c_str());
  if (!r.params_json.empty() && r.params_json != "{}")
    out += "params: `" + md_cell(r.params_json) + "`\n\n";
  out +=
      "| phase | target/s | achieved/s | requests | p50 | p90 | p99 | p99.9 | max | errors | 4xx | "
      "5xx |\n";
  out += "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const auto& p : s.phases) {
    out += strprintf("| %s | %s | %.0f | %lld | %s | %s | %s | %s | %s | %s | %lld | %lld |\n",
                     md_cell(p.name).c_str(), target_text(p.target_rate).c_str(), p.rps,
                     static_cast<long long>(p.requests), format_latency_ns(p.p50_ns).c_str(),
                     format_latency_ns(p.p90_ns).c_str(), format_latency_ns(p.p99_ns).c_str(),
                     format_latency_ns(p.p999_ns).c_str(), format_latency_ns(p.max_ns).c_str(),
                     format_share(p.error_rate()).c_str(), static_cast<long long>(p.status_4xx),
                     static_cast<long long>(p.status_5xx));
  }
  if (!s.thresholds.empty()) {
    out += "\n| | check | observed |\n|---|---|--:|\n";
    for (const auto& t : s.thresholds)
      out += strprintf("| %s | `%s` | %s |\n", t.pass ? "✅" : "❌", md_cell(t.expression).c_str(),
                       md_cell(t.observed_text).c_str());
  }
  bool any_fault = false;
  for (const auto& e : s.events) {
    if (e.kind != "fault" && e.kind != "restart" && e.kind != "exit") continue;
    if (!any_fault) out += "\n**Events**\n\n";
    any_fault = true;
    out += strprintf(
        "- +%.1fs %s `%s`%s%s\n", s.second_of(e.start_ms), e.kind.c_str(), md_cell(e.name).c_str(),
        e.node.empty() ? "" : (" on " + md_cell(e.node)).c_str(),
        e.end_ms > e.start_ms ? strprintf(" for %.1fs", (e.end_ms - e.start_ms) / 1000.0).c_str()
                              : "");
  }
  return out;
}

std::string render_json(const RunSummary& s) {
  namespace json = boost::json;
  const RunRecord& r = s.run;
  json::object run{{"id", r.id},
                   {"name", r.name},
                   {"scenario", r.scenario},
                   {"verdict", r.verdict},
                   {"exit_code", r.exit_code},
                   {"git_describe", r.git_describe},
                   {"host", r.host},
                   {"started_ms", r.started_ms},
                   {"ended_ms", r.ended_ms},
                   {"duration_s", run_seconds(r)},
                   {"run_dir", r.run_dir}};
  if (auto params = parse_json_object(r.params_json.empty() ? "{}" : r.params_json))
    run["params"] = *params;
  else
    run["params"] = r.params_json;

  json::array phases;
  for (const auto& p : s.phases) {
    json::object status_counts;
    for (const auto& [status, count] : p.status_counts)
      status_counts[std::to_string(status)] = count;
    phases.push_back(json::object{{"name", p.name},
                                  {"target_rate", p.target_rate},
                                  {"seconds", p.seconds},
                                  {"requests", p.requests},
                                  {"rps", p.rps},
                                  {"errors", p.errors},
                                  {"error_rate", p.error_rate()},
                                  {"latency_ns", json::object{{"p50", p.p50_ns},
                                                              {"p90", p.p90_ns},
                                                              {"p99", p.p99_ns},
                                                              {"p999", p.p999_ns},
                                                              {"max", p.max_ns}}},
                                  {"latency_ms", json::object{{"p50", ms(p.p50_ns)},
                                                              {"p90", ms(p.p90_ns)},
                                                              {"p99", ms(p.p99_ns)},
                                                              {"p999", ms(p.p999_ns)},
                                                              {"max", ms(p.max_ns)}}},
                                  {"spectrum_ns", spectrum_json(p)},
                                  {"status_classes", json::object{{"2xx", p.status_2xx},
                                                                  {"3xx", p.status_3xx},
                                                                  {"4xx", p.status_4xx},
                                                                  {"5xx", p.status_5xx}}},
                                  {"status_counts", std::move(status_counts)},
                                  {"connect_errors", p.connect_errors},
                                  {"timeouts", p.timeouts}});
  }
  json::array checks;
  for (const auto& t : s.thresholds)
    checks.push_back(json::object{{"expression", t.expression},
                                  {"pass", t.pass},
                                  {"observed", t.observed},
                                  {"observed_text", t.observed_text},
                                  {"abort_on_fail", t.abort_on_fail}});
  json::array events;
  for (const auto& e : s.events) {
    json::object o{
        {"kind", e.kind},
        {"name", e.name},
        {"node", e.node},
        {"start_ms", e.start_ms},
        {"end_ms", e.end_ms},
        {"start_s", s.second_of(e.start_ms)},
        {"end_s", e.end_ms > 0 ? json::value(s.second_of(e.end_ms)) : json::value(nullptr)}};
    if (auto detail = parse_json(e.detail_json.empty() ? "{}" : e.detail_json))
      o["detail"] = *detail;
    else
      o["detail"] = e.detail_json;
    events.push_back(std::move(o));
  }
  json::array nodes;
  for (const auto& n : s.nodes) nodes.push_back(json::value(n));
  json::object root{{"run", std::move(run)},
                    {"phases", std::move(phases)},
                    {"checks", std::move(checks)},
                    {"events", std::move(events)},
                    {"nodes", std::move(nodes)}};
  return to_json(root) + "\n";
}

std::string render_junit(const RunSummary& s) {
  const RunRecord& r = s.run;
  // Jenkins reads dots in a classname as packages: keep the scenario name one segment.
  std::string classname = "gatedrill." + (r.name.empty() ? std::string("run") : r.name);
  for (size_t i = 10; i < classname.size(); ++i)
    if (classname[i] == '.' || classname[i] == ' ') classname[i] = '_';
  std::string cases;
  int tests = 0, failures = 0, errors = 0;
  for (const auto& t : s.thresholds) {
    ++tests;
    cases += strprintf("    <testcase name=\"%s\" classname=\"%s\" time=\"0\">\n",
                       xml_escape(t.expression).c_str(), xml_escape(classname).c_str());
    if (!t.pass) {
      ++failures;
      std::string message = "observed " + t.observed_text;
      cases += strprintf("      <failure message=\"%s\" type=\"threshold\">%s: %s%s</failure>\n",
                         xml_escape(message).c_str(), xml_escape(t.expression).c_str(),
                         xml_escape(message).c_str(), t.abort_on_fail ? " (aborted the run)" : "");
    } else {
      cases += strprintf("      <system-out>observed %s</system-out>\n",
                         xml_escape(t.observed_text).c_str());
    }
    cases += "    </testcase>\n";
  }
  bool run_error = r.verdict == "error" || r.verdict == "aborted" || r.verdict == "running";
  if (run_error || s.thresholds.empty()) {
    ++tests;
    cases += strprintf("    <testcase name=\"run\" classname=\"%s\" time=\"%.3f\">\n",
                       xml_escape(classname).c_str(), run_seconds(r));
    if (run_error) {
      ++errors;
      std::string message = "the run ended with verdict " + r.verdict + " (exit code " +
                            std::to_string(r.exit_code) + ")";
      cases += strprintf("      <error message=\"%s\" type=\"run\">%s</error>\n",
                         xml_escape(message).c_str(), xml_escape(message).c_str());
    }
    cases += "    </testcase>\n";
  }
  std::string properties;
  auto property = [&](const char* name, const std::string& value) {
    properties +=
        strprintf("      <property name=\"%s\" value=\"%s\"/>\n", name, xml_escape(value).c_str());
  };
  property("run_id", std::to_string(r.id));
  property("scenario", r.scenario);
  property("verdict", r.verdict);
  property("git_describe", r.git_describe);
  property("params", r.params_json);
  std::string suite_name = xml_escape("gatedrill run " + std::to_string(r.id) + " " + r.name);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += strprintf(
      "<testsuites name=\"gatedrill\" tests=\"%d\" failures=\"%d\" errors=\"%d\" time=\"%.3f\">\n",
      tests, failures, errors, run_seconds(r));
  out += strprintf(
      "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"0\" "
      "time=\"%.3f\" "
      "timestamp=\"%s\" hostname=\"%s\">\n",
      suite_name.c_str(), tests, failures, errors, run_seconds(r), iso_time(r.started_ms).c_str(),
      xml_escape(r.host.empty() ? "localhost" : r.host).c_str());
  out += "    <properties>\n" + properties + "    </properties>\n";
  out += cases;
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

Result<std::string> render_report(const RunSummary& summary, std::string_view format) {
  if (format == "text") return format_run_summary(summary);
  if (format == "md" || format == "markdown") return render_markdown(summary);
  if (format == "json") return render_json(summary);
  if (format == "junit") return render_junit(summary);
  if (format == "html") return render_html(summary);
  return make_error("bad_format",
                    "unknown format '" + std::string(format) + "' (text, md, json, html, junit)");
}

}  // namespace gatedrill

// The HTML report: one self-contained page (inline CSS and SVG; no scripts, no fonts or images
// from the network) that can be attached to a CI job or mailed around.
#include <algorithm>
#include <cmath>
#include <iterator>

#include "reports/report_formats.hpp"
#include "reports/report_text.hpp"
#include "reports/svg_chart.hpp"

namespace gatedrill {

namespace {

constexpr const char* kCss = R"css(
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--pass:#1e8e3e;--fail:#c5221f;--warn:#b06000}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1040px;margin:0 auto;padding:24px 20px 40px}
header{background:#fff;border:1px solid var(--line);border-radius:8px;padding:18px 22px;margin-bottom:18px}
h1{font-size:22px;margin:0 0 4px;display:flex;align-items:center;gap:12px}
h2{font-size:16px;margin:26px 0 10px}
.badge{font-size:13px;font-weight:600;letter-spacing:.04em;padding:3px 10px;border-radius:12px;color:#fff;text-transform:uppercase}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.other{background:var(--warn)}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:6px 18px;margin:12px 0 0}
.meta div{color:var(--muted);font-size:12px}.meta b{display:block;color:var(--fg);font-size:13px;font-weight:500;overflow-wrap:anywhere}
table{width:100%;font-size:13px;border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-size:12px;color:var(--muted);font-weight:600}
td.l,th.l{text-align:left}td.wrap{white-space:normal;word-break:break-word}
tr:last-child td{border-bottom:0}
td.pass{color:var(--pass);font-weight:600}td.fail{color:var(--fail);font-weight:600}
tr.fail td{background:#fdecea}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:6px 8px;margin-bottom:12px}
svg.chart{width:100%;height:auto;display:block;font-size:11px}
svg .plot{fill:#fff}svg .grid{stroke:#eef0f3}svg .tick,svg .axis{stroke:#9aa5b1}
svg .ctitle{font-size:13px;font-weight:600;fill:var(--fg)}svg .legend{fill:var(--muted)}
svg .ylabel{text-anchor:end;fill:var(--muted)}svg .xlabel{text-anchor:middle;fill:var(--muted)}
svg .line{fill:none;stroke-width:1.8;stroke-linejoin:round}svg .line.dashed{stroke-dasharray:5 4;stroke-width:1.4}
svg .area{opacity:.88}
svg .fault{fill:#d93025;fill-opacity:.10;stroke:#d93025;stroke-opacity:.35;stroke-dasharray:3 3}
svg .flabel{fill:#a50e0e;font-weight:600}svg .flabel,svg .mlabel{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg line.phase{stroke:#7b8794;stroke-dasharray:2 3}svg line.event{stroke:#8e24aa;stroke-width:1.5}
svg .mlabel{fill:var(--muted)}svg .mlabel.event{fill:#8e24aa}
.empty{color:var(--muted);font-style:italic}
td.worse{color:var(--fail);font-weight:600}td.better{color:var(--pass);font-weight:600}
footer{color:var(--muted);font-size:12px;margin-top:28px}
)css";

const char* const kNodeColors[] = {"#1a73e8", "#e8710a", "#12b5cb", "#9334e6",
                                   "#188038", "#d01884", "#7cb342", "#5f6368"};

std::string h(std::string_view text) {
  return xml_escape(text);
}

// Axis ticks are round numbers: "100us", "2ms", "1s" (no trailing zeros).
std::string latency_label_us(double us) {
  if (us < 1000) return strprintf("%gus", us);
  if (us < 1e6) return strprintf("%gms", us / 1e3);
  return strprintf("%gs", us / 1e6);
}

std::string rate_label(double v) {
  if (v >= 1e6) return strprintf("%gM", v / 1e6);
  if (v >= 1e3) return strprintf("%gk", v / 1e3);
  return strprintf("%g", v);
}

// The chart furniture every chart shares: the x range, phase boundaries, fault windows, and
// restarts/exits as markers.
void decorate(SvgChart& chart, const RunSummary& s, double x_end) {
  chart.set_x_range(0, x_end);
  for (const auto& p : s.phase_records)
    chart.add_marker(s.second_of(p.started_ms), p.name, "phase");
  for (const auto& e : s.events) {
    if (e.kind == "fault") {
      double end = e.end_ms > e.start_ms ? s.second_of(e.end_ms) : x_end;
      chart.add_window(s.second_of(e.start_ms), end,
                       e.name + (e.node.empty() ? "" : " @" + e.node));
    } else if (e.kind == "restart" || e.kind == "exit") {
      chart.add_marker(s.second_of(e.start_ms), e.name + " " + e.node, "event");
    }
  }
}

ChartLine series(const std::vector<const SampleRecord*>& samples, std::string name,
                 std::string color, double (*value)(const SampleRecord&)) {
  ChartLine line{std::move(name), std::move(color), {}, false, false};
  for (const auto* s : samples)
    line.points.emplace_back(static_cast<double>(s->second) + 0.5, value(*s));
  return line;
}

// A percentile's place on a "nines" axis: 90% -> 1, 99% -> 2, 99.9% -> 3 (HdrHistogram's plots).
double nines(double percentile) {
  return -std::log10(1.0 - percentile / 100.0);
}

SvgChart spectrum_chart(std::string title) {
  SvgChart chart(std::move(title));
  chart.set_x_range(0, nines(99.999) + 0.2);  // room for the last label
  chart.set_x_ticks({{nines(50), "p50"},
                     {nines(90), "p90"},
                     {nines(99), "p99"},
                     {nines(99.9), "p99.9"},
                     {nines(99.99), "p99.99"},
                     {nines(99.999), "p99.999"}});
  chart.set_log_y(true);
  chart.set_y_format(latency_label_us);
  return chart;
}

ChartLine spectrum_line(const PhaseReport& p, std::string name, std::string color, bool dashed) {
  ChartLine line{std::move(name), std::move(color), {}, dashed, false};
  for (const auto& [q, ns] : p.spectrum)
    line.points.emplace_back(nines(q), static_cast<double>(ns) / 1000.0);
  return line;
}

double x_end_of(const RunSummary& s) {
  auto all = s.node_samples("all");
  double x_end = all.empty() ? 1.0 : static_cast<double>(all.back()->second + 1);
  for (const auto& p : s.phase_records) x_end = std::max(x_end, s.second_of(p.ended_ms));
  return x_end;
}

std::string charts(const RunSummary& s) {
  auto all = s.node_samples("all");
  if (all.empty())
    return "<p class=\"empty\">No per-second samples were recorded for this run.</p>\n";
  double x_end = x_end_of(s);
  bool several = s.nodes.size() > 1;
  std::string out;
  auto card = [&out](const SvgChart& chart) {
    out += "<div class=\"card\">" + chart.render() + "</div>\n";
  };

  SvgChart rps("Throughput: achieved vs target (requests/s)");
  decorate(rps, s, x_end);
  rps.set_y_format(rate_label);
  ChartLine target{"target", "#7b8794", {}, true, true};
  for (const auto& p : s.phase_records)
    if (p.target_rate > 0) target.points.emplace_back(s.second_of(p.started_ms), p.target_rate);
  if (!target.points.empty()) rps.add_line(std::move(target));
  rps.add_line(series(all, several ? "achieved (all)" : "achieved", "#1a73e8",
                      [](const SampleRecord& r) { return static_cast<double>(r.requests); }));
  if (several) {
    size_t i = 1;
    for (const auto& node : s.nodes)
      rps.add_line(series(s.node_samples(node), node, kNodeColors[i++ % std::size(kNodeColors)],
                          [](const SampleRecord& r) { return static_cast<double>(r.requests); }));
  }
  card(rps);

  SvgChart latency("Latency per second: p50 / p99 / p99.9 (log scale)");
  decorate(latency, s, x_end);
  latency.set_log_y(true);
  latency.set_y_format(latency_label_us);
  latency.add_line(series(all, "p50", "#188038", [](const SampleRecord& r) { return r.p50_us; }));
  latency.add_line(series(all, "p99", "#e8710a", [](const SampleRecord& r) { return r.p99_us; }));
  latency.add_line(
      series(all, "p99.9", "#c5221f", [](const SampleRecord& r) { return r.p999_us; }));
  card(latency);

  SvgChart spectrum =
      spectrum_chart("Latency by percentile, per phase (merged histograms, log scale)");
  size_t color = 0;
  for (const auto& p : s.phases)
    if (!p.spectrum.empty())
      spectrum.add_line(
          spectrum_line(p, p.name, kNodeColors[color++ % std::size(kNodeColors)], false));
  card(spectrum);

  SvgChart status("Responses by status class (share of each second)");
  decorate(status, s, x_end);
  status.set_y_range(0, 100);
  status.set_y_format([](double v) { return strprintf("%g%%", v); });
  struct Layer {
    const char* name;
    const char* color;
    int64_t (*count)(const SampleRecord&);
  };
  const Layer layers[] = {
      {"2xx", "#34a853", [](const SampleRecord& r) { return r.status_2xx; }},
      {"3xx", "#4ecde6", [](const SampleRecord& r) { return r.status_3xx; }},
      {"4xx", "#fbbc04", [](const SampleRecord& r) { return r.status_4xx; }},
      {"5xx", "#ea4335", [](const SampleRecord& r) { return r.status_5xx; }},
      {"connect errors + timeouts", "#8e24aa",
       [](const SampleRecord& r) { return r.connect_errors + r.timeouts; }},
  };
  std::vector<ChartLine> stacked;
  for (const auto& layer : layers) {
    ChartLine line{layer.name, layer.color, {}, false, true};  // step: a share per second
    for (const auto* r : all) {
      double total = static_cast<double>(r->status_2xx + r->status_3xx + r->status_4xx +
                                         r->status_5xx + r->connect_errors + r->timeouts);
      line.points.emplace_back(
          static_cast<double>(r->second),
          total > 0 ? 100.0 * static_cast<double>(layer.count(*r)) / total : 0);
    }
    stacked.push_back(std::move(line));
  }
  status.add_stacked(std::move(stacked));
  card(status);

  if (several) {
    SvgChart per_node("p99 latency per node (log scale)");
    decorate(per_node, s, x_end);
    per_node.set_log_y(true);
    per_node.set_y_format(latency_label_us);
    size_t i = 1;
    for (const auto& node : s.nodes)
      per_node.add_line(series(s.node_samples(node), node,
                               kNodeColors[i++ % std::size(kNodeColors)],
                               [](const SampleRecord& r) { return r.p99_us; }));
    card(per_node);
  }
  bool has_cpu = std::any_of(s.samples.begin(), s.samples.end(), [](const SampleRecord& r) {
    return r.node != "all" && r.cpu_pct > 0;
  });
  if (has_cpu) {
    SvgChart cpu("Gateway CPU per node (% of one core)");
    decorate(cpu, s, x_end);
    cpu.set_y_format([](double v) { return strprintf("%g%%", v); });
    size_t i = 1;
    for (const auto& node : s.nodes)
      cpu.add_line(series(s.node_samples(node), node, kNodeColors[i++ % std::size(kNodeColors)],
                          [](const SampleRecord& r) { return r.cpu_pct; }));
    card(cpu);
  }
  return out;
}

std::string phase_table(const RunSummary& s) {
  std::string out =
      "<table><tr><th "
      "class=\"l\">phase</th><th>target/s</th><th>achieved/s</th><th>requests</th><th>p50</th>"
      "<th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th><th>2xx</th><th>3xx</"
      "th><th>4xx</th>"
      "<th>5xx</th><th>conn. err</th><th>timeouts</th></tr>\n";
  for (const auto& p : s.phases) {
    out += strprintf(
        "<tr><td "
        "class=\"l\">%s</td><td>%s</td><td>%.0f</td><td>%lld</td><td>%s</td><td>%s</td><td>%s</"
        "td><td>%s</td>"
        "<td>%s</td><td>%s</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</"
        "td><td>%lld</td></tr>\n",
        h(p.name).c_str(), p.target_rate > 0 ? strprintf("%.0f", p.target_rate).c_str() : "max",
        p.rps, static_cast<long long>(p.requests), format_latency_ns(p.p50_ns).c_str(),
        format_latency_ns(p.p90_ns).c_str(), format_latency_ns(p.p99_ns).c_str(),
        format_latency_ns(p.p999_ns).c_str(), format_latency_ns(p.max_ns).c_str(),
        format_share(p.error_rate()).c_str(), static_cast<long long>(p.status_2xx),
        static_cast<long long>(p.status_3xx), static_cast<long long>(p.status_4xx),
        static_cast<long long>(p.status_5xx), static_cast<long long>(p.connect_errors),
        static_cast<long long>(p.timeouts));
  }
  return out + "</table>\n";
}

std::string checks_table(const RunSummary& s) {
  if (s.thresholds.empty())
    return "<p class=\"empty\">The scenario declares no thresholds or expectations.</p>\n";
  std::string out =
      "<table><tr><th class=\"l\">result</th><th class=\"l\">threshold / expectation</th>"
      "<th>observed</th></tr>\n";
  for (const auto& t : s.thresholds) {
    out += strprintf(
        "<tr class=\"%s\"><td class=\"l %s\">%s</td><td class=\"l wrap\"><code>%s</code>%s</td>"
        "<td>%s</td></tr>\n",
        t.pass ? "pass" : "fail", t.pass ? "pass" : "fail", t.pass ? "PASS" : "FAIL",
        h(t.expression).c_str(), t.abort_on_fail ? " <small>(aborts)</small>" : "",
        h(t.observed_text).c_str());
  }
  return out + "</table>\n";
}

std::string events_table(const RunSummary& s) {
  if (s.events.empty())
    return "<p class=\"empty\">No events: no faults were injected and no process restarted.</p>\n";
  std::string out =
      "<table><tr><th>at (since load start)</th><th>duration</th><th class=\"l\">kind</th><th "
      "class=\"l\">name</th>"
      "<th class=\"l\">node</th><th class=\"l\">detail</th></tr>\n";
  for (const auto& e : s.events) {
    std::string duration =
        e.end_ms > e.start_ms ? strprintf("%.1fs", (e.end_ms - e.start_ms) / 1000.0) : "";
    out += strprintf(
        "<tr><td>+%.1fs</td><td>%s</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td "
        "class=\"l\">%s</td>"
        "<td class=\"l wrap\"><code>%s</code></td></tr>\n",
        s.second_of(e.start_ms), duration.c_str(), h(e.kind).c_str(), h(e.name).c_str(),
        h(e.node).c_str(), h(e.detail_json == "{}" ? "" : e.detail_json).c_str());
  }
  return out + "</table>\n";
}

}  // namespace

std::string render_html(const RunSummary& s) {
  const RunRecord& r = s.run;
  std::string badge = verdict_passed(r) ? "pass" : (r.verdict == "fail" ? "fail" : "other");
  double seconds =
      r.ended_ms > r.started_ms ? static_cast<double>(r.ended_ms - r.started_ms) / 1000.0 : 0;
  std::string title = "gatedrill run " + std::to_string(r.id) + ": " + r.name;
  std::string out;
  out += "<header><h1>" + h(r.name.empty() ? r.scenario : r.name) + " <span class=\"badge " +
         badge + "\">" + h(r.verdict) + "</span></h1>\n<div class=\"meta\">\n";
  auto meta = [&out](const char* label, const std::string& value) {
    out += strprintf("<div>%s<b>%s</b></div>\n", label, h(value.empty() ? "-" : value).c_str());
  };
  meta("run", std::to_string(r.id));
  meta("scenario", r.scenario);
  meta("started", format_wall_time(r.started_ms));
  meta("duration", seconds > 0 ? strprintf("%.0f s", seconds) : "");
  meta("git describe", r.git_describe);
  meta("host", r.host);
  meta("exit code", std::to_string(r.exit_code));
  meta("gateway nodes", s.nodes.empty() ? "" : std::to_string(s.nodes.size()));
  meta("parameters", r.params_json == "{}" ? "" : r.params_json);
  out += "</div></header>\n";
  out += "<h2>Phases</h2>\n" + phase_table(s);
  out += "<h2>Thresholds and expectations</h2>\n" + checks_table(s);
  out += "<h2>Over time</h2>\n" + charts(s);
  out += "<h2>Events</h2>\n" + events_table(s);
  out +=
      "<footer>Latency percentiles per phase come from the merged per-second HDR histograms "
      "(exact, not "
      "averaged); chart lines are per-second percentiles. Shaded: fault windows. Generated by "
      "gatedrill " +
      h(r.git_describe) + ".</footer>\n";
  return html_page(title, out);
}

std::string render_comparison_charts(const RunSummary& base, const RunSummary& candidate) {
  auto b = base.node_samples("all"), c = candidate.node_samples("all");
  if (b.empty() || c.empty())
    return "<p class=\"empty\">A run has no per-second samples to chart.</p>\n";
  double x_end = std::max(x_end_of(base), x_end_of(candidate));
  std::string base_name = "base (run " + std::to_string(base.run.id) + ")";
  std::string cand_name = "candidate (run " + std::to_string(candidate.run.id) + ")";
  auto requests = [](const SampleRecord& r) { return static_cast<double>(r.requests); };
  auto p99 = [](const SampleRecord& r) { return r.p99_us; };

  SvgChart rps("Throughput (requests/s): base vs candidate");
  decorate(rps, candidate, x_end);
  rps.set_y_format(rate_label);
  rps.add_line(series(b, base_name, "#7b8794", requests));
  rps.add_line(series(c, cand_name, "#1a73e8", requests));
  SvgChart latency("p99 latency per second (log scale): base vs candidate");
  decorate(latency, candidate, x_end);
  latency.set_log_y(true);
  latency.set_y_format(latency_label_us);
  latency.add_line(series(b, base_name, "#7b8794", p99));
  latency.add_line(series(c, cand_name, "#e8710a", p99));
  SvgChart spectrum =
      spectrum_chart("Latency by percentile, per phase: base dashed, candidate solid");
  size_t color = 0;
  for (const auto& p : base.phases) {
    const PhaseReport* other = candidate.phase(p.name);
    if (!other || p.spectrum.empty() || other->spectrum.empty()) continue;
    std::string c = kNodeColors[color++ % std::size(kNodeColors)];
    ChartLine dashed = spectrum_line(p, p.name + " base", c, true);
    dashed.in_legend = false;  // the title says dashed is the base; one legend entry a phase
    spectrum.add_line(std::move(dashed));
    spectrum.add_line(spectrum_line(*other, p.name, c, false));
  }
  return "<div class=\"card\">" + rps.render() + "</div>\n<div class=\"card\">" + latency.render() +
         "</div>\n<div class=\"card\">" + spectrum.render() + "</div>\n";
}

std::string html_page(const std::string& title, const std::string& body) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + h(title) + "</title>\n<style>" + std::string(kCss) +
         "</style></head>\n<body><main>\n";
  return out + body + "</main></body></html>\n";
}

}  // namespace gatedrill

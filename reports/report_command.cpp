#include "reports/report_command.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include "core/util/cli.hpp"
#include "reports/regression_gate.hpp"
#include "reports/report_formats.hpp"
#include "reports/run_compare.hpp"
#include "reports/run_ref.hpp"

namespace gatedrill {

namespace {

constexpr int kExitRegression = 99;

Result<void> write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return make_error("write_failed", "cannot write " + path);
  return {};
}

// To the file, or to stdout when path is empty or "-".
int emit(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  if (auto written = write_file(path, text); !written) {
    std::fprintf(stderr, "error: %s\n", written.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s\n", path.c_str());
  return 0;
}

int fail(const Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.c_str());
  return e.code == "bad_run" || e.code == "bad_format" || e.code == "bad_option" ? 2 : 1;
}

// "10%" -> 0.10; a bare number is read as percent too ("10" -> 0.10).
bool parse_percent(const std::string& text, double& out) {
  std::string t = text;
  if (!t.empty() && t.back() == '%') t.pop_back();
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0' || !(v >= 0) || v > 1e6) return false;
  out = v / 100.0;
  return true;
}

// ArgParser spells options --name; accept the customary -o for --output as well.
std::vector<char*> with_long_output(int argc, char** argv) {
  std::vector<char*> out(argv, argv + argc);
  for (auto& a : out)
    if (std::string_view(a) == "-o") a = const_cast<char*>("--output");
  return out;
}

int list_runs(const std::string& db) {
  auto reader = ResultsReader::open(db);
  if (!reader) return fail(make_error(reader.error().code, db + ": " + reader.error().message));
  auto runs = (*reader)->runs();
  if (!runs) return fail(runs.error());
  std::printf("%6s  %-24s %-8s %s\n", "run", "name", "verdict", "scenario");
  for (const auto& r : *runs)
    std::printf("%6lld  %-24s %-8s %s\n", static_cast<long long>(r.id), r.name.c_str(),
                r.verdict.c_str(), r.scenario.c_str());
  return 0;
}

}  // namespace

int report_command(int argc, char** argv) {
  std::string db = "results.db", run = "latest", format = "text", output;
  bool list = false;
  ArgParser args(
      "report",
      "Reports a run: per phase RPS, latency percentiles (from merged histograms) and errors\n"
      "by status; thresholds with what was observed; fault events. Formats: text (default),\n"
      "md (PR comments), json, html (one self-contained file with charts), junit (CI).");
  args.positional("RUN", &run, "run id, latest (default), a results database or DB:ID", false);
  args.option("db", &db, "results database (default results.db)");
  args.option("format", &format, "text | md | json | html | junit (default text)");
  args.option("output", &output, "(or -o) write to this file instead of stdout");
  args.flag("list", &list, "list the runs in the database instead");
  auto argv2 = with_long_output(argc, argv);
  if (int code = parse_or_exit_code(args, argc, argv2.data()); code >= 0) return code;
  if (list) return list_runs(db);

  auto summary = load_run(run, db);
  if (!summary) return fail(summary.error());
  auto text = render_report(*summary, format);
  if (!text) return fail(text.error());
  return emit(output, *text);
}

int compare_command(int argc, char** argv) {
  std::string base = "", candidate = "", db = "results.db", db2, format = "text", output;
  ArgParser args(
      "compare",
      "Compares two runs phase by phase: achieved RPS, p50/p90/p99/p99.9/max from each phase's\n"
      "merged histograms (exact), error rate; with deltas and % change.");
  args.positional("BASE", &base, "base run: id, latest, a results database or DB:ID");
  args.positional("CAND", &candidate, "candidate run: id, latest, a results database or DB:ID");
  args.option("db", &db, "results database of BASE (default results.db)");
  args.option("db2", &db2, "results database of CAND (default: --db)");
  args.option("format", &format, "text | md | json | html (default text)");
  args.option("output", &output, "(or -o) write to this file instead of stdout");
  auto argv2 = with_long_output(argc, argv);
  if (int code = parse_or_exit_code(args, argc, argv2.data()); code >= 0) return code;

  auto b = load_run(base, db);
  if (!b) return fail(b.error());
  auto c = load_run(candidate, db2.empty() ? db : db2);
  if (!c) return fail(c.error());
  auto text = render_comparison(compare_runs(std::move(*b), std::move(*c)), format);
  if (!text) return fail(text.error());
  return emit(output, *text);
}

int gate_command(int argc, char** argv) {
  std::string baseline, candidate, db = "results.db", max_regression = "10%", max_errors, junit,
                                   markdown;
  std::string alpha = "0.05";
  std::vector<std::string> phases;
  GateOptions options;
  ArgParser args(
      "gate",
      "CI regression gate: fails when a phase's latency metric (from merged histograms) grew\n"
      "by more than the allowance AND the per-second values are higher beyond run-to-run noise\n"
      "(one-sided Mann-Whitney U, p < --alpha, with >= 5 seconds per run), or when the error\n"
      "rate grew by more than --max-error-rate-increase.\n"
      "Exit status: 0 pass, 99 regression, 1 error, 2 usage.");
  args.option("baseline", &baseline,
              "baseline run: id, latest, a results database (its latest run) or DB:ID");
  args.option("candidate", &candidate, "candidate run: id, latest, a results database or DB:ID");
  args.option("db", &db, "results database for bare run ids (default results.db)");
  args.option("max-p99-regression", &max_regression,
              "allowed growth of the metric, e.g. 10% (default 10%)");
  args.option("max-regression", &max_regression, "the same as --max-p99-regression");
  args.option("metric", &options.metric, "p50 | p90 | p99 | p999 | max (default p99)");
  args.option("max-error-rate-increase", &max_errors,
              "allowed error-rate increase in points, e.g. 0.1%");
  args.repeated("phase", &phases,
                "phase to compare (repeatable; default every phase both runs have)");
  args.option("alpha", &alpha,
              "significance level of the noise test; 0 disables it (default 0.05)");
  args.option("junit", &junit, "also write the result as JUnit XML to this file");
  args.option("md", &markdown, "also write the result as Markdown (a PR comment) to this file");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  if (baseline.empty() || candidate.empty()) {
    std::fprintf(stderr, "error: gate needs --baseline and --candidate\n%s", args.usage().c_str());
    return 2;
  }
  if (!parse_percent(max_regression, options.max_regression)) {
    std::fprintf(stderr, "error: --max-p99-regression takes a percentage like 10%%, got '%s'\n",
                 max_regression.c_str());
    return 2;
  }
  if (!max_errors.empty() && !parse_percent(max_errors, options.max_error_rate_increase)) {
    std::fprintf(stderr,
                 "error: --max-error-rate-increase takes a percentage like 0.1%%, got '%s'\n",
                 max_errors.c_str());
    return 2;
  }
  char* end = nullptr;
  options.alpha = std::strtod(alpha.c_str(), &end);
  if (alpha.empty() || *end != '\0' || !(options.alpha >= 0 && options.alpha < 1)) {
    std::fprintf(stderr, "error: --alpha takes a number in [0, 1), got '%s'\n", alpha.c_str());
    return 2;
  }
  options.phases = phases;

  auto b = load_run(baseline, db);
  if (!b) return fail(b.error());
  auto c = load_run(candidate, db);
  if (!c) return fail(c.error());
  auto result = evaluate_gate(*b, *c, options);
  if (!result) return fail(result.error());
  std::fputs(format_gate_text(*result, *b, *c).c_str(), stdout);
  if (!junit.empty()) {
    if (auto written = write_file(junit, render_gate_junit(*result, *b, *c)); !written)
      return fail(written.error());
  }
  if (!markdown.empty()) {
    if (auto written = write_file(markdown, format_gate_markdown(*result, *b, *c)); !written)
      return fail(written.error());
  }
  return result->pass() ? 0 : kExitRegression;
}

Result<std::vector<std::string>> write_run_reports(const RunSummary& summary,
                                                   const std::string& dir) {
  std::vector<std::string> paths{dir + "/report.html", dir + "/junit.xml"};
  if (auto w = write_file(paths[0], render_html(summary)); !w) return w.error();
  if (auto w = write_file(paths[1], render_junit(summary)); !w) return w.error();
  return paths;
}

}  // namespace gatedrill

#pragma once
// The formats of `gatedrill report`: text (the terminal summary), Markdown (PR comments), JSON
// (machine-readable, percentiles per phase), JUnit XML (CI test results: one testcase per
// threshold/expectation) and a self-contained HTML page with inline SVG charts.
#include <string>
#include <string_view>

#include "core/util/result.hpp"
#include "reports/run_summary.hpp"

namespace gatedrill {

std::string render_markdown(const RunSummary& summary);
std::string render_json(const RunSummary& summary);
// One <testsuite> for the run inside <testsuites>; a check that failed is a <failure> whose
// message holds the observed value. A run that ended in error (or was aborted) adds a "run"
// testcase with an <error>; a run with no checks adds a passing "run" testcase.
std::string render_junit(const RunSummary& summary);
std::string render_html(const RunSummary& summary);

// Charts of two runs over the same axis (seconds since each load start): throughput and p99 of
// the base against the candidate, with the candidate's fault windows shaded.
std::string render_comparison_charts(const RunSummary& base, const RunSummary& candidate);

// A complete HTML page with the reports' stylesheet around body (used by report and compare).
std::string html_page(const std::string& title, const std::string& body);

// format: text | md | json | html | junit. Errors: "bad_format".
Result<std::string> render_report(const RunSummary& summary, std::string_view format);

// The verdict in upper case and whether it counts as passed.
bool verdict_passed(const RunRecord& run);

}  // namespace gatedrill

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "report_fixture.hpp"
#include "reports/report_command.hpp"
#include "reports/report_formats.hpp"
#include "reports/run_compare.hpp"
#include "reports/run_ref.hpp"
#include "reports/svg_chart.hpp"

namespace gatedrill {
namespace {

using namespace testing;  // the fixture helpers

// Within the histogram's precision (3 significant digits).
void expect_near_ns(int64_t actual, int64_t expected) {
  EXPECT_NEAR(static_cast<double>(actual), static_cast<double>(expected),
              static_cast<double>(expected) * 0.002);
}

class ReportsTest : public ::testing::Test {
 protected:
  RunSummary load(const FixtureRun& f) {
    int64_t id = add_fixture_run(db_, f);
    auto s = load_run(std::to_string(id), db_);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? *s : RunSummary{};
  }
  TempDir dir_;
  std::string db_ = dir_.path("results.db");
};

TEST_F(ReportsTest, PhasePercentilesComeFromMergedHistograms) {
  // Steady: 10 s of 99 x 1 ms and 1 x 50 ms. Merged: p50 = p99 = 1 ms, p99.9 = max = 50 ms.
  // An average of per-second p99.9s would say the same here, so one second also gets 20 slow
  // values: merged p99 becomes 50 ms only because the merge sees all 1000 values at once.
  FixtureRun f;
  f.errors_5xx_per_second = 2;
  f.latencies = [](int64_t second) {
    std::vector<int64_t> v(second == 7 ? 80 : 99, 1'000'000);
    v.resize(100, 50'000'000);
    return v;
  };
  RunSummary s = load(f);
  ASSERT_EQ(s.phases.size(), 2u);
  const PhaseReport& steady = s.phases[1];
  EXPECT_EQ(steady.name, "steady");
  EXPECT_EQ(steady.seconds, 10);
  EXPECT_EQ(steady.requests, 1000);
  EXPECT_DOUBLE_EQ(steady.rps, 100);
  EXPECT_EQ(steady.latency_count, 1000);
  expect_near_ns(steady.p50_ns, 1'000'000);
  expect_near_ns(steady.p90_ns, 1'000'000);
  expect_near_ns(steady.p99_ns, 50'000'000);  // 29 slow of 1000: the 990th value is slow
  expect_near_ns(steady.max_ns, 50'000'000);
  ASSERT_EQ(steady.spectrum.size(), 16u);
  EXPECT_EQ(steady.spectrum[12].first, 99.9);
  EXPECT_EQ(steady.spectrum[12].second, steady.p999_ns);
  EXPECT_EQ(steady.spectrum[10].second, steady.p99_ns);
  EXPECT_EQ(steady.status_5xx, 20);
  EXPECT_EQ(steady.status_2xx, 980);
  EXPECT_EQ(steady.status_counts.at(503), 20);
  EXPECT_DOUBLE_EQ(steady.error_rate(), 0.02);
  EXPECT_EQ(s.load_start_ms, testing::kLoadStartMs);
  EXPECT_EQ(s.thresholds.size(), 2u);
}

TEST_F(ReportsTest, HtmlIsSelfContainedWellFormedAndShadesTheFaultWindowAtItsTime) {
  FixtureRun f;
  f.nodes = 2;
  RunSummary s = load(f);
  std::string html = render_html(s);
  EXPECT_EQ(check_well_formed(html), "");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(count_of(html, "http://"), count_of(html, "<svg "));  // only the SVG namespace
  // Throughput, latency, status share, per-node p99 and CPU over time: five charts, each shading
  // the fault (seconds 5..8 of an axis 0..12); and the percentile spectrum (no time axis).
  EXPECT_EQ(count_of(html, "<svg "), 6);
  EXPECT_NE(html.find(">p99.999</text>"), std::string::npos);
  SvgChart axis("axis");
  axis.set_x_range(0, 12);
  char expected[96];
  std::snprintf(expected, sizeof expected, "<rect class=\"fault\" x=\"%.1f\"", axis.x_pixel(5));
  EXPECT_EQ(count_of(html, expected), 5) << expected;
  std::snprintf(expected, sizeof expected, "width=\"%.1f\"", axis.x_pixel(8) - axis.x_pixel(5));
  EXPECT_GE(count_of(html, expected), 5) << expected;
  EXPECT_GE(count_of(html, ">latency_spike @gw-1</text>"), 5);
  // The header, the tables, escaping of observed text.
  EXPECT_NE(html.find("v0.1-test"), std::string::npos);
  EXPECT_NE(html.find("RATE"), std::string::npos);
  EXPECT_NE(html.find("2.00% &lt;&amp;&gt;"), std::string::npos);
  EXPECT_EQ(count_of(html, "<tr class=\"fail\">"), 1);
  EXPECT_EQ(count_of(html, "<tr class=\"pass\">"), 1);
  EXPECT_NE(html.find(">gw-2</text>"), std::string::npos);  // per-node legend
}

TEST_F(ReportsTest, ARunThatRecordedNothingStillRendersEveryFormat) {
  {
    auto store = ResultsStore::open(db_);
    ASSERT_TRUE(store);
    RunRecord run;
    run.name = "empty";
    run.started_ms = testing::kLoadStartMs;
    auto id = (*store)->begin_run(run);
    ASSERT_TRUE(id);
    ASSERT_TRUE((*store)->end_run(*id, "error", 1, testing::kLoadStartMs + 10));
  }
  auto s = load_run("latest", db_);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->phases.empty());
  for (std::string format : {"text", "md", "json", "html", "junit"}) {
    auto text = render_report(*s, format);
    ASSERT_TRUE(text) << format;
    if (format == "html" || format == "junit") {
      EXPECT_EQ(check_well_formed(*text), "") << format;
    }
  }
  std::string html = render_html(*s);
  EXPECT_NE(html.find("No per-second samples"), std::string::npos);
  EXPECT_EQ(count_of(render_junit(*s), "<error "), 1);
}

TEST_F(ReportsTest, SvgChartMapsTimeToPixelsAndBreaksLinesAtGaps) {
  SvgChart chart("t");
  chart.set_x_range(0, 100);
  EXPECT_DOUBLE_EQ(chart.x_pixel(0), SvgChart::kLeft);
  EXPECT_DOUBLE_EQ(chart.x_pixel(100), SvgChart::kWidth - SvgChart::kRight);
  EXPECT_DOUBLE_EQ(chart.x_pixel(500), SvgChart::kWidth - SvgChart::kRight);  // clamped
  chart.add_line({"a", "#000", {{0, 1}, {1, 2}, {5, 3}, {6, 4}}, false, false});
  std::string svg = chart.render();
  EXPECT_EQ(check_well_formed(svg), "");
  auto d = svg.substr(svg.find(" d=\"") + 4);
  d = d.substr(0, d.find('"'));
  EXPECT_EQ(count_of(d, "M"), 2) << d;  // the 1 -> 5 gap starts a new segment
  EXPECT_EQ(count_of(d, "L"), 2) << d;

  // An hour of seconds is thinned to at most two points per pixel column, spikes kept.
  SvgChart hour("hour");
  hour.set_x_range(0, 3600);
  hour.set_y_range(0, 500);
  ChartLine flat{"flat", "#000", {}, false, false};
  for (int s = 0; s < 3600; ++s) flat.points.emplace_back(s + 0.5, s == 1800 ? 500.0 : 10.0);
  hour.add_line(flat);
  std::string long_svg = hour.render();
  d = long_svg.substr(long_svg.find(" d=\"") + 4);
  d = d.substr(0, d.find('"'));
  EXPECT_EQ(count_of(d, "M"), 1) << "one unbroken line";
  EXPECT_LE(count_of(d, "L") + 1, 2 * static_cast<int>(SvgChart::kWidth)) << d.size();
  EXPECT_GE(count_of(d, "L"), 800);
  EXPECT_NE(d.find(",30.0"), std::string::npos) << "the spike reaches the top of the plot";
}

TEST_F(ReportsTest, JunitHasOneTestcasePerCheckAndFailuresWithTheObservedValue) {
  RunSummary s = load(FixtureRun{});
  std::string xml = render_junit(s);
  EXPECT_EQ(check_well_formed(xml), "");
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_EQ(count_of(xml, "<testsuite "), 1);
  EXPECT_EQ(count_of(xml, "<testcase "), 2);
  EXPECT_EQ(count_of(xml, "<failure "), 1);
  EXPECT_NE(xml.find("tests=\"2\" failures=\"1\" errors=\"0\""), std::string::npos);
  EXPECT_NE(xml.find("<failure message=\"observed 2.00% &lt;&amp;&gt;\""), std::string::npos);
  EXPECT_NE(xml.find("timestamp=\"2027-01-15T07:59:57"), std::string::npos);
  EXPECT_NE(xml.find("classname=\"gatedrill.fixture\""), std::string::npos);

  FixtureRun errored;
  errored.verdict = "error";
  errored.with_thresholds = false;
  xml = render_junit(load(errored));
  EXPECT_EQ(check_well_formed(xml), "");
  EXPECT_EQ(count_of(xml, "<testcase "), 1);
  EXPECT_EQ(count_of(xml, "<error "), 1);
  EXPECT_NE(xml.find("errors=\"1\""), std::string::npos);
}

TEST_F(ReportsTest, JsonAndMarkdownCarryThePercentilesAndChecks) {
  RunSummary s = load(FixtureRun{});
  auto v = boost::json::parse(render_json(s));
  const auto& steady = v.at("phases").at(1).as_object();
  EXPECT_EQ(steady.at("name").as_string(), "steady");
  EXPECT_EQ(steady.at("requests").as_int64(), 1000);
  EXPECT_NEAR(static_cast<double>(steady.at("latency_ns").at("p999").as_int64()), 50e6,
              50e6 * 0.002);
  EXPECT_NEAR(steady.at("latency_ms").at("p50").as_double(), 1.0, 0.002);
  EXPECT_EQ(steady.at("spectrum_ns").at("99.9").as_int64(),
            steady.at("latency_ns").at("p999").as_int64());
  EXPECT_EQ(v.at("checks").as_array().size(), 2u);
  EXPECT_EQ(v.at("checks").at(1).at("pass").as_bool(), false);
  EXPECT_EQ(v.at("run").at("params").at("RATE").as_string(), "100");
  EXPECT_DOUBLE_EQ(v.at("events").at(0).at("start_s").as_double(), 5.0);

  std::string md = render_markdown(s);
  EXPECT_NE(md.find("❌ FAIL"), std::string::npos);
  EXPECT_NE(md.find("| steady | 100 | 100 | 1000 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| ❌ | `steady.errors < 0.1%` |"), std::string::npos) << md;
  EXPECT_NE(md.find("latency_spike"), std::string::npos);
}

TEST_F(ReportsTest, ReportCommandWritesEveryFormatAndRejectsBadInput) {
  add_fixture_run(db_, FixtureRun{});
  for (std::string format : {"text", "md", "json", "html", "junit"}) {
    std::string out = dir_.path("report." + format);
    EXPECT_EQ(
        run_cli(report_command, {"report", "latest", "--db", db_, "--format", format, "-o", out}),
        0);
    EXPECT_GT(read_file(out).size(), 200u) << format;
  }
  EXPECT_EQ(run_cli(report_command, {"report", "--db", db_, "--format", "pdf"}), 2);
  EXPECT_EQ(run_cli(report_command, {"report", "42", "--db", db_}), 1);
  EXPECT_EQ(run_cli(report_command, {"report", "abc", "--db", db_}), 2);
  EXPECT_EQ(run_cli(report_command, {"report", "--db", dir_.path("missing.db")}), 1);

  auto missing = load_run("42", db_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "no_such_run");
  EXPECT_NE(missing.error().message.find("run 42 is not in"), std::string::npos)
      << missing.error().message;
  auto by_db = load_run(db_ + ":1", "elsewhere.db");
  ASSERT_TRUE(by_db) << by_db.error().message;
  EXPECT_EQ(by_db->run.id, 1);

  auto written = write_run_reports(*by_db, dir_.path(""));
  ASSERT_TRUE(written);
  ASSERT_EQ(written->size(), 2u);
  EXPECT_EQ(check_well_formed(read_file((*written)[0])), "");
  EXPECT_EQ(count_of(read_file((*written)[1]), "<testcase "), 2);
  EXPECT_FALSE(write_run_reports(*by_db, dir_.path("no/such/dir")));
}

TEST_F(ReportsTest, CompareShowsDeltasFromMergedHistograms) {
  FixtureRun slow;
  slow.name = "slow";
  slow.latencies = [](int64_t) {
    std::vector<int64_t> v(99, 2'000'000);
    v.push_back(50'000'000);
    return v;
  };
  RunSummary base = load(FixtureRun{});
  RunSummary cand = load(slow);
  RunComparison c = compare_runs(base, cand);
  ASSERT_EQ(c.phases.size(), 2u);
  ASSERT_TRUE(c.phases[1].base && c.phases[1].candidate);
  auto metrics = compared_metrics(*c.phases[1].base, *c.phases[1].candidate);
  auto p99 =
      std::find_if(metrics.begin(), metrics.end(), [](const auto& m) { return m.name == "p99"; });
  ASSERT_NE(p99, metrics.end());
  EXPECT_NEAR(*p99->change(), 1.0, 0.003);  // 1 ms -> 2 ms
  EXPECT_NEAR(p99->delta(), 1e6, 1e6 * 0.004);

  auto json = render_comparison(c, "json");
  ASSERT_TRUE(json);
  auto v = boost::json::parse(*json);
  EXPECT_NEAR(v.at("phases").at(1).at("metrics").at("p50").at("change").as_double(), 1.0, 0.003);
  EXPECT_DOUBLE_EQ(v.at("phases").at(1).at("metrics").at("rps").at("change").as_double(), 0.0);
  auto text = render_comparison(c, "text");
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("+100.0%  worse"), std::string::npos) << *text;
  auto html = render_comparison(c, "html");
  ASSERT_TRUE(html);
  EXPECT_EQ(check_well_formed(*html), "");
  EXPECT_NE(html->find("<td class=\"worse\">+100.0%</td>"), std::string::npos);
  EXPECT_EQ(count_of(*html, "<svg "),
            3);  // throughput, p99 and the spectrum, base against candidate
  EXPECT_EQ(count_of(*html, "<rect class=\"fault\""), 2);
  EXPECT_FALSE(render_comparison(c, "pdf"));

  EXPECT_EQ(run_cli(compare_command,
                    {"compare", "1", "2", "--db", db_, "--format", "md", "-o", dir_.path("c.md")}),
            0);
  EXPECT_NE(read_file(dir_.path("c.md")).find("| p99 | 1.00ms | 2.00ms |"), std::string::npos)
      << read_file(dir_.path("c.md"));
  EXPECT_EQ(run_cli(compare_command, {"compare", "1", "7", "--db", db_}), 1);
}

}  // namespace
}  // namespace gatedrill

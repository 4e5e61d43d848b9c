// The dashboard's model without a display: series values, fault windows at the right x, node
// filtering, live appends, the runs list and comparisons.
#include "gui/run_model.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/gui/synthetic_run.hpp"

namespace gatedrill::gui {
namespace {

using testing::SyntheticRun;

class RunModelTest : public ::testing::Test {
 protected:
  // Writes runs, then opens a reader on them.
  std::unique_ptr<ResultsReader> write(const std::vector<SyntheticRun>& runs) {
    auto ids = db_.write(runs);
    EXPECT_TRUE(ids) << ids.error().message;
    if (!ids) return nullptr;
    ids_ = *ids;
    auto reader = ResultsReader::open(db_.path());
    EXPECT_TRUE(reader);
    return reader ? std::move(*reader) : nullptr;
  }

  RunModel load(const ResultsReader& reader, int64_t id) {
    auto data = load_run_data_with_phase_reports(reader, id);
    EXPECT_TRUE(data) << data.error().message;
    return RunModel(data ? std::move(*data) : RunData{});
  }

  testing::ScratchDb db_;
  std::vector<int64_t> ids_;
};

const Series& named(const std::vector<Series>& all, const std::string& name) {
  for (const auto& s : all)
    if (s.name == name) return s;
  static const Series none;
  ADD_FAILURE() << "no series " << name;
  return none;
}

TEST_F(RunModelTest, SeriesHoldOnePointPerSecondWithTheStoredValues) {
  SyntheticRun run;
  run.seconds = 60;
  auto reader = write({run});
  ASSERT_TRUE(reader);
  RunModel model = load(*reader, ids_[0]);

  EXPECT_EQ(model.nodes(), (std::vector<std::string>{"all", "gw-1", "gw-2", "gw-3"}));
  EXPECT_EQ(model.sample_count(), 60u * 4);
  EXPECT_EQ(model.last_second(), 59);
  Series rps = model.achieved_rps("gw-2");
  ASSERT_EQ(rps.points.size(), 60u);
  SampleRecord expected = testing::synthetic_sample(run, ids_[0], "gw-2", 17);
  EXPECT_EQ(rps.points[17].x, 17);
  EXPECT_EQ(rps.points[17].y, static_cast<double>(expected.requests));

  auto latency = model.latency_ms("all");
  ASSERT_EQ(latency.size(), 3u);
  SampleRecord all = testing::synthetic_sample(run, ids_[0], "all", 30);
  EXPECT_DOUBLE_EQ(named(latency, "p99").points[30].y, all.p99_us / 1000.0);
  EXPECT_DOUBLE_EQ(named(latency, "p99.9").points[30].y, all.p999_us / 1000.0);

  // Status share in percent of the second's requests; the skew makes gw-1 answer 401.
  auto layout = testing::layout_of(run);
  auto share = model.status_share("gw-1");
  EXPECT_NEAR(named(share, "4xx").points[static_cast<size_t>(layout.skew_start)].y, 97.0, 0.5);
  EXPECT_NEAR(named(share, "2xx").points[2].y, 100.0, 1e-9);
  EXPECT_NEAR(
      named(model.status_share("gw-3"), "4xx").points[static_cast<size_t>(layout.skew_start)].y,
      0.0, 1e-9);
}

TEST_F(RunModelTest, TargetIsThePhaseRateSplitOverTheGateways) {
  SyntheticRun run;
  run.seconds = 50;
  run.rate = 3000;
  auto reader = write({run});
  ASSERT_TRUE(reader);
  RunModel model = load(*reader, ids_[0]);
  auto layout = testing::layout_of(run);

  Series all = model.target_rps("all");
  ASSERT_EQ(all.points.size(), 6u);  // three phases, a step each
  EXPECT_EQ(all.points[0].x, 0);
  EXPECT_EQ(all.points[0].y, 1500);
  EXPECT_EQ(all.points[2].x, layout.warmup_end);
  EXPECT_EQ(all.points[2].y, 3000);
  EXPECT_EQ(all.points[5].x, 50);
  EXPECT_EQ(all.points[5].y, 4500);
  EXPECT_EQ(model.target_rps("gw-1").points[2].y, 1000);
  EXPECT_EQ(model.phase_at(layout.warmup_end), "steady");
  EXPECT_EQ(model.phase_at(0.5), "warmup");
}

TEST_F(RunModelTest, FaultWindowsSitAtSecondsSinceTheLoadStartedAndFollowTheNode) {
  SyntheticRun run;
  run.seconds = 100;
  auto reader = write({run});
  ASSERT_TRUE(reader);
  RunModel model = load(*reader, ids_[0]);
  auto layout = testing::layout_of(run);
  EXPECT_EQ(model.origin_ms(), layout.load_start_ms);  // not the run row's start (2 s earlier)

  auto all = model.fault_windows("all");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].label, "clock_skew on gw-1");
  EXPECT_DOUBLE_EQ(all[0].start_s, layout.skew_start);
  EXPECT_DOUBLE_EQ(all[0].end_s, layout.skew_end);
  EXPECT_EQ(all[1].label, "latency on upstream");
  EXPECT_DOUBLE_EQ(all[1].start_s, layout.slow_start);
  EXPECT_EQ(all[2].kind, "restart");
  EXPECT_DOUBLE_EQ(all[2].start_s, layout.restart_at);
  EXPECT_DOUBLE_EQ(all[2].end_s, all[2].start_s);  // a mark, not a window

  // gw-3 sees the shared upstream's fault, not gw-1's skew nor gw-2's restart.
  auto gw3 = model.fault_windows("gw-3");
  ASSERT_EQ(gw3.size(), 1u);
  EXPECT_EQ(gw3[0].name, "latency");
  auto gw1 = model.fault_windows("gw-1");
  ASSERT_EQ(gw1.size(), 2u);
  EXPECT_EQ(gw1[0].name, "clock_skew");
}

TEST_F(RunModelTest, NodeSelectionPicksThatNodesCpuAndMemory) {
  SyntheticRun run;
  run.seconds = 20;
  auto reader = write({run});
  ASSERT_TRUE(reader);
  RunModel model = load(*reader, ids_[0]);
  auto cpu_all = model.cpu_pct("all");
  ASSERT_EQ(cpu_all.size(), 3u);  // one line per gateway; "all" has no process
  EXPECT_EQ(cpu_all[0].name, "gw-1");
  auto rss = model.rss_mib("gw-2");
  ASSERT_EQ(rss.size(), 1u);
  EXPECT_EQ(rss[0].name, "gw-2");
  SampleRecord expected = testing::synthetic_sample(run, ids_[0], "gw-2", 5);
  EXPECT_DOUBLE_EQ(rss[0].points[5].y, static_cast<double>(expected.rss_bytes) / (1024 * 1024));
  EXPECT_TRUE(model.cpu_pct("gw-9").empty());
  EXPECT_TRUE(model.achieved_rps("gw-9").points.empty());
}

TEST_F(RunModelTest, LiveAppendKeepsOnlyNewSecondsPerNode) {
  SyntheticRun run;
  run.seconds = 30;
  RunData data;
  data.summary.run.id = 1;
  for (int s = 0; s < 10; ++s)
    for (std::string node : {"all", "gw-1", "gw-2", "gw-3"})
      data.samples.push_back(testing::synthetic_sample(run, 1, node, s));
  RunModel model(std::move(data));
  EXPECT_TRUE(model.running());
  EXPECT_EQ(model.poll_from_second(), 10);

  std::vector<SampleRecord> more;
  for (int s = 8; s < 12; ++s)  // 8 and 9 are re-read
    for (std::string node : {"all", "gw-1", "gw-2", "gw-3"})
      more.push_back(testing::synthetic_sample(run, 1, node, s));
  more.push_back(testing::synthetic_sample(run, 1, "gw-1", 12));  // gw-1 is ahead of the others
  EXPECT_EQ(model.append_samples(more), 9u);
  EXPECT_EQ(model.achieved_rps("all").points.size(), 12u);
  EXPECT_EQ(model.achieved_rps("gw-1").points.size(), 13u);
  EXPECT_EQ(model.poll_from_second(), 12);  // the laggards decide
  EXPECT_EQ(model.append_samples(more), 0u);
}

TEST_F(RunModelTest, AnOpenFaultOfARunningRunReachesTheLastSecond) {
  RunData data;
  data.summary.run.started_ms = 10'000;
  data.summary.events.push_back({1, 15'000, 0, "gw-1", "fault", "clock_skew", "{}"});
  SyntheticRun run;
  for (int s = 0; s < 9; ++s) data.samples.push_back(testing::synthetic_sample(run, 1, "gw-1", s));
  RunModel model(std::move(data));
  auto windows = model.fault_windows("gw-1");
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_DOUBLE_EQ(windows[0].start_s, 5);
  EXPECT_DOUBLE_EQ(windows[0].end_s, 9);
}

TEST_F(RunModelTest, RunRowsCarryRatesAndTheFilterMatchesEveryWord) {
  SyntheticRun a;
  a.name = "quickstart";
  a.seconds = 10;
  a.rate = 1200;
  SyntheticRun b;
  b.name = "capacity";
  b.seconds = 10;
  b.verdict = "fail";
  b.started_ms += 60'000;
  auto reader = write({a, b});
  ASSERT_TRUE(reader);
  auto rows = load_run_rows(*reader);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].run.name, "capacity");  // newest first
  EXPECT_EQ((*rows)[1].seconds, 10);
  int64_t requests = 0;
  for (int second = 0; second < 10; ++second)
    requests += testing::synthetic_sample(a, ids_[0], "all", second).requests;
  EXPECT_EQ((*rows)[1].requests, requests);
  EXPECT_DOUBLE_EQ((*rows)[1].rps, static_cast<double>(requests) / 10);

  EXPECT_TRUE(row_matches((*rows)[0], "CAP fail"));
  EXPECT_FALSE(row_matches((*rows)[0], "cap pass"));
  EXPECT_TRUE(row_matches((*rows)[1], "rate=1200"));
  EXPECT_TRUE(row_matches((*rows)[1], "  "));
  EXPECT_EQ(format_params(R"({"RATE": "5000", "N": 3})"), "RATE=5000 N=3");
  EXPECT_EQ(format_params("not json"), "not json");
  EXPECT_EQ(format_seconds(42), "42 s");
  EXPECT_EQ(format_seconds(725), "12 m 05 s");
  EXPECT_EQ(format_seconds(3720), "1 h 02 m");
  EXPECT_EQ(format_wall_minute(1'767'225'659'000), "2026-01-01 00:00");
}

TEST_F(RunModelTest, PhaseSummaryComesFromTheMergedHistograms) {
  SyntheticRun run;
  run.seconds = 40;
  auto reader = write({run});
  ASSERT_TRUE(reader);
  RunModel model = load(*reader, ids_[0]);
  EXPECT_TRUE(model.has_phase_reports());
  const auto& phases = model.summary().phases;
  ASSERT_EQ(phases.size(), 3u);
  EXPECT_EQ(phases[1].name, "steady");
  EXPECT_GT(phases[1].p99_ns, phases[1].p50_ns);
  EXPECT_GT(phases[1].requests, 0);
  EXPECT_EQ(model.summary().thresholds.size(), 4u);

  auto fast = load_run_data(*reader, ids_[0]);  // what the window draws first
  ASSERT_TRUE(fast);
  EXPECT_FALSE(fast->phase_reports);
  EXPECT_TRUE(fast->summary.phases.empty());
  EXPECT_EQ(fast->summary.events.size(), 3u);
  EXPECT_EQ(fast->summary.thresholds.size(), 4u);
  EXPECT_EQ(fast->samples.size(), 40u * 4);
}

TEST_F(RunModelTest, StreamsOfOtherIdentitiesAreNotGatewaysButFollowTheirs) {
  SyntheticRun run;
  run.seconds = 40;
  auto reader = write({run});
  ASSERT_TRUE(reader);
  auto data = load_run_data(*reader, ids_[0]);
  ASSERT_TRUE(data);
  for (int s = 0; s < 40; ++s) {
    SampleRecord hot = testing::synthetic_sample(run, ids_[0], "gw-1", s);
    hot.node = "hot@gw-1";
    hot.cpu_pct = 0;
    hot.rss_bytes = 0;
    data->samples.push_back(hot);
  }
  RunModel model(std::move(*data));
  EXPECT_EQ(model.nodes(), (std::vector<std::string>{"all", "gw-1", "gw-2", "gw-3", "hot@gw-1"}));
  EXPECT_EQ(model.gateway_nodes().size(), 3u);
  EXPECT_EQ(model.target_rps("gw-2").points[2].y, 1000);  // still a third of 3000
  EXPECT_TRUE(model.target_rps("hot@gw-1").points.empty());
  auto cpu = model.cpu_pct("hot@gw-1");
  ASSERT_EQ(cpu.size(), 1u);
  EXPECT_EQ(cpu[0].name, "gw-1");
  auto windows = model.fault_windows("hot@gw-1");  // gw-1's skew and the shared upstream
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(windows[0].name, "clock_skew");
  EXPECT_EQ(gateway_of("hot@gw-1"), "gw-1");
  EXPECT_EQ(gateway_of("gw-2"), "gw-2");
}

TEST(EnvelopeTest, KeepsEveryPointInRangeUpToTheBudgetThenLowsAndHighs) {
  std::vector<Point> points;
  for (int i = 0; i < 1000; ++i)
    points.push_back({static_cast<double>(i), i == 500 ? 999.0 : 1.0 + i % 3});
  auto all = envelope(points, 0, 999, 2000);
  EXPECT_EQ(all.size(), 1000u);
  auto zoomed = envelope(points, 100, 199, 2000);
  ASSERT_EQ(zoomed.size(), 102u);  // one point beyond each edge, so the line reaches it
  EXPECT_EQ(zoomed.front().x, 99);
  EXPECT_EQ(zoomed.back().x, 200);
  auto coarse = envelope(points, 0, 999, 100);
  EXPECT_LE(coarse.size(), 100u);
  EXPECT_GE(coarse.size(), 90u);
  bool spike = false;
  for (size_t i = 1; i < coarse.size(); ++i) EXPECT_LT(coarse[i - 1].x, coarse[i].x);
  for (const auto& p : coarse) spike = spike || p.y == 999.0;
  EXPECT_TRUE(spike) << "a one-second spike must survive the envelope";
  EXPECT_TRUE(envelope({}, 0, 10, 100).empty());
}

}  // namespace
}  // namespace gatedrill::gui

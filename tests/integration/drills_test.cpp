// One drill of the library in short mode, end to end through the real binary: `gatedrill drills
// run NAME --short` starts its topology, injects its fault, and must see the symptom and the
// recovery (exit 0). CMake registers one ctest entry per file in scenarios/drills/ (drill/NAME)
// and passes the name in GATEDRILL_DRILL, so drills added later are picked up by a re-configure.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/store/results_store.hpp"
#include "core/supervisor/supervisor.hpp"
#include "tests/integration/gatedrill_process.hpp"

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

TEST(DrillTest, ShortRunSeesTheSymptomAndTheRecovery) {
  const char* drill = std::getenv("GATEDRILL_DRILL");
  if (!drill || !*drill) GTEST_SKIP() << "run through ctest (drill/NAME), which names the drill";
  ScratchDir scratch(std::string("drill_") + drill + "_");
  const std::string& dir = scratch.path();

  SystemTimeSource time;
  Supervisor supervisor(time);
  std::string output;
  std::vector<std::string> args = {
      "drills",     "run",        drill, "--short", "--quiet", "--db", dir + "/results.db",
      "--runs-dir", dir + "/runs"};
  // A variant of the drill (drill/NAME-VARIANT): further arguments, e.g. "-e MODE=proxy".
  if (const char* extra = std::getenv("GATEDRILL_DRILL_ARGS")) {
    std::istringstream words(extra);
    for (std::string w; words >> w;) args.push_back(w);
  }
  // Short mode is <= 25 s of load; the rest is process start-up and teardown.
  int status = run_gatedrill(supervisor, std::string("drill-") + drill, dir + "/drill.log", args,
                             std::chrono::seconds(75), output);
  EXPECT_EQ(status, 0) << output;

  // The run is stored with its verdict, and the fault window is an event.
  auto reader = ResultsReader::open(dir + "/results.db");
  ASSERT_TRUE(reader) << reader.error().message;
  auto runs = (*reader)->runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().verdict, "pass") << output;
  // Its run folder holds the HTML report and the JUnit file CI systems display.
  struct stat st {};
  EXPECT_EQ(stat((runs->front().run_dir + "/report.html").c_str(), &st), 0) << output;
  EXPECT_EQ(stat((runs->front().run_dir + "/junit.xml").c_str(), &st), 0) << output;
  auto events = (*reader)->events(runs->front().id);
  ASSERT_TRUE(events);
  bool fault = false;
  for (const auto& e : *events) fault = fault || e.kind == "fault";
  // A variant that forces a mechanism checks the fault window recorded that one; a drill whose
  // auto mode must pick the faithful mechanism as root names it in ..._AS_ROOT.
  const char* mechanism = std::getenv("GATEDRILL_DRILL_MECHANISM");
  if (const char* as_root = std::getenv("GATEDRILL_DRILL_MECHANISM_AS_ROOT"); as_root && !mechanism)
    mechanism = ::geteuid() == 0 ? as_root : nullptr;
  if (mechanism) {
    const std::string want = std::string("\"mechanism\":\"") + mechanism + "\"";
    bool recorded = false;
    for (const auto& e : *events)
      recorded = recorded || (e.kind == "fault" && e.detail_json.find(want) != std::string::npos);
    EXPECT_TRUE(recorded) << "no fault window records " << want << "\n" << output;
  }
  // Every drill records its fault window (rate-limit's is its burst, a load_surge window).
  EXPECT_TRUE(fault) << "no fault window was recorded";
  EXPECT_THAT(output, HasSubstr(std::string(drill) + "  pass"));
}

// Runs `gatedrill ARGS` to completion (bounded) in a fresh folder; output holds its log.
class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = scratch_.path(); }
  int gatedrill(const std::vector<std::string>& args) {
    std::string name = "gatedrill-" + std::to_string(runs_++);
    return run_gatedrill(supervisor_, name, dir_ + "/" + name + ".log", args,
                         std::chrono::seconds(60), output_);
  }
  std::string write_scenario(const std::string& text) {
    std::string path = dir_ + "/scenario.lua";
    std::ofstream(path) << text;
    return path;
  }
  SystemTimeSource time_;
  Supervisor supervisor_{time_};
  ScratchDir scratch_{"runner_"};
  std::string dir_, output_;
  int runs_ = 0;
};

// k6's abortOnFail: the clock skew makes every request a 401 from second 2 of a 20 s load; the
// threshold is judged live after its 1 s delay and stops the run early with exit 99.
TEST_F(RunnerTest, AbortOnFailStopsTheRunEarlyWithExit99) {
  std::string scenario = write_scenario(R"(
topology { gateways = 1, tls = "plain" }
load { { name = "steady", rate = 200, duration = "20s" } }
at("2s", function() fault.clock_skew { node = "gw-1", offset = "+10m", duration = "15s" } end)
thresholds { ["error_rate"] = { "< 5%", abort_on_fail = true, delay = "1s" } }
)");
  int status = gatedrill(
      {"run", scenario, "--quiet", "--db", dir_ + "/results.db", "--runs-dir", dir_ + "/runs"});
  EXPECT_EQ(status, 99) << output_;
  EXPECT_THAT(output_, HasSubstr("threshold failed with abort_on_fail: error_rate < 5%"));
  auto reader = ResultsReader::open(dir_ + "/results.db");
  ASSERT_TRUE(reader);
  auto runs = (*reader)->runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().verdict, "aborted");
  // Stopped within seconds of the skew, far from the 20 s the load would last.
  EXPECT_LT(runs->front().ended_ms - runs->front().started_ms, 15000) << output_;
  auto samples = (*reader)->samples(runs->front().id, "all");
  ASSERT_TRUE(samples);
  EXPECT_LT(samples->size(), 12u);
}

// The capacity search end to end over two short steps: both meet a loose SLO up to --max; each
// step is a stored phase with its SLO results.
TEST_F(RunnerTest, CapacitySearchStoresOnePhasePerStep) {
  std::string scenario = write_scenario(R"(
topology { gateways = 1, tls = "plain" }
load { { name = "steady", rate = 100, duration = "1s" } }
)");
  int status = gatedrill({"capacity", scenario, "--slo", "p99<500ms", "--start", "100", "--max",
                          "200", "--step-duration", "2s", "--quiet", "--db", dir_ + "/results.db",
                          "--runs-dir", dir_ + "/runs"});
  ASSERT_EQ(status, 0) << output_;
  EXPECT_THAT(output_, HasSubstr("highest sustainable rate: 200 req/s"));
  // The sizing answers: requests/s per node, vCPU per 5k req/s, memory against connections.
  EXPECT_THAT(output_, HasSubstr("requests/s per node within the SLOs: 200"));
  EXPECT_THAT(output_, HasSubstr("gateway vCPU per 5000 req/s:"));
  EXPECT_THAT(output_, HasSubstr("client connections"));
  auto reader = ResultsReader::open(dir_ + "/results.db");
  ASSERT_TRUE(reader);
  auto runs = (*reader)->runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  auto phases = (*reader)->phases(runs->front().id);
  ASSERT_TRUE(phases);
  ASSERT_EQ(phases->size(), 2u);
  EXPECT_EQ((*phases)[0].name, "step-01-100");
  EXPECT_EQ((*phases)[1].name, "step-02-200");
  EXPECT_DOUBLE_EQ((*phases)[1].target_rate, 200);
  auto thresholds = (*reader)->thresholds(runs->front().id);
  ASSERT_TRUE(thresholds);
  EXPECT_EQ(thresholds->size(), 2u);
}

// An SLO nothing meets: the search halves down to its floor and exits 99.
TEST_F(RunnerTest, CapacityWithAnImpossibleSloExits99) {
  std::string scenario = write_scenario(R"(
topology { gateways = 1, tls = "plain" }
load { { name = "steady", rate = 100, duration = "1s" } }
)");
  int status =
      gatedrill({"capacity", scenario, "--slo", "p99<1us", "--start", "4", "--step-duration", "1s",
                 "--quiet", "--db", dir_ + "/results.db", "--runs-dir", dir_ + "/runs"});
  EXPECT_EQ(status, 99) << output_;
  EXPECT_THAT(output_, HasSubstr("no sustainable rate"));
  // Bad usage is refused before anything starts.
  EXPECT_EQ(gatedrill({"capacity", scenario, "--slo", "p99"}), 2);
  EXPECT_THAT(output_, HasSubstr("needs metric, operator and limit"));
}

}  // namespace
}  // namespace gatedrill

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

#include "core/store/results_store.hpp"
#include "core/supervisor/supervisor.hpp"

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

TEST(DrillTest, ShortRunSeesTheSymptomAndTheRecovery) {
  const char* drill = std::getenv("GATEDRILL_DRILL");
  if (!drill || !*drill) GTEST_SKIP() << "run through ctest (drill/NAME), which names the drill";
  std::string dir = ::testing::TempDir() + "drill_" + drill + "_" + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);

  SystemTimeSource time;
  Supervisor supervisor(time);
  ProcessSpec spec;
  spec.name = std::string("drill-") + drill;
  spec.argv = {GATEDRILL_BINARY,    "drills",     "run",        drill, "--short", "--quiet", "--db",
               dir + "/results.db", "--runs-dir", dir + "/runs"};
  spec.log_file = dir + "/drill.log";
  ASSERT_TRUE(supervisor.spawn(spec));
  // Short mode is <= 25 s of load; the rest is process start-up and teardown.
  auto status = supervisor.wait_exit(spec.name, std::chrono::seconds(75));
  std::ifstream log(spec.log_file);
  std::string output((std::istreambuf_iterator<char>(log)), {});
  ASSERT_TRUE(status) << status.error().message << "\n" << output;
  EXPECT_EQ(*status, 0) << output;

  // The run is stored with its verdict, and the fault window is an event.
  auto reader = ResultsReader::open(dir + "/results.db");
  ASSERT_TRUE(reader) << reader.error().message;
  auto runs = (*reader)->runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().verdict, "pass") << output;
  auto events = (*reader)->events(runs->front().id);
  ASSERT_TRUE(events);
  bool fault = false;
  for (const auto& e : *events) fault = fault || e.kind == "fault";
  EXPECT_TRUE(fault) << "no fault window was recorded";
  EXPECT_THAT(output, HasSubstr(std::string(drill) + "  pass"));
}

}  // namespace
}  // namespace gatedrill

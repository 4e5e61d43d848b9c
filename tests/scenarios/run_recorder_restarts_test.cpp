// Supervisor restarts counted per node and second, so thresholds and expectations can say
// "restarts >= 1" over a phase or a fault window.
#include <gtest/gtest.h>

#include "scenarios/run_recorder.hpp"
#include "scenarios/thresholds.hpp"

namespace gatedrill {
namespace {

SecondStats second(int64_t s, const std::string& phase) {
  SecondStats st;
  st.second = s;
  st.phase = phase;
  st.completed = 10;
  st.status_counts[200] = 10;
  return st;
}

TEST(RunRecorderRestarts, CountedInTheSecondsAWindowIncludes) {
  RunRecorder recorder(nullptr, 0, {"gw-1", "gw-2"});
  for (int64_t s = 0; s < 6; ++s) {
    recorder.record("gw-1", second(s, s < 3 ? "warmup" : "storm"));
    recorder.record("gw-2", second(s, s < 3 ? "warmup" : "storm"));
  }
  recorder.record_restart("gw-1", 4);
  recorder.record_restart("gw-1", 4);
  recorder.record_restart("gw-2", 5);
  auto storm = [](int64_t, const std::string& phase) { return phase == "storm"; };
  auto warmup = [](int64_t, const std::string& phase) { return phase == "warmup"; };
  EXPECT_EQ(recorder.window("gw-1", storm).restarts, 2);
  EXPECT_EQ(recorder.window("gw-2", storm).restarts, 1);
  EXPECT_EQ(recorder.window(kAllNodes, storm).restarts, 3);
  EXPECT_EQ(recorder.window(kAllNodes, warmup).restarts, 0);

  auto t = parse_threshold("storm.restarts{node=gw-1}", ">= 1");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(threshold_passes(*t, metric_value(recorder.window("gw-1", storm), t->metric)));
  EXPECT_FALSE(threshold_passes(*t, metric_value(recorder.window("gw-1", warmup), t->metric)));
}

}  // namespace
}  // namespace gatedrill

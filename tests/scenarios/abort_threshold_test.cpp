// thresholds { ["error_rate"] = { "< 1%", abort_on_fail = true, delay = "5s" } }: what the
// loader accepts and refuses (the live judging is in tests/integration/drills_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "scenarios/scenario_script.hpp"

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

Result<std::unique_ptr<ScenarioScript>> load(const std::string& thresholds) {
  std::string path = ::testing::TempDir() + "abort_" + std::to_string(getpid()) + ".lua";
  std::ofstream(path) << "load { { name = 'steady', rate = 100, duration = '10s' } }\n"
                      << "thresholds { " << thresholds << " }\n";
  return ScenarioScript::load(path, {});
}

TEST(AbortThresholdTest, DelayIsReadWithAbortOnFail) {
  auto script = load(R"(["steady.error_rate"] = { "< 1%", abort_on_fail = true, delay = "5s" })");
  ASSERT_TRUE(script) << script.error().message;
  const auto& t = (*script)->scenario().thresholds;
  ASSERT_EQ(t.size(), 1u);
  EXPECT_TRUE(t[0].abort_on_fail);
  EXPECT_EQ(t[0].abort_delay, std::chrono::seconds(5));
  EXPECT_EQ(t[0].phase, "steady");
}

TEST(AbortThresholdTest, NoDelayMeansJudgedFromTheStart) {
  auto script = load(R"(["p99"] = { "< 10ms", abort_on_fail = true })");
  ASSERT_TRUE(script) << script.error().message;
  EXPECT_EQ((*script)->scenario().thresholds.at(0).abort_delay.count(), 0);
}

TEST(AbortThresholdTest, DelayWithoutAbortOrBadDelayIsAnError) {
  auto without = load(R"(["p99"] = { "< 10ms", delay = "5s" })");
  ASSERT_FALSE(without);
  EXPECT_THAT(without.error().message, HasSubstr("delay needs abort_on_fail = true"));
  auto negative = load(R"(["p99"] = { "< 10ms", abort_on_fail = true, delay = "-1s" })");
  ASSERT_FALSE(negative);
  EXPECT_THAT(negative.error().message, HasSubstr("delay must be >= 0"));
  auto typo = load(R"(["p99"] = { "< 10ms", abort_on_fail = true, dealy = "1s" })");
  ASSERT_FALSE(typo);
  EXPECT_THAT(typo.error().message, HasSubstr("unknown key 'dealy'"));
}

}  // namespace
}  // namespace gatedrill

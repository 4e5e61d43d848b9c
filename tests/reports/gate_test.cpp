#include <gtest/gtest.h>

#include "report_fixture.hpp"
#include "reports/regression_gate.hpp"
#include "reports/report_command.hpp"
#include "reports/run_ref.hpp"

namespace gatedrill {
namespace {

using namespace testing;  // the fixture helpers

int gate(std::vector<std::string> args) {
  args.insert(args.begin(), "gate");
  return run_cli(gate_command, std::move(args));
}

// Every second: 99 fast values around `fast_ns` (spread over 1% so per-second p99s differ a
// little, like real seconds) and one slow one.
FixtureRun steady_run(std::string name, int64_t fast_ns) {
  FixtureRun f;
  f.name = std::move(name);
  f.verdict = "pass";
  f.latencies = [fast_ns](int64_t second) {
    std::vector<int64_t> v;
    for (int i = 0; i < 99; ++i) v.push_back(fast_ns + (i + second * 7) % 10 * fast_ns / 1000);
    v.push_back(50'000'000);
    return v;
  };
  return f;
}

class GateTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.path("results.db");
};

TEST(MannWhitney, SeparatedSamplesAreSignificantAndShuffledOnesAreNot) {
  std::vector<double> low{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
      high{11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  EXPECT_LT(mann_whitney_p_greater(low, high), 0.001);
  EXPECT_GT(mann_whitney_p_greater(high, low), 0.999);
  std::vector<double> mixed{1.5, 3.5, 5.5, 7.5, 9.5, 2, 4, 6, 8, 10};
  double p = mann_whitney_p_greater(low, mixed);
  EXPECT_GT(p, 0.3);
  EXPECT_LT(p, 0.7);
  EXPECT_DOUBLE_EQ(mann_whitney_p_greater({5, 5, 5}, {5, 5, 5}), 1.0);  // every value ties
  EXPECT_DOUBLE_EQ(mann_whitney_p_greater({}, {1}), 1.0);
}

TEST_F(GateTest, ARegressionExits99AndWritesJunit) {
  add_fixture_run(db_, steady_run("base", 1'000'000));
  add_fixture_run(db_, steady_run("cand", 1'500'000));  // p99 +50%
  std::string junit = dir_.path("gate.xml");
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "2", "--db", db_, "--max-p99-regression", "10%",
                  "--junit", junit}),
            99);
  std::string xml = read_file(junit);
  EXPECT_EQ(check_well_formed(xml), "");
  EXPECT_EQ(count_of(xml, "<testcase "), 2);  // warmup.p99, steady.p99
  EXPECT_EQ(count_of(xml, "<failure "), 2);
  std::string md = dir_.path("gate.md");
  EXPECT_EQ(
      gate({"--baseline", "1", "--candidate", "2", "--db", db_, "--phase", "steady", "--md", md}),
      99);
  std::string comment = read_file(md);
  EXPECT_NE(comment.find("❌ regression"), std::string::npos) << comment;
  EXPECT_NE(comment.find("| ❌ | steady | p99 | 1.01ms | 1.51ms | +50.1% | 1.11ms | p="),
            std::string::npos)
      << comment;
  // Allowed +60%: passes; the gate compares only the phase asked for.
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "2", "--db", db_, "--max-p99-regression", "60%",
                  "--phase", "steady"}),
            0);
}

TEST_F(GateTest, TheSameDistributionPassesAndTheWhyIsPrinted) {
  add_fixture_run(db_, steady_run("base", 1'000'000));
  add_fixture_run(db_, steady_run("cand", 1'000'000));
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "2", "--db", db_}), 0);
  auto b = load_run("1", db_), c = load_run("2", db_);
  ASSERT_TRUE(b && c);
  auto result = evaluate_gate(*b, *c, GateOptions{});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->checks.size(), 2u);
  EXPECT_TRUE(result->pass());
  EXPECT_NE(result->checks[1].message.find("steady p99: 1.01ms -> 1.01ms"), std::string::npos)
      << result->checks[1].message;
}

TEST_F(GateTest, OneSlowSecondAboveTheLimitIsNoiseNotARegression) {
  // The candidate's merged p99 jumps (one second of 30 slow requests among 1000 in the phase),
  // but its other nine seconds are as fast as the baseline's: the per-second p99s are not
  // higher as a whole, so the noise rule holds the gate. With --alpha 0 it fails.
  add_fixture_run(db_, steady_run("base", 1'000'000));
  FixtureRun hiccup = steady_run("hiccup", 1'000'000);
  auto fast = hiccup.latencies;
  hiccup.latencies = [fast](int64_t second) {
    auto v = fast(second);
    if (second == 6) std::fill(v.begin(), v.begin() + 30, 40'000'000);
    return v;
  };
  add_fixture_run(db_, hiccup);
  auto b = load_run("1", db_), c = load_run("2", db_);
  ASSERT_TRUE(b && c);
  GateOptions options;
  options.phases = {"steady"};
  auto result = evaluate_gate(*b, *c, options);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->checks.size(), 1u);
  EXPECT_TRUE(result->checks[0].exceeded);
  EXPECT_TRUE(result->checks[0].noise_tested);
  EXPECT_GT(result->checks[0].p_value, 0.05);
  EXPECT_TRUE(result->pass()) << result->checks[0].message;
  EXPECT_NE(result->checks[0].message.find("within run-to-run noise"), std::string::npos);

  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "2", "--db", db_, "--phase", "steady"}), 0);
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "2", "--db", db_, "--phase", "steady",
                  "--alpha", "0"}),
            99);
}

TEST_F(GateTest, ErrorRateIncreaseBeyondTheAllowanceIsARegression) {
  add_fixture_run(db_, steady_run("base", 1'000'000));
  FixtureRun errors = steady_run("errors", 1'000'000);
  errors.errors_5xx_per_second = 1;  // 1% of requests
  add_fixture_run(db_, errors);
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "2", "--db", db_, "--max-error-rate-increase",
                  "0.1%"}),
            99);
  EXPECT_EQ(
      gate({"--baseline", "1", "--candidate", "2", "--db", db_, "--max-error-rate-increase", "1%"}),
      0);
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "2", "--db", db_}), 0);  // not checked
}

TEST_F(GateTest, BadRunsAndOptionsAreClearErrors) {
  add_fixture_run(db_, steady_run("base", 1'000'000));
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "999", "--db", db_}), 1);
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", dir_.path("missing.db"), "--db", db_}),
            2);  // not a file
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "1", "--db", db_, "--phase", "nope"}), 1);
  EXPECT_EQ(gate({"--baseline", "1", "--candidate", "1", "--db", db_, "--metric", "p42"}), 2);
  EXPECT_EQ(
      gate({"--baseline", "1", "--candidate", "1", "--db", db_, "--max-p99-regression", "ten"}), 2);
  EXPECT_EQ(gate({"--baseline", "1", "--db", db_}), 2);
  // A database file as the spec: its latest run.
  EXPECT_EQ(gate({"--baseline", db_, "--candidate", db_ + ":1"}), 0);

  auto b = load_run("1", db_);
  ASSERT_TRUE(b);
  GateOptions options;
  options.phases = {"nope"};
  auto result = evaluate_gate(*b, *b, options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "no_such_phase");
  EXPECT_NE(result.error().message.find("(it has: warmup, steady)"), std::string::npos)
      << result.error().message;
}

}  // namespace
}  // namespace gatedrill

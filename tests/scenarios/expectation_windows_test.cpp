// Which fault windows an expectation is judged over: a peer node it names (an upstream cluster)
// picks the windows on that node only, so two clusters faulted in turn are judged apart.
#include <gtest/gtest.h>

#include "scenarios/evaluation.hpp"
#include "scenarios/thresholds.hpp"

namespace gatedrill {
namespace {

SecondStats second(int64_t s, int errors) {
  SecondStats st;
  st.second = s;
  st.phase = "steady";
  st.completed = 100;
  st.errors = errors;
  st.status_counts[200] = 100 - errors;
  if (errors > 0) st.status_counts[503] = errors;
  return st;
}

TEST(ExpectationWindows, APeerNodePicksTheWindowsOnThatNode) {
  Scenario s;
  s.topology.upstreams = {ClusterSpec{}, ClusterSpec{}};
  s.topology.upstreams[0].name = "billing";
  s.topology.upstreams[1].name = "catalog";
  s.phases.push_back({});
  s.phases.back().name = "steady";
  s.phases.back().duration = std::chrono::seconds(10);
  ExpectSpec e;
  e.fault = "latency";
  e.node = "catalog";
  auto clean = parse_condition("error_rate", "< 1%");
  ASSERT_TRUE(clean) << clean.error().message;
  e.conditions.push_back(*clean);
  e.text = "during(latency, catalog) error_rate < 1%";
  s.expectations.push_back(e);

  // Seconds 2-3 fail (billing's window); 6-7 are clean (catalog's).
  RunRecorder recorder(nullptr, 0, {"gw-1"});
  for (int64_t i = 0; i < 10; ++i) recorder.record("gw-1", second(i, i == 2 || i == 3 ? 50 : 0));
  const int64_t start = 1'000'000;
  std::vector<FaultWindow> windows = {
      {"latency", "billing", "{}", start + 2000, start + 4000, {}},
      {"latency", "catalog", "{}", start + 6000, start + 8000, {}},
  };
  auto outcomes = evaluate_run(s, recorder, windows, start, "", RegistryFetches{});
  ASSERT_EQ(outcomes.size(), 1u) << "only catalog's window";
  EXPECT_TRUE(outcomes[0].pass) << outcomes[0].observed_text;

  // Named billing instead: its window, where half the requests failed.
  s.expectations[0].node = "billing";
  outcomes = evaluate_run(s, recorder, windows, start, "", RegistryFetches{});
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_FALSE(outcomes[0].pass);
  // Without a node, every latency window is judged.
  s.expectations[0].node.clear();
  EXPECT_EQ(evaluate_run(s, recorder, windows, start, "", RegistryFetches{}).size(), 2u);
}

}  // namespace
}  // namespace gatedrill

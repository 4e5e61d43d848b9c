// The drill faults (cpu_starve, memory_limit, ballast, toxic, mtu, loss, bandwidth, redis_down,
// jwks_rotate) and the topology keys they need (redis, proxies, gateway): every mistake is
// reported by the dry run, before anything starts, with a message that names the fault and the
// parameter.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "scenarios/drill_faults.hpp"
#include "scenarios/scenario_script.hpp"
#include "scenarios/thresholds.hpp"

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

class DrillFaultsTest : public ::testing::Test {
 protected:
  std::string error_of(const std::string& topology, const std::string& fault) {
    path_ = ::testing::TempDir() + "drill_faults_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".lua";
    std::ofstream(path_) << "topology { " << topology << " }\n"
                         << "load { { name = 'steady', rate = 100, duration = '5s' } }\n"
                         << "at('1s', function() fault." << fault << " end)\n";
    auto script = ScenarioScript::load(path_, {});
    if (script) last_ = (*script)->scenario();
    return script ? std::string("(loaded)") : script.error().message;
  }
  void TearDown() override {
    if (!path_.empty()) unlink(path_.c_str());
  }
  std::string path_;
  Scenario last_;
};

TEST_F(DrillFaultsTest, ValidDrillFaultsLoad) {
  EXPECT_EQ(error_of("", "cpu_starve { node = 'gw-1', share = '20%', duration = '2s' }"),
            "(loaded)");
  EXPECT_EQ(error_of("", "memory_limit { node = 'gw-1', limit = '64MiB' }"), "(loaded)");
  EXPECT_EQ(error_of("", "ballast { node = 'gw-1', size = '128MiB', ramp = '2s' }"), "(loaded)");
  EXPECT_EQ(
      error_of("redis = true, proxies = { 'redis' }",
               "toxic { node = 'redis', type = 'latency', latency = '50ms', stream = 'upstream' }"),
      "(loaded)");
  EXPECT_EQ(error_of("proxies = { 'gw-1' }", "mtu { node = 'gw-1', mtu = 1400 }"), "(loaded)");
  EXPECT_EQ(error_of("redis = true", "redis_down { mode = 'hang', duration = '2s' }"), "(loaded)");
  EXPECT_EQ(last_.timeline.at(0).actions.at(0).node, "redis");  // the default node
  EXPECT_EQ(error_of("", "jwks_rotate { mode = 'publish_first', delay = '1s' }"), "(loaded)");
  EXPECT_EQ(last_.timeline.at(0).actions.at(0).node, "idp");
}

TEST_F(DrillFaultsTest, TopologyKeysAreReadAndChecked) {
  EXPECT_EQ(
      error_of(
          "gateways = 2, redis = true, proxies = { 'app', 'gw-2', 'redis' }, "
          "gateway = { memory_budget = '96MiB', rate_limit = 50, burst = 10, jwks_cooldown = '1s', "
          "args = { '--redis', '{redis}' } }",
          "kill { node = 'gw-1' }"),
      "(loaded)");
  EXPECT_TRUE(last_.topology.redis);
  EXPECT_EQ(last_.topology.proxies.size(), 3u);
  EXPECT_EQ(last_.topology.gateway.memory_budget_bytes, 96 << 20);
  EXPECT_EQ(last_.topology.gateway.rate_limit, 50);
  EXPECT_EQ(last_.topology.gateway.args.size(), 2u);
  std::vector<std::string> names = last_.node_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "redis"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "proxy"), names.end());

  EXPECT_THAT(error_of("proxies = { 'gw-3' }", "kill { node = 'gw-1' }"),
              HasSubstr("cannot put a proxy in front of 'gw-3'"));
  EXPECT_THAT(error_of("proxies = { 'redis' }", "kill { node = 'gw-1' }"),
              HasSubstr("'redis' needs redis = true"));
  EXPECT_THAT(error_of("proxies = { 'app', 'app' }", "kill { node = 'gw-1' }"),
              HasSubstr("listed twice"));
  EXPECT_THAT(error_of("gateway = { memory_budget = '12 parsecs' }", "kill { node = 'gw-1' }"),
              HasSubstr("memory_budget must be a size"));
  EXPECT_THAT(error_of("gateway = { rate_limit = -1 }", "kill { node = 'gw-1' }"),
              HasSubstr("rate_limit must be > 0"));
  EXPECT_THAT(error_of("gateway = { colour = 'red' }", "kill { node = 'gw-1' }"),
              HasSubstr("unknown key 'colour'"));
  EXPECT_THAT(error_of("redis = 'yes'", "kill { node = 'gw-1' }"),
              HasSubstr("redis must be true or false"));
}

TEST_F(DrillFaultsTest, UnknownNodesAreNamed) {
  EXPECT_THAT(error_of("", "cpu_starve { node = 'gw-7' }"), HasSubstr("unknown node 'gw-7'"));
  // No redis in this topology: the node does not exist.
  EXPECT_THAT(error_of("", "redis_down { }"), HasSubstr("unknown node 'redis'"));
  EXPECT_THAT(error_of("", "ballast { node = 'app', size = '1MiB' }"),
              HasSubstr("does not apply to app"));
  EXPECT_THAT(error_of("", "cpu_starve { }"), HasSubstr("needs node"));
}

TEST_F(DrillFaultsTest, BadSizesSharesAndModesAreErrors) {
  EXPECT_THAT(error_of("", "cpu_starve { node = 'gw-1', share = '150%' }"),
              HasSubstr("strictly between"));
  EXPECT_THAT(error_of("", "cpu_starve { node = 'gw-1', share = 'lots' }"),
              HasSubstr("not a share"));
  EXPECT_THAT(error_of("", "cpu_starve { node = 'gw-1', period = '5s' }"),
              HasSubstr("period must be from 1ms to 1s"));
  EXPECT_THAT(error_of("", "cpu_starve { node = 'gw-1', mechanism = 'magic' }"),
              HasSubstr("mechanism must be one of"));
  EXPECT_THAT(error_of("", "memory_limit { node = 'gw-1', limit = '64QB' }"), HasSubstr("limit: "));
  EXPECT_THAT(error_of("", "memory_limit { node = 'gw-1', limit = '1k' }"),
              HasSubstr("limit must be from"));
  EXPECT_THAT(error_of("", "memory_limit { node = 'gw-1' }"), HasSubstr("needs limit"));
  EXPECT_THAT(error_of("", "ballast { node = 'gw-1', size = '-5M' }"), HasSubstr("size"));
  EXPECT_THAT(error_of("", "ballast { node = 'gw-1', size = '1M', ramp = '-1s' }"),
              HasSubstr("ramp must be >= 0"));
  EXPECT_THAT(error_of("redis = true", "redis_down { mode = 'explode' }"),
              HasSubstr("mode must be one of kill, hang, blackhole"));
  EXPECT_THAT(error_of("redis = true", "redis_down { mode = 'blackhole' }"),
              HasSubstr("no fault proxy in front of 'redis'"));
  EXPECT_THAT(error_of("", "jwks_rotate { mode = 'sideways' }"),
              HasSubstr("mode must be one of sign_first, publish_first"));
  EXPECT_THAT(error_of("", "jwks_rotate { mode = 'sign_first', delay = '1s' }"),
              HasSubstr("applies to mode = \"publish_first\" only"));
  EXPECT_THAT(error_of("", "jwks_rotate { }"), HasSubstr("needs mode"));
}

TEST_F(DrillFaultsTest, ToxicsAreCheckedLikeTheProxyChecksThem) {
  const std::string proxied = "proxies = { 'app' }";
  EXPECT_THAT(error_of(proxied, "toxic { node = 'app', type = 'lag' }"),
              HasSubstr("unknown toxic type 'lag'"));
  EXPECT_THAT(error_of(proxied, "toxic { node = 'app', type = 'latency', latency = '-5ms' }"),
              HasSubstr("latency must be >= 0"));
  EXPECT_THAT(error_of(proxied, "toxic { node = 'app', type = 'latency', bytes = 10 }"),
              HasSubstr("has no attribute 'bytes'"));
  EXPECT_THAT(error_of(proxied, "toxic { node = 'app', type = 'latency', stream = 'sideways' }"),
              HasSubstr("stream must be one of"));
  EXPECT_THAT(error_of(proxied, "toxic { node = 'app', type = 'bandwidth', rate = 0 }"),
              HasSubstr("rate must be"));
  EXPECT_THAT(error_of(proxied, "toxic { node = 'app', type = 'latency', toxicity = 3 }"),
              HasSubstr("toxicity"));
  EXPECT_THAT(error_of(proxied, "toxic { node = 'app' }"), HasSubstr("needs type"));
  EXPECT_THAT(error_of(proxied, "toxic { node = 'gw-1', type = 'latency' }"),
              HasSubstr("no fault proxy in front of 'gw-1'"));
  EXPECT_THAT(error_of("proxies = { 'gw-1' }", "mtu { node = 'gw-1', mtu = 20 }"),
              HasSubstr("mtu must be from 68"));
  EXPECT_THAT(
      error_of("proxies = { 'gw-1' }", "mtu { node = 'gw-1', mtu = '1.5k', stream = 'both' }"),
      "(loaded)");
}

TEST_F(DrillFaultsTest, NetworkFaultsTakeAModeAndCheckTheirParameters) {
  const std::string proxied = "proxies = { 'gw-1' }";
  EXPECT_EQ(error_of(proxied, "mtu { node = 'gw-1', stream = 'upstream', mode = 'real' }"),
            "(loaded)");
  EXPECT_EQ(error_of(proxied, "loss { node = 'gw-1', probability = '30%', mode = 'auto' }"),
            "(loaded)");
  EXPECT_EQ(error_of(proxied, "bandwidth { node = 'gw-1', rate = 100, mode = 'proxy' }"),
            "(loaded)");
  EXPECT_THAT(error_of(proxied, "mtu { node = 'gw-1', mode = 'kernel' }"),
              HasSubstr("mode must be one of auto, real, proxy"));
  EXPECT_THAT(error_of(proxied, "mtu { node = 'gw-1', mode = 'real' }"),
              HasSubstr("black-holes one direction"));
  EXPECT_THAT(
      error_of(proxied, "mtu { node = 'gw-1', mtu = 300, stream = 'upstream', mode = 'real' }"),
      HasSubstr("mtu must be from 576 to 1499"));
  EXPECT_THAT(error_of(proxied, "loss { node = 'gw-1' }"), HasSubstr("loss needs probability"));
  EXPECT_THAT(error_of(proxied, "loss { node = 'gw-1', probability = '130%' }"),
              HasSubstr("probability: '130%' must lie strictly between"));
  EXPECT_THAT(error_of(proxied, "bandwidth { node = 'gw-1', rate = -5 }"),
              HasSubstr("rate must be a whole number"));
  EXPECT_THAT(error_of("", "loss { node = 'gw-1', probability = 0.3 }"),
              HasSubstr("no fault proxy in front of 'gw-1'"));
  EXPECT_THAT(error_of(proxied, "bandwidth { node = 'gw-1', rate = 5, stream = 'up' }"),
              HasSubstr("stream must be one of"));
}

TEST(NetworkFaultEmulation, LossAndBandwidthBecomeToxics) {
  FaultAction loss;
  loss.type = "loss";
  loss.params["probability"] = "30%";
  auto body = toxic_body(loss, "downstream");
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->at("type").as_string(), "latency");
  EXPECT_DOUBLE_EQ(body->at("toxicity").as_double(), 0.3);
  EXPECT_EQ(body->at("attributes").as_object().at("latency").as_int64(), kLossRetransmitMs);

  FaultAction bandwidth;
  bandwidth.type = "bandwidth";
  bandwidth.params["rate"] = "64";
  body = toxic_body(bandwidth, "upstream");
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->at("type").as_string(), "bandwidth");
  EXPECT_EQ(body->at("attributes").as_object().at("rate").as_int64(), 64);
}

TEST_F(DrillFaultsTest, PhasesCanMintFreshTokensPostBodiesAndAddIdentities) {
  path_ = ::testing::TempDir() + "drill_phases_" + std::to_string(getpid()) + ".lua";
  std::ofstream(path_)
      << "topology { identities = { 'hot' } }\n"
      << "load { { name = 'a', rate = 100, duration = 2, identities = { hot = 50 } },\n"
      << "       { name = 'b', rate = 100, duration = 2, fresh_tokens = true, body = '16KiB' } }\n"
      << "thresholds { ['b.status_429_share{node=hot@gw-1}'] = '> 50%' }\n";
  auto script = ScenarioScript::load(path_, {});
  ASSERT_TRUE(script) << script.error().message;
  const Scenario& s = (*script)->scenario();
  EXPECT_EQ(s.phases[0].identity_rates.at("hot"), 50);
  EXPECT_FALSE(s.phases[0].fresh_tokens);
  EXPECT_TRUE(s.phases[1].fresh_tokens);
  EXPECT_EQ(s.phases[1].body_bytes, 16 * 1024);
  EXPECT_EQ(s.thresholds.at(0).node, "hot@gw-1");

  auto error = [&](const std::string& text) {
    std::ofstream(path_) << text;
    auto loaded = ScenarioScript::load(path_, {});
    return loaded ? std::string("(loaded)") : loaded.error().message;
  };
  EXPECT_THAT(error("load { { name = 'a', rate = 1, duration = 1, identities = { cold = 5 } } }"),
              HasSubstr("identity 'cold' is not in topology.identities"));
  EXPECT_THAT(error("topology { identities = { 'hot' } }\n"
                    "load { { name = 'a', rate = 1, duration = 1, identities = { hot = -5 } } }"),
              HasSubstr("identity = requests/s"));
  EXPECT_THAT(
      error("topology { identities = { 'a b' } }\nload { { name = 'a', rate = 1, duration = 1 } }"),
      HasSubstr("must be 1-64 letters"));
  EXPECT_THAT(error("load { { name = 'a', rate = 1, duration = 1, body = 'huge' } }"),
              HasSubstr("body must be a size"));
  EXPECT_THAT(error("load { { name = 'a', rate = 1, duration = 1, fresh_tokens = 1 } }"),
              HasSubstr("fresh_tokens must be true or false"));
  EXPECT_THAT(error("load { { name = 'a', rate = 1, duration = 1 } }\n"
                    "thresholds { ['a.error_rate{node=cold@gw-1}'] = '< 1%' }"),
              HasSubstr("an identity's stream (hot@gw-1)"));
}

TEST(DrillFaultBodies, ToxicBodiesCarryTheProxysUnits) {
  FaultAction a;
  a.type = "toxic";
  a.node = "app";
  a.params = {
      {"type", "slicer"}, {"average_size", "1k"}, {"size_variation", "100"}, {"delay", "2ms"}};
  auto body = toxic_body(a, "downstream");
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->at("attributes").as_object().at("average_size").as_int64(), 1024);
  EXPECT_EQ(body->at("attributes").as_object().at("delay").as_int64(),
            2000);  // slicer: microseconds
  a.params = {{"type", "latency"}, {"latency", "1.5s"}, {"jitter", "10ms"}};
  body = toxic_body(a, "upstream");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->at("attributes").as_object().at("latency").as_int64(), 1500);
  EXPECT_EQ(body->at("stream").as_string(), "upstream");
  FaultAction mtu;
  mtu.type = "mtu";
  body = toxic_body(mtu, "upstream");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->at("type").as_string(), "mtu_blackhole");
  EXPECT_EQ(body->at("attributes").as_object().at("mtu").as_int64(), 1400);
}

TEST(DrillFaultBodies, SharesArePercentagesOrFractions) {
  EXPECT_DOUBLE_EQ(*parse_share("20%"), 0.2);
  EXPECT_DOUBLE_EQ(*parse_share("0.35"), 0.35);
  EXPECT_FALSE(parse_share("0%"));
  EXPECT_FALSE(parse_share("100%"));
  EXPECT_FALSE(parse_share(""));
}

TEST(BaselineRatio, LatencyAgainstTheFirstPhase) {
  auto t = parse_condition("p99_vs_baseline", "> 3x");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_DOUBLE_EQ(t->limit, 3);
  EXPECT_FALSE(parse_condition("error_rate_vs_baseline", "> 3"));
  EXPECT_FALSE(parse_condition("p99_vs_baseline", "> lots"));

  WindowStats stats;
  for (int i = 0; i < 100; ++i) stats.latency.record(40'000'000);  // 40 ms
  stats.requests = 100;
  EXPECT_EQ(metric_value(stats, "p99_vs_baseline"), 0);  // no baseline known
  Histogram baseline;
  for (int i = 0; i < 100; ++i) baseline.record(4'000'000);  // 4 ms
  stats.baseline_latency = baseline;
  EXPECT_NEAR(metric_value(stats, "p99_vs_baseline"), 10.0, 0.5);
  EXPECT_TRUE(threshold_passes(*t, metric_value(stats, "p99_vs_baseline")));
  EXPECT_EQ(format_metric("p99_vs_baseline", 2.5), "2.50x");
}

}  // namespace
}  // namespace gatedrill

// The CA / registry part of the scenario language: topology keys (tls = "mtls", pki, registry,
// policy) and the catalog's CA and registry faults, each mistake a specific error before
// anything starts; plus the cross-node metrics the PKI and registry drills assert.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "scenarios/pki_fault_catalog.hpp"
#include "scenarios/scenario_script.hpp"
#include "scenarios/thresholds.hpp"

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

class PkiFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "pki_faults_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(dir_.c_str(), 0755);
    std::ofstream(dir_ + "/allow.rego") << "package gatedrill.authz\ndefault allow = true\n";
  }
  void TearDown() override {
    for (const char* f : {"/scenario.lua", "/allow.rego"}) unlink((dir_ + f).c_str());
    rmdir(dir_.c_str());
  }
  Result<std::unique_ptr<ScenarioScript>> load(const std::string& text) {
    std::ofstream(dir_ + "/scenario.lua") << text;
    return ScenarioScript::load(dir_ + "/scenario.lua", {});
  }
  std::string error_of(const std::string& text) {
    auto script = load(text);
    return script ? std::string("(loaded)") : script.error().message;
  }
  // A topology, a 10 s load and one timeline callback holding `call`.
  std::string with(const std::string& topology, const std::string& call) {
    return "topology { " + topology +
           " }\nload { { name = 's', rate = 100, duration = '10s' } }\n" + "at('1s', function() " +
           call + " end)\n";
  }
  std::string dir_;
};

constexpr const char* kMtls = "gateways = 3, tls = 'mtls'";
constexpr const char* kRegistry = "gateways = 2, registry = true, policy = 'allow.rego'";

TEST_F(PkiFaultsTest, MtlsAndRegistryTopologyIsReadWithThePolicyNextToTheScenario) {
  auto script = load(
      "topology { gateways = 2, tls = 'mtls', pki = { trust_domain = 'drill.test', svid_ttl = "
      "'4s', "
      "requests_per_connection = 20 }, registry = { poll = '250ms' }, policy = 'allow.rego' }\n"
      "load { { name = 's', rate = 100, duration = '2s' } }\n");
  ASSERT_TRUE(script) << script.error().message;
  const TopologySpec& t = (*script)->scenario().topology;
  EXPECT_EQ(t.tls, "mtls");
  EXPECT_EQ(t.pki.trust_domain, "drill.test");
  EXPECT_EQ(t.pki.svid_ttl, std::chrono::seconds(4));
  EXPECT_EQ(t.pki.requests_per_connection, 20);
  EXPECT_TRUE(t.registry.enabled);
  EXPECT_EQ(t.registry.poll, std::chrono::milliseconds(250));
  EXPECT_EQ(t.registry.policy_path, dir_ + "/allow.rego");
  EXPECT_THAT(t.registry.policy_text, HasSubstr("default allow = true"));
  auto names = (*script)->scenario().node_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "gw-2"), names.end());
}

TEST_F(PkiFaultsTest, TopologyMistakesAreSpecific) {
  const std::string load_line = "\nload { { name = 's', rate = 100, duration = '2s' } }\n";
  EXPECT_THAT(error_of("topology { tls = 'mutual' }" + load_line),
              HasSubstr("\"plain\", \"tls\" or \"mtls\""));
  EXPECT_THAT(error_of("topology { pki = { svid_ttl = '4s' } }" + load_line),
              HasSubstr("pki needs tls = \"mtls\""));
  EXPECT_THAT(error_of("topology { tls = 'mtls', pki = { ttl = '4s' } }" + load_line),
              HasSubstr("topology.pki: unknown key 'ttl'"));
  EXPECT_THAT(error_of("topology { tls = 'mtls', pki = { svid_ttl = '1s' } }" + load_line),
              HasSubstr("svid_ttl must be at least 2s"));
  EXPECT_THAT(
      error_of("topology { tls = 'mtls', pki = { trust_domain = 'spiffe://x' } }" + load_line),
      HasSubstr("trust_domain must be a name"));
  EXPECT_THAT(error_of("topology { registry = true }" + load_line),
              HasSubstr("registry needs policy"));
  EXPECT_THAT(error_of("topology { registry = 'yes', policy = 'allow.rego' }" + load_line),
              HasSubstr("registry must be true, false or a table"));
  EXPECT_THAT(
      error_of("topology { registry = { poll = '1ms' }, policy = 'allow.rego' }" + load_line),
      HasSubstr("poll must be at least 50ms"));
  EXPECT_THAT(
      error_of("topology { registry = { jitter = 'no' }, policy = 'allow.rego' }" + load_line),
      HasSubstr("topology.registry.jitter must be true or false"));
  // The missing file is named as resolved, next to the scenario.
  EXPECT_THAT(error_of("topology { registry = true, policy = 'missing.rego' }" + load_line),
              HasSubstr("cannot read " + dir_ + "/missing.rego"));
}

TEST_F(PkiFaultsTest, FaultsNeedTheirPeerInTheTopology) {
  EXPECT_THAT(error_of(with("gateways = 2", "fault.ca_roll_intermediate {}")),
              HasSubstr("ca_roll_intermediate needs the CA: topology { tls = \"mtls\" }"));
  EXPECT_THAT(error_of(with("gateways = 2", "fault.registry_offline { duration = '2s' }")),
              HasSubstr("registry_offline needs the policy registry"));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_stop_rotation { node = 'gw-1' }")),
              HasSubstr("ca_stop_rotation does not apply to gw-1"));
  EXPECT_EQ(error_of(with(kMtls, "fault.ca_expired_crl { duration = '2s' }")), "(loaded)");
  EXPECT_EQ(error_of(with(kRegistry, "fault.registry_slow { latency = '300ms', duration = '2s' }")),
            "(loaded)");
  EXPECT_THAT(error_of(with(kRegistry, "fault.registry_slow { latency = '-3ms' }")),
              HasSubstr("must be >= 0"));
  EXPECT_THAT(error_of(with(kRegistry, "fault.registry_slow {}")),
              HasSubstr("registry_slow needs latency"));
}

TEST_F(PkiFaultsTest, DesyncNodesAndModesAreChecked) {
  auto script = load(
      with(kMtls, "fault.ca_desync { nodes = { 'gw-3', 'gw-2' }, mode = 'delay', delay = '2s' }"));
  ASSERT_TRUE(script) << script.error().message;
  const FaultAction& a = (*script)->scenario().timeline.at(0).actions.at(0);
  EXPECT_EQ(a.node, "ca");
  EXPECT_EQ(a.params.at("nodes"), "gw-2,gw-3");  // sorted, joined

  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync {}")), HasSubstr("ca_desync needs nodes"));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = { 'gw-9' } }")),
              HasSubstr("'gw-9' is not a gateway of this topology (gw-1..gw-3)"));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = { 'gw-1', 'gw-2', 'gw-3' } }")),
              HasSubstr("at least one node that stays current"));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = { 'gw-1', 'gw-1' } }")),
              HasSubstr("twice"));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = { 'gw-1' }, mode = 'drop' }")),
              HasSubstr("mode must be \"withhold\" or \"delay\", got \"drop\""));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = { 'gw-1' }, delay = '2s' }")),
              HasSubstr("delay only applies to mode = \"delay\""));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = { 'gw-1' }, mode = 'delay' }")),
              HasSubstr("needs delay = \"3s\" or a duration"));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = { 'gw-1', 7 } }")),
              HasSubstr("must be a list of names"));
  EXPECT_THAT(error_of(with(kMtls, "fault.ca_desync { nodes = {} }")),
              HasSubstr("must not be empty"));
}

TEST_F(PkiFaultsTest, CrlRevokeTakesTheClientAndAnOptionalLag) {
  EXPECT_EQ(error_of(with(kMtls, "fault.crl_revoke {}")), "(loaded)");
  EXPECT_EQ(error_of(with(
                kMtls, "fault.crl_revoke { nodes = { 'gw-2' }, mode = 'delay', duration = '3s' }")),
            "(loaded)");
  // Every node may lag for a CRL (the revocation then reaches nobody for a while).
  EXPECT_EQ(error_of(with(kMtls, "fault.crl_revoke { nodes = { 'gw-1', 'gw-2', 'gw-3' } }")),
            "(loaded)");
  EXPECT_THAT(error_of(with(kMtls, "fault.crl_revoke { identity = 'admin' }")),
              HasSubstr("identity must be \"client\""));
  EXPECT_THAT(error_of(with(kMtls, "fault.crl_revoke { mode = 'delay', delay = '1s' }")),
              HasSubstr("mode and delay need nodes"));
}

TEST_F(PkiFaultsTest, RegistryFaultsAreChecked) {
  EXPECT_EQ(error_of(with(kRegistry, "fault.registry_partial { nodes = { 'gw-2' } }")), "(loaded)");
  // The registry picks stale nodes by a hash of the name: not every set can be singled out.
  EXPECT_THAT(error_of(with("gateways = 3, registry = true, policy = 'allow.rego'",
                            "fault.registry_partial { nodes = { 'gw-2' } }")),
              HasSubstr("cannot hold back {gw-2} alone"));
  EXPECT_THAT(error_of(with(kRegistry, "fault.policy_publish {}")),
              HasSubstr("policy_publish needs file"));
  EXPECT_THAT(error_of(with(kRegistry, "fault.policy_publish { file = 'nope.rego' }")),
              HasSubstr("cannot read " + dir_ + "/nope.rego"));
  auto script =
      load(with(kRegistry, "fault.policy_publish { file = 'allow.rego', duration = '2s' }"));
  ASSERT_TRUE(script) << script.error().message;
  EXPECT_EQ((*script)->scenario().timeline.at(0).actions.at(0).params.at("path"),
            dir_ + "/allow.rego");

  EXPECT_THAT(error_of(with(kRegistry, "fault.break_glass { file = 'allow.rego' }")),
              HasSubstr("needs reason"));
  EXPECT_THAT(error_of(with(kRegistry, "fault.break_glass { state = 'maybe' }")),
              HasSubstr("state must be \"on\" or \"off\""));
  EXPECT_THAT(error_of(with(kRegistry, "fault.break_glass { state = 'off', reason = 'x' }")),
              HasSubstr("takes no file or reason"));
  EXPECT_EQ(error_of(with(
                kRegistry,
                "fault.break_glass { file = 'allow.rego', reason = 'INC-7', duration = '2s' }")),
            "(loaded)");
  EXPECT_EQ(error_of(with(kRegistry, "fault.break_glass { state = 'off' }")), "(loaded)");
  EXPECT_THAT(error_of(with(kRegistry, "fault.deregister { service = 'orders' }")),
              HasSubstr("service must be \"app\""));
  EXPECT_THAT(error_of(with(kRegistry, "fault.deregister {}")),
              HasSubstr("deregister needs service"));
}

TEST(PartialPercent, SinglesOutTheStaleNodesByTheirHash) {
  // gw-1 hashes to 43, gw-2 to 54, gw-3 to 65 (FNV-1a mod 100, as the registry computes it).
  auto two = partial_percent_for({"gw-1", "gw-2"}, {"gw-2"});
  ASSERT_TRUE(two);
  EXPECT_EQ(*two, 44);
  auto all_stale = partial_percent_for({"gw-1", "gw-2"}, {"gw-1", "gw-2"});
  ASSERT_TRUE(all_stale);
  EXPECT_EQ(*all_stale, 0);
  EXPECT_FALSE(partial_percent_for({"gw-1", "gw-2"}, {"gw-1"}));
  EXPECT_TRUE(partial_percent_for({"gw-1", "gw-2", "gw-3"}, {"gw-3"}));
}

TEST(CrossNodeMetrics, ErrorShareAndSplitCountNodesNotRequests) {
  auto node = [](int64_t requests, int64_t errors) {
    WindowStats s;
    s.requests = requests;
    s.errors = errors;
    return s;
  };
  // A stale node that fails every (rare) handshake next to a busy healthy one: half the nodes.
  std::vector<WindowStats> desync = {node(600, 0), node(12, 12)};
  EXPECT_DOUBLE_EQ(cross_node_value(desync, "node_error_share"), 0.5);
  EXPECT_DOUBLE_EQ(cross_node_value(desync, "node_split"), 0.5);
  std::vector<WindowStats> agree = {node(100, 100), node(100, 99), node(100, 98)};
  EXPECT_DOUBLE_EQ(cross_node_value(agree, "node_error_share"), 1.0);
  EXPECT_DOUBLE_EQ(cross_node_value(agree, "node_split"), 0.0);
  // Nodes without requests do not count; none at all is 0.
  EXPECT_DOUBLE_EQ(cross_node_value({node(0, 0), node(10, 0)}, "node_error_share"), 0.0);
  EXPECT_DOUBLE_EQ(cross_node_value({}, "node_split"), 0.0);
  EXPECT_TRUE(is_cross_node("node_split"));
  EXPECT_FALSE(is_cross_node("error_rate"));
  auto parsed = parse_threshold("node_error_share", "> 40%");
  ASSERT_TRUE(parsed);
  EXPECT_DOUBLE_EQ(parsed->limit, 0.4);
  EXPECT_FALSE(parse_threshold("node_split", "> 140%"));
}

}  // namespace
}  // namespace gatedrill

// How the network faults choose their mechanism and record it: mode = "proxy" and an absent
// network use the fault proxy's toxics (one per stream) and say why; mode = "real" without a
// network is an error, not a silent emulation; with a network (root) the fault runs in it and
// names its namespaces, and the proxy is told to relay through them. The effects of each
// mechanism are measured in tests/faults (fault_network_test, toxics_test).
#include "scenarios/network_faults.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scenarios/faults/fault_network.hpp"

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

FaultAction action(const std::string& type, std::map<std::string, std::string> params) {
  FaultAction a;
  a.type = type;
  a.node = "gw-1";
  a.params = std::move(params);
  a.where = "test.lua:1";
  return a;
}

// Counts the toxics asked for and how many were cleared.
struct ToxicLog {
  std::vector<std::string> streams;
  int cleared = 0;
  AddToxic add() {
    return [this](const std::string& stream) -> Result<FaultClear> {
      streams.push_back(stream);
      return FaultClear([this]() -> Result<void> {
        ++cleared;
        return {};
      });
    };
  }
};

TEST(NetworkFaults, ProxyModeEmulatesOnEachStreamAndSaysWhy) {
  ToxicLog log;
  std::map<std::string, std::string> detail;
  auto clear = carry_out_network_fault(action("loss", {{"probability", "30%"}, {"mode", "proxy"}}),
                                       nullptr, log.add(), detail);
  ASSERT_TRUE(clear) << clear.error().message;
  EXPECT_EQ(log.streams, (std::vector<std::string>{"upstream", "downstream"}));
  EXPECT_EQ(detail["mechanism"], "proxy");
  EXPECT_EQ(detail["fallback_reason"], "mode = proxy");
  EXPECT_THAT(detail["emulation"], HasSubstr("latency toxic"));
  ASSERT_TRUE((*clear)());
  EXPECT_EQ(log.cleared, 2);
}

TEST(NetworkFaults, AutoWithoutANetworkFallsBackToTheProxy) {
  ToxicLog log;
  std::map<std::string, std::string> detail;
  FaultNetworks none;  // prepared for nothing
  auto clear = carry_out_network_fault(action("mtu", {{"mtu", "1400"}, {"stream", "upstream"}}),
                                       &none, log.add(), detail);
  ASSERT_TRUE(clear) << clear.error().message;
  EXPECT_EQ(log.streams, (std::vector<std::string>{"upstream"}));
  EXPECT_EQ(detail["mechanism"], "proxy");
  EXPECT_FALSE(detail["fallback_reason"].empty());
  // stream both cannot be real whatever the machine: the reason says so.
  detail.clear();
  ASSERT_TRUE(carry_out_network_fault(action("mtu", {}), &none, log.add(), detail));
  EXPECT_THAT(detail["fallback_reason"], HasSubstr("one direction at a time"));
}

TEST(NetworkFaults, RealModeWithoutANetworkIsAnError) {
  ToxicLog log;
  std::map<std::string, std::string> detail;
  FaultNetworks none;
  auto clear = carry_out_network_fault(action("bandwidth", {{"rate", "100"}, {"mode", "real"}}),
                                       &none, log.add(), detail);
  ASSERT_FALSE(clear);
  EXPECT_EQ(clear.error().code, "bad_fault");
  EXPECT_TRUE(log.streams.empty()) << "fell back silently";
}

TEST(NetworkFaults, WithANetworkTheFaultRunsInItAndTheProxyRelaysThroughIt) {
  if (!FaultNetwork::unavailable_reason().empty())
    GTEST_SKIP() << FaultNetwork::unavailable_reason();
  Scenario scenario;
  scenario.topology.proxies = {"gw-1", "app"};
  TimelineEntry entry;
  entry.actions.push_back(action("mtu", {{"stream", "upstream"}, {"mode", "real"}}));
  scenario.timeline.push_back(entry);
  FaultNetworks networks;
  ASSERT_TRUE(networks.prepare(scenario));
  FaultNetwork* net = networks.find("gw-1");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(networks.find("app"), nullptr) << "a node without network faults got namespaces";
  std::string ns_path = FaultNetwork::ns_path(net->client_ns());

  auto flags = networks.proxy_flags("gw-1", "127.0.0.1:5000", "127.0.0.1:6000");
  ASSERT_EQ(flags.size(), 2u);
  EXPECT_EQ(flags[0], "gw-1=127.0.0.1:5000=10.231.2.2:7000@" + net->client_ns());
  EXPECT_EQ(flags[1], "gw-1.netns=10.231.2.2:7000@" + net->server_ns() + "=127.0.0.1:6000");
  EXPECT_EQ(networks.proxy_flags("app", "127.0.0.1:5001", "127.0.0.1:6001"),
            (std::vector<std::string>{"app=127.0.0.1:5001=127.0.0.1:6001"}));

  ToxicLog log;
  std::map<std::string, std::string> detail;
  auto clear =
      carry_out_network_fault(scenario.timeline[0].actions[0], &networks, log.add(), detail);
  ASSERT_TRUE(clear) << clear.error().message;
  EXPECT_TRUE(log.streams.empty());
  EXPECT_EQ(detail["mechanism"], "netns");
  EXPECT_THAT(detail["namespaces"], HasSubstr(net->router_ns()));
  EXPECT_TRUE((*clear)());
}

TEST(NetworkFaults, ForcedRealModeThatCannotRunStopsThePreparation) {
  Scenario scenario;
  TimelineEntry entry;
  // An MTU under what the namespace links take can only be emulated.
  entry.actions.push_back(
      action("mtu", {{"mtu", "300"}, {"stream", "upstream"}, {"mode", "real"}}));
  scenario.timeline.push_back(entry);
  FaultNetworks networks;
  auto prepared = networks.prepare(scenario);
  ASSERT_FALSE(prepared);
  EXPECT_THAT(prepared.error().message, HasSubstr("mode = \"real\" is not possible here"));
  EXPECT_THAT(prepared.error().message, HasSubstr("test.lua:1"));
}

}  // namespace
}  // namespace gatedrill

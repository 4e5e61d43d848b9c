// The real network faults, measured through the path the scenarios use: a test client on the
// host -> the fault proxy (listening on the host, connecting from the client namespace) ->
// router namespace -> the fault proxy again (listening in the server namespace) -> an echo
// server on the host. Root only; skipped with the reason otherwise.
//  - MTU black hole: a 200-byte exchange passes, a 64 KiB one stalls until the MTU is fixed,
//    in either direction.
//  - 30% packet loss: exchanges are held by retransmission timeouts (latency).
//  - a rate limit caps throughput near the configured rate.
#include "scenarios/faults/fault_network.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "scenarios/faults/fault_proxy.hpp"
#include "tests/faults/loopback_peers.hpp"

namespace gatedrill {
namespace {

using test_peers::Client;
using test_peers::EchoServer;
using test_peers::pattern;
using Clock = std::chrono::steady_clock;

class FaultNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto net = FaultNetwork::create();
    if (!net) GTEST_SKIP() << "no network namespaces here: " << net.error().message;
    net_ = std::move(*net);
    const std::string inside = std::string(FaultNetwork::server_address()) + ":7000";
    auto out = proxy_.add_proxy({"echo.netns", inside, "127.0.0.1:" + std::to_string(echo_.port()),
                                 true, net_->server_ns(), ""});
    ASSERT_TRUE(out) << out.error().message;
    auto in = proxy_.add_proxy({"echo", "127.0.0.1:0", inside, true, "", net_->client_ns()});
    ASSERT_TRUE(in) << in.error().message;
    port_ = in->port;
  }

  // Sends `size` bytes (from a thread: the echo comes back meanwhile) and waits for the echo;
  // returns how many bytes came back before `timeout_ms` without progress.
  static size_t echo(Client& client, size_t size, int timeout_ms) {
    const std::string data = pattern(size);
    std::thread sender([&] { client.send_all(data); });
    auto got = client.receive(size, timeout_ms);
    sender.join();
    EXPECT_EQ(got.data, data.substr(0, got.data.size()));
    return got.data.size();
  }

  // n sequential 1000-byte exchanges on a fresh connection: how many took longer than `slow`,
  // and whether one never completed (5 s without progress; the connection is then abandoned).
  struct Exchanges {
    int slow = 0;
    bool failed = false;
  };
  Exchanges exchanges(int n, std::chrono::milliseconds slow) const {
    Client client(port_);
    Exchanges result;
    for (int i = 0; i < n; ++i) {
      const auto start = Clock::now();
      if (echo(client, 1000, 5000) != 1000) {
        result.failed = true;
        return result;
      }
      if (Clock::now() - start > slow) ++result.slow;
    }
    return result;
  }

  EchoServer echo_;
  FaultProxy proxy_;
  std::unique_ptr<FaultNetwork> net_;
  uint16_t port_ = 0;
};

class MtuBlackhole : public FaultNetworkTest, public ::testing::WithParamInterface<Stream> {};

TEST_P(MtuBlackhole, SmallExchangesPassLargeOnesStallUntilTheMtuIsFixed) {
  Client client(port_);
  ASSERT_EQ(echo(client, 200, 3000), 200u) << "the path does not work before the fault";
  ASSERT_TRUE(net_->set_mtu(GetParam(), 1400).ok());
  EXPECT_EQ(echo(client, 200, 3000), 200u) << "a small exchange did not pass the black hole";

  const std::string big = pattern(64 * 1024);
  std::thread sender([&] { client.send_all(big); });
  auto stalled = client.receive(big.size(), 1500);
  ASSERT_TRUE(net_->set_mtu(GetParam(), 0).ok());
  // TCP retransmits with backoff; the first retransmission after the fix passes.
  auto rest = client.receive(big.size() - stalled.data.size(), 10000);
  sender.join();
  EXPECT_LT(stalled.data.size(), big.size()) << "the large exchange was not black-holed";
  EXPECT_EQ(stalled.data.size() + rest.data.size(), big.size())
      << "the transfer did not recover after the fix";
}

INSTANTIATE_TEST_SUITE_P(Streams, MtuBlackhole,
                         ::testing::Values(Stream::kUpstream, Stream::kDownstream),
                         [](const auto& info) {
                           return info.param == Stream::kUpstream ? "Upstream" : "Downstream";
                         });

TEST_F(FaultNetworkTest, ThirtyPercentLossHoldsExchangesForRetransmissions) {
  if (auto reason = FaultNetwork::loss_unavailable_reason(); !reason.empty())
    GTEST_SKIP() << reason;
  const auto slow = std::chrono::milliseconds(150);
  const Exchanges baseline = exchanges(30, slow);
  ASSERT_TRUE(net_->set_loss(Stream::kUpstream, 0.3).ok());
  const Exchanges lossy = exchanges(30, slow);
  ASSERT_TRUE(net_->set_loss(Stream::kUpstream, 0).ok());
  const Exchanges after = exchanges(30, slow);
  // A lost request segment waits for a retransmission timeout (>= 200 ms, doubling while the
  // retransmissions are lost too); about 9 of 30 are lost, fewer than 3 with probability
  // < 0.2%. A segment lost five times in a row stalls past 5 s: a failed request, the same
  // symptom at its worst.
  EXPECT_FALSE(baseline.failed);
  EXPECT_LE(baseline.slow, 1);
  EXPECT_TRUE(lossy.failed || lossy.slow >= 3) << "30% loss left the exchanges fast";
  EXPECT_FALSE(after.failed);
  EXPECT_LE(after.slow, 1) << "the loss rule was not removed";
}

TEST_F(FaultNetworkTest, RateLimitCapsThroughput) {
  if (auto reason = FaultNetwork::rate_unavailable_reason(); !reason.empty())
    GTEST_SKIP() << reason;
  Client client(port_);
  constexpr size_t kSize = 128 * 1024;
  auto start = Clock::now();
  ASSERT_EQ(echo(client, kSize, 3000), kSize);
  const double unlimited = std::chrono::duration<double>(Clock::now() - start).count();

  constexpr double kRate = 100'000;  // bytes/s
  ASSERT_TRUE(net_->set_rate(Stream::kUpstream, static_cast<int64_t>(kRate)).ok());
  start = Clock::now();
  ASSERT_EQ(echo(client, kSize, 5000), kSize);
  const double limited = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(net_->set_rate(Stream::kUpstream, 0).ok());
  start = Clock::now();
  ASSERT_EQ(echo(client, kSize, 3000), kSize);
  const double lifted = std::chrono::duration<double>(Clock::now() - start).count();

  const double throughput = kSize / limited;
  EXPECT_LT(unlimited, 0.5);
  EXPECT_LT(throughput, kRate * 1.25) << "the cap let " << throughput << " bytes/s through";
  EXPECT_GT(throughput, kRate * 0.5) << "far below the cap: " << throughput << " bytes/s";
  EXPECT_LT(lifted, 0.5) << "the cap was not removed";
}

TEST(FaultNetworkParameters, OutOfRangeValuesAreRefused) {
  auto net = FaultNetwork::create();
  if (!net) GTEST_SKIP() << "no network namespaces here: " << net.error().message;
  EXPECT_EQ((*net)->set_mtu(Stream::kUpstream, 1500).error().code, "netns_setup");
  EXPECT_EQ((*net)->set_mtu(Stream::kUpstream, 100).error().code, "netns_setup");
  EXPECT_EQ((*net)->set_loss(Stream::kUpstream, 1.0).error().code, "netns_setup");
  EXPECT_EQ((*net)->set_rate(Stream::kUpstream, 10).error().code, "netns_setup");
}

TEST(FaultNetworkTeardown, NamespacesOfAKilledRunAreRemovedByTheNext) {
  if (auto reason = FaultNetwork::unavailable_reason(); !reason.empty()) GTEST_SKIP() << reason;
  // A pid that has exited: a run killed before its teardown left this behind.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  const std::string orphan = "gd" + std::to_string(dead) + "n1c";
  auto added = run_command({"ip", "netns", "add", orphan});
  ASSERT_TRUE(added && *added == 0);
  auto net = FaultNetwork::create();
  ASSERT_TRUE(net) << net.error().message;
  const bool left = ::access(FaultNetwork::ns_path(orphan).c_str(), F_OK) == 0;
  if (left) (void)run_command({"ip", "netns", "del", orphan});
  EXPECT_FALSE(left) << orphan << " survived";
}

TEST(FaultNetworkTeardown, NamespacesAreRemovedWithTheNetwork) {
  std::string client_ns;
  {
    auto net = FaultNetwork::create();
    if (!net) GTEST_SKIP() << "no network namespaces here: " << net.error().message;
    client_ns = (*net)->client_ns();
    EXPECT_EQ(::access(FaultNetwork::ns_path(client_ns).c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(FaultNetwork::ns_path(client_ns).c_str(), F_OK), 0);
}

}  // namespace
}  // namespace gatedrill

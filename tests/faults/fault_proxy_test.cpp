// The fault proxy between a client and an echo server on 127.0.0.1, with the effect of each
// toxic measured on the wire: latency shifts the round trip, mtu_blackhole passes a small
// exchange and stalls a large one, limit_data cuts, reset_peer resets, toxics change live.
#include "scenarios/faults/fault_proxy.hpp"

#include <algorithm>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "core/time/time_source.hpp"
#include "tests/faults/loopback_peers.hpp"

namespace gatedrill {
namespace {

using test_peers::Client;
using test_peers::EchoServer;
using test_peers::pattern;

Toxic toxic(const char* json) {
  auto t = parse_toxic(boost::json::parse(json).as_object());
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : Toxic{};
}

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto info = proxy_.add_proxy(
        {"echo", "127.0.0.1:0", "127.0.0.1:" + std::to_string(echo_.port()), true, "", ""});
    ASSERT_TRUE(info.ok()) << info.error().message;
    port_ = info->port;
    ASSERT_NE(port_, 0);
  }

  // One round trip of `size` bytes; nanoseconds, or -1 when it did not complete.
  int64_t round_trip_ns(Client& client, size_t size) {
    const std::string data = pattern(size);
    const int64_t start = time_.monotonic_ns();
    client.send_all(data);
    auto r = client.receive(size, 5000);
    if (r.end != Client::End::kComplete || r.data != data) return -1;
    return time_.monotonic_ns() - start;
  }

  int64_t median_round_trip_ns(Client& client, int n) {
    std::vector<int64_t> v;
    for (int i = 0; i < n; ++i) v.push_back(round_trip_ns(client, 100));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

  SystemTimeSource time_;
  EchoServer echo_;
  FaultProxy proxy_;
  uint16_t port_ = 0;
};

TEST_F(FaultProxyTest, PassesBytesThroughUnchangedWithoutToxics) {
  Client client(port_);
  const std::string data = pattern(256 * 1024);
  std::thread writer([&] { client.send_all(data); });
  auto r = client.receive(data.size(), 5000);
  writer.join();
  EXPECT_EQ(r.end, Client::End::kComplete);
  EXPECT_TRUE(r.data == data);
  EXPECT_EQ(proxy_.proxy("echo")->connections, 1u);
}

TEST_F(FaultProxyTest, LatencyToxicShiftsTheRoundTripByItsAmount) {
  Client client(port_);
  const int64_t base = median_round_trip_ns(client, 5);
  ASSERT_GT(base, 0);
  ASSERT_TRUE(
      proxy_.add_toxic("echo", toxic(R"({"type":"latency","attributes":{"latency":150}})")).ok());
  const int64_t slowed = median_round_trip_ns(client, 5);
  ASSERT_GT(slowed, 0);
  const double shift_ms = static_cast<double>(slowed - base) / 1e6;
  EXPECT_GT(shift_ms, 140);
  EXPECT_LT(shift_ms, 260);
  // Removed while the connection is open: back to the base round trip.
  ASSERT_TRUE(proxy_.remove_toxic("echo", "latency_downstream").ok());
  EXPECT_LT(static_cast<double>(median_round_trip_ns(client, 5)) / 1e6, 100);
}

TEST_F(FaultProxyTest, MtuBlackholePassesSmallExchangesAndStallsLargeOnes) {
  ASSERT_TRUE(
      proxy_
          .add_toxic(
              "echo",
              toxic(R"({"type":"mtu_blackhole","stream":"upstream","attributes":{"mtu":1400}})"))
          .ok());
  Client client(port_);
  for (int i = 0; i < 3; ++i) EXPECT_GT(round_trip_ns(client, 200), 0) << "exchange " << i;
  const std::string big = pattern(64 * 1024);
  client.send_all(big);
  auto stalled = client.receive(big.size(), 500);
  EXPECT_EQ(stalled.end, Client::End::kTimeout);
  EXPECT_EQ(stalled.data.size(), 0u);
  // The path is fixed: the held bytes flow again.
  ASSERT_TRUE(proxy_.remove_toxic("echo", "mtu_blackhole_upstream").ok());
  auto rest = client.receive(big.size(), 5000);
  EXPECT_EQ(rest.end, Client::End::kComplete);
  EXPECT_TRUE(rest.data == big);
}

TEST_F(FaultProxyTest, LimitDataClosesAfterTheLimit) {
  ASSERT_TRUE(
      proxy_.add_toxic("echo", toxic(R"({"type":"limit_data","attributes":{"bytes":1000}})")).ok());
  Client client(port_);
  const std::string data = pattern(4000);
  client.send_all(data);
  auto r = client.receive(data.size(), 5000);
  EXPECT_EQ(r.end, Client::End::kEof);
  EXPECT_EQ(r.data, data.substr(0, 1000));
}

TEST_F(FaultProxyTest, ResetPeerResetsTheConnection) {
  ASSERT_TRUE(
      proxy_
          .add_toxic(
              "echo",
              toxic(R"({"type":"reset_peer","stream":"upstream","attributes":{"timeout":50}})"))
          .ok());
  Client client(port_);
  client.send_all("hello");
  auto r = client.receive(5, 5000);
  EXPECT_EQ(r.end, Client::End::kReset);
  EXPECT_TRUE(r.data.empty());
}

TEST_F(FaultProxyTest, TimeoutToxicSwallowsDataThenCloses) {
  ASSERT_TRUE(
      proxy_
          .add_toxic(
              "echo",
              toxic(R"({"type":"timeout","stream":"upstream","attributes":{"timeout":200}})"))
          .ok());
  Client client(port_);
  const int64_t start = time_.monotonic_ns();
  client.send_all("hello");
  auto r = client.receive(5, 5000);
  const double took_ms = static_cast<double>(time_.monotonic_ns() - start) / 1e6;
  EXPECT_EQ(r.end, Client::End::kEof);
  EXPECT_TRUE(r.data.empty());
  EXPECT_GT(took_ms, 180);
}

TEST_F(FaultProxyTest, BandwidthToxicSlowsALargeTransfer) {
  ASSERT_TRUE(
      proxy_.add_toxic("echo", toxic(R"({"type":"bandwidth","attributes":{"rate":100}})")).ok());
  Client client(port_);
  const std::string data = pattern(30 * 1024);  // 300 ms at 100 KiB/s
  const int64_t start = time_.monotonic_ns();
  client.send_all(data);
  auto r = client.receive(data.size(), 5000);
  const double took_ms = static_cast<double>(time_.monotonic_ns() - start) / 1e6;
  EXPECT_EQ(r.end, Client::End::kComplete);
  EXPECT_TRUE(r.data == data);
  EXPECT_GT(took_ms, 250);
  EXPECT_LT(took_ms, 2000);
}

TEST_F(FaultProxyTest, SlowCloseDelaysTheEndOfStream) {
  ASSERT_TRUE(
      proxy_.add_toxic("echo", toxic(R"({"type":"slow_close","attributes":{"delay":300}})")).ok());
  Client client(port_);
  EXPECT_GT(round_trip_ns(client, 10), 0);
  const int64_t start = time_.monotonic_ns();
  client.shutdown_write();
  auto r = client.receive(1, 5000);
  const double took_ms = static_cast<double>(time_.monotonic_ns() - start) / 1e6;
  EXPECT_EQ(r.end, Client::End::kEof);
  EXPECT_GT(took_ms, 280);
}

TEST_F(FaultProxyTest, SlicerDeliversEverythingInOrder) {
  ASSERT_TRUE(
      proxy_
          .add_toxic(
              "echo",
              toxic(
                  R"({"type":"slicer","attributes":{"average_size":64,"size_variation":32,"delay":100}})"))
          .ok());
  Client client(port_);
  const std::string data = pattern(20000);
  client.send_all(data);
  auto r = client.receive(data.size(), 5000);
  EXPECT_EQ(r.end, Client::End::kComplete);
  EXPECT_TRUE(r.data == data);
}

TEST_F(FaultProxyTest, ZeroToxicityLeavesConnectionsAlone) {
  ASSERT_TRUE(proxy_.add_toxic("echo", toxic(R"({"type":"timeout","toxicity":0.0})")).ok());
  Client client(port_);
  EXPECT_GT(round_trip_ns(client, 100), 0);
}

TEST_F(FaultProxyTest, RegistryRejectsDuplicatesAndUnknownNames) {
  EXPECT_EQ(proxy_.add_proxy({"echo", "127.0.0.1:0", "127.0.0.1:1", true, "", ""}).error().code,
            "duplicate_proxy");
  EXPECT_EQ(proxy_.add_proxy({"x", "127.0.0.1", "127.0.0.1:1", true, "", ""}).error().code,
            "bad_proxy");
  EXPECT_EQ(proxy_.add_proxy({"x", "nohost:0", "127.0.0.1:1", true, "", ""}).error().code,
            "bad_proxy");
  ASSERT_TRUE(proxy_.add_toxic("echo", toxic(R"({"type":"latency"})")).ok());
  EXPECT_EQ(proxy_.add_toxic("echo", toxic(R"({"type":"latency"})")).error().code,
            "duplicate_toxic");
  EXPECT_EQ(proxy_.add_toxic("nope", toxic(R"({"type":"latency"})")).error().code, "no_such_proxy");
  EXPECT_EQ(proxy_.remove_toxic("echo", "nope").error().code, "no_such_toxic");
  ASSERT_TRUE(proxy_.remove_proxy("echo").ok());
  EXPECT_EQ(proxy_.remove_proxy("echo").error().code, "no_such_proxy");
  EXPECT_TRUE(proxy_.proxies().empty());
}

}  // namespace
}  // namespace gatedrill

// `gatedrill fault-proxy` as a real process: a proxy given on the command line forwards, the
// admin API takes toxics, bad usage exits 2, SIGTERM stops it cleanly.
#include <unistd.h>

#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "core/http/http_client.hpp"
#include "core/supervisor/supervisor.hpp"
#include "tests/faults/loopback_peers.hpp"

namespace gatedrill {
namespace {

using test_peers::Client;
using test_peers::EchoServer;

class FaultProxyBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "fault_proxy_binary_" + std::to_string(getpid());
  }
  SystemTimeSource time_;
  Supervisor supervisor_{time_};
  std::string dir_;
};

TEST_F(FaultProxyBinaryTest, ForwardsTakesToxicsAndStopsOnSigterm) {
  EchoServer echo;
  auto port = allocate_port();
  auto admin_port = allocate_port();
  ASSERT_TRUE(port.ok() && admin_port.ok());
  const std::string admin = "http://127.0.0.1:" + std::to_string(*admin_port);
  ProcessSpec spec;
  spec.name = "fault-proxy";
  spec.argv = {
      GATEDRILL_BINARY,
      "fault-proxy",
      "--admin-port",
      std::to_string(*admin_port),
      "--proxy",
      "echo=127.0.0.1:" + std::to_string(*port) + "=127.0.0.1:" + std::to_string(echo.port())};
  spec.log_file = dir_ + ".log";
  spec.health_url = admin + "/healthz";
  ASSERT_TRUE(supervisor_.spawn(spec));
  auto healthy = supervisor_.wait_healthy("fault-proxy", std::chrono::seconds(15));
  ASSERT_TRUE(healthy) << healthy.error().message;

  {
    Client client(*port);
    client.send_all("hello");
    EXPECT_EQ(client.receive(5, 5000).data, "hello");
  }
  auto toxic = http_post_json(admin + "/proxies/echo/toxics",
                              R"({"type":"limit_data","attributes":{"bytes":3}})");
  ASSERT_TRUE(toxic.ok());
  EXPECT_EQ(toxic->status, 200) << toxic->body;
  {
    Client client(*port);
    client.send_all("hello");
    auto r = client.receive(5, 5000);
    EXPECT_EQ(r.data, "hel");
    EXPECT_EQ(r.end, Client::End::kEof);
  }
  auto unknown = http_post_json(admin + "/proxies/echo/toxics", R"({"type":"nope"})");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 400);

  auto stopped = supervisor_.stop("fault-proxy", std::chrono::seconds(5));
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, 0);
}

TEST_F(FaultProxyBinaryTest, BadProxyFlagIsAUsageError) {
  // No addresses; an '@' without a namespace name; a namespace name with a '/'.
  for (std::string flag :
       {"just-a-name", "p=127.0.0.1:0@=127.0.0.1:1", "p=127.0.0.1:0=127.0.0.1:1@a/b"}) {
    ProcessSpec spec;
    spec.name = "bad";
    spec.argv = {GATEDRILL_BINARY, "fault-proxy", "--proxy", flag};
    spec.log_file = dir_ + "-bad.log";
    ASSERT_TRUE(supervisor_.spawn(spec));
    auto status = supervisor_.wait_exit("bad", std::chrono::seconds(15));
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(*status, 2) << flag;
  }
}

TEST_F(FaultProxyBinaryTest, AMissingNamespaceIsAClearStartError) {
  ProcessSpec spec;
  spec.name = "nons";
  spec.argv = {GATEDRILL_BINARY, "fault-proxy", "--proxy",
               "p=127.0.0.1:0@gatedrill-no-such-netns=127.0.0.1:1"};
  spec.log_file = dir_ + "-nons.log";
  ASSERT_TRUE(supervisor_.spawn(spec));
  auto status = supervisor_.wait_exit("nons", std::chrono::seconds(15));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, 1);
  std::ifstream log(spec.log_file);
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("gatedrill-no-such-netns"), std::string::npos) << text;
}

}  // namespace
}  // namespace gatedrill

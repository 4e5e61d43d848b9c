// A node polling the registry over loopback: no bundle -> no engine (fail closed); a published
// revision is compiled, enforced and reported; a registry outage keeps the last good engine;
// the next revision arrives after recovery.
#include <algorithm>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/http/http_client.hpp"
#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/bundle_poller.hpp"
#include "gateway/policy/registry_server.hpp"

namespace gatedrill {
namespace {

std::string policy_body(const char* allow_role) {
  std::string rego =
      std::string("package api.authz\ndefault allow = false\nallow { input.role == \"") +
      allow_role + "\" }\n";
  return to_json(boost::json::object{{"modules", {{"authz.rego", rego}}}, {"author", "t"}});
}

TEST(BundlePoller, FollowsTheRegistryAndKeepsTheLastGoodBundle) {
  SystemTimeSource clock;
  auto server = RegistryServer::start(clock, {});
  ASSERT_TRUE(server.ok()) << server.error().message;
  std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());

  BundlePollerOptions o;
  o.registry_url = base;
  o.node = "gw-1";
  o.interval = std::chrono::milliseconds(20);
  o.max_backoff = std::chrono::milliseconds(100);
  o.time = &clock;
  BundlePoller poller(o);
  EXPECT_FALSE(poller.poll_once());  // nothing published yet
  EXPECT_EQ(poller.engine(), nullptr);

  ASSERT_EQ(http_request("PUT", base + "/v1/policies", {}, policy_body("admin"))->status, 200);
  poller.start();
  ASSERT_TRUE(poller.wait_for_revision(1, std::chrono::seconds(5)));
  auto engine = poller.engine();
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(engine->allowed("data.api.authz.allow", boost::json::object{{"role", "admin"}}));

  // Outage: polls fail, the node keeps enforcing revision 1.
  ASSERT_EQ(http_request("POST", base + "/admin/fault", {}, R"({"mode":"offline"})")->status, 200);
  EXPECT_FALSE(poller.poll_once());
  EXPECT_GE(poller.failures(), 1);
  EXPECT_EQ(poller.revision(), 1);
  EXPECT_TRUE(
      poller.engine()->allowed("data.api.authz.allow", boost::json::object{{"role", "admin"}}));

  ASSERT_EQ(http_request("POST", base + "/admin/fault", {}, R"({"mode":"none"})")->status, 200);
  ASSERT_EQ(http_request("PUT", base + "/v1/policies", {}, policy_body("ops"))->status, 200);
  ASSERT_TRUE(poller.wait_for_revision(2, std::chrono::seconds(5)));
  EXPECT_TRUE(
      poller.engine()->allowed("data.api.authz.allow", boost::json::object{{"role", "ops"}}));
  EXPECT_FALSE(
      poller.engine()->allowed("data.api.authz.allow", boost::json::object{{"role", "admin"}}));
  poller.stop();

  auto nodes = parse_json(http_get(base + "/v1/nodes")->body);
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(nodes->at("enforced").at("gw-1"), boost::json::value(2));
}

TEST(BundlePoller, NoRegistryMeansNoEngine) {
  SystemTimeSource clock;
  auto server = RegistryServer::start(clock, {});
  ASSERT_TRUE(server.ok());
  std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  (*server)->stop();  // the port is now closed
  BundlePollerOptions o;
  o.registry_url = base;
  o.time = &clock;
  BundlePoller poller(o);
  EXPECT_FALSE(poller.poll_once());
  EXPECT_FALSE(poller.poll_once());
  EXPECT_EQ(poller.failures(), 2);
  EXPECT_EQ(poller.engine(), nullptr);
}

// Seed 003's recovery storm: after an outage every node retries. With full jitter the retries
// of a fleet spread over the backoff window; without, they land at the same instant.
TEST(BundlePoller, BackoffGrowsToItsCapAndJitterSpreadsAFleet) {
  BundlePollerOptions o;
  o.interval = std::chrono::milliseconds(100);
  o.max_backoff = std::chrono::milliseconds(5000);
  std::mt19937_64 rng(42);
  o.jitter = false;
  EXPECT_EQ(BundlePoller::backoff(o, 1, rng).count(), 200);
  EXPECT_EQ(BundlePoller::backoff(o, 3, rng).count(), 800);
  EXPECT_EQ(BundlePoller::backoff(o, 10, rng).count(), 5000);  // capped
  EXPECT_EQ(BundlePoller::backoff(o, 1000, rng).count(), 5000);

  o.jitter = true;
  constexpr int kNodes = 1000;
  std::vector<int> buckets(10, 0);  // the 5 s window in tenths
  int64_t sum = 0;
  for (int i = 0; i < kNodes; ++i) {
    int64_t ms = BundlePoller::backoff(o, 10, rng).count();
    ASSERT_GE(ms, 0);
    ASSERT_LE(ms, 5000);
    sum += ms;
    ++buckets[static_cast<size_t>(std::min<int64_t>(ms / 500, 9))];
  }
  // Uniform: the mean near the middle and no tenth of the window holding much more than a
  // tenth of the fleet (lockstep would put all of it in one).
  EXPECT_NEAR(static_cast<double>(sum) / kNodes, 2500.0, 250.0);
  for (int b : buckets) EXPECT_LT(b, kNodes / 5);
}

}  // namespace
}  // namespace gatedrill

// The registry core: revisions only for bundles that compile, content hashes, break-glass with
// its audit trail, rollback, nodes lagging behind (partial propagation), and discovery entries
// expiring on the TimeSource.
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/time/time_source.hpp"
#include "gateway/policy/registry.hpp"

namespace gatedrill {
namespace {

const PolicyModule kAllowAdmins{
    "authz.rego", "package api.authz\ndefault allow = false\nallow { input.role == \"admin\" }\n"};
const PolicyModule kAllowAll{"authz.rego", "package api.authz\ndefault allow = true\n"};

TEST(PolicyRegistry, PublishesCompiledRevisionsWithContentHashes) {
  ManualTimeSource clock;
  PolicyRegistry reg(clock);
  EXPECT_FALSE(reg.active().has_value());
  auto r1 = reg.publish({kAllowAdmins}, "{}", "alice");
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_EQ(r1->revision, 1);
  auto r2 = reg.publish({kAllowAll}, "{}", "bob");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->revision, 2);
  EXPECT_NE(r1->hash, r2->hash);
  EXPECT_EQ(reg.active()->revision, 2);
  auto same = PolicyEngine::from_sources({kAllowAdmins});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(r1->hash, same->version());
}

TEST(PolicyRegistry, BrokenBundleIsRejectedAndTheActiveOneStays) {
  ManualTimeSource clock;
  PolicyRegistry reg(clock);
  ASSERT_TRUE(reg.publish({kAllowAdmins}, "{}", "alice").ok());
  auto bad =
      reg.publish({{"authz.rego", "package api.authz\nallow {\n  input.x ==\n}\n"}}, "{}", "bob");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("authz.rego:4"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(reg.publish({kAllowAdmins}, "[1]", "bob").ok());
  EXPECT_EQ(reg.active()->revision, 1);
  EXPECT_EQ(reg.audit().size(), 1u);
}

TEST(PolicyRegistry, BreakGlassNeedsAReasonAndIsAudited) {
  ManualTimeSource clock;
  PolicyRegistry reg(clock);
  ASSERT_TRUE(reg.publish({kAllowAdmins}, "{}", "alice").ok());
  auto no_reason = reg.break_glass({kAllowAll}, "oncall", "  ");
  ASSERT_FALSE(no_reason.ok());
  EXPECT_EQ(no_reason.error().code, "missing_reason");
  clock.advance(std::chrono::seconds(30));
  auto bg = reg.break_glass({kAllowAll}, "oncall", "IdP outage INC-42");
  ASSERT_TRUE(bg.ok());
  EXPECT_TRUE(bg->break_glass);
  EXPECT_EQ(reg.active()->revision, 2);
  auto audit = reg.audit();
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].action, "break_glass");
  EXPECT_EQ(audit[1].actor, "oncall");
  EXPECT_EQ(audit[1].detail, "IdP outage INC-42");
  EXPECT_EQ(audit[1].at_ms - audit[0].at_ms, 30000);

  auto back = reg.rollback(1, "alice");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->revision, 3);
  EXPECT_EQ(back->hash, reg.get(1)->hash);
  EXPECT_FALSE(back->break_glass);
  EXPECT_EQ(reg.audit().back().action, "rollback");
  EXPECT_EQ(reg.rollback(9, "alice").error().code, "unknown_revision");
}

TEST(PolicyRegistry, NodesBehindTheActiveRevisionAreLagging) {
  ManualTimeSource clock;
  PolicyRegistry reg(clock);
  ASSERT_TRUE(reg.publish({kAllowAdmins}, "{}", "a").ok());
  ASSERT_TRUE(reg.publish({kAllowAll}, "{}", "a").ok());
  reg.report_enforced("gw-1", 2);
  reg.report_enforced("gw-2", 1);
  reg.report_enforced("gw-3", 0);  // never got a bundle: fails closed
  EXPECT_EQ(reg.lagging_nodes(), (std::vector<std::string>{"gw-2", "gw-3"}));
  reg.report_enforced("gw-2", 2);
  EXPECT_EQ(reg.lagging_nodes(), (std::vector<std::string>{"gw-3"}));
  EXPECT_EQ(reg.enforced().at("gw-1"), 2);
}

TEST(ServiceDiscovery, InstancesExpireWithoutHeartbeats) {
  ManualTimeSource clock;
  ServiceDiscovery d(clock);
  EXPECT_EQ(d.lookup("orders").error().code, "service_not_found");
  d.heartbeat("orders", "10.0.0.2:80", std::chrono::seconds(10));
  d.heartbeat("orders", "10.0.0.1:80", std::chrono::seconds(30));
  EXPECT_EQ(*d.lookup("orders"), (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"}));
  clock.advance(std::chrono::seconds(11));
  EXPECT_EQ(*d.lookup("orders"), (std::vector<std::string>{"10.0.0.1:80"}));
  d.heartbeat("orders", "10.0.0.2:80", std::chrono::seconds(10));  // back
  EXPECT_EQ(d.lookup("orders")->size(), 2u);
  clock.advance(std::chrono::seconds(25));
  EXPECT_EQ(d.lookup("orders").error().code, "service_not_found");
  d.heartbeat("pay", "10.0.0.9:80", std::chrono::seconds(5));
  d.deregister("pay", "10.0.0.9:80");
  EXPECT_FALSE(d.lookup("pay").ok());
}

}  // namespace
}  // namespace gatedrill

namespace gatedrill {
namespace {

TEST(RouteTable, LongestPrefixOnSegmentBoundariesAt50kRoutes) {
  RouteTable t;
  boost::json::array routes;
  for (int i = 0; i < 49998; ++i)
    routes.push_back(
        {{"prefix", "/svc" + std::to_string(i)}, {"service", "s" + std::to_string(i)}});
  routes.push_back({{"prefix", "/api/orders/"}, {"service", "orders"}});
  routes.push_back({{"prefix", "/api/orders/admin"}, {"service", "orders-admin"}});
  auto h = t.replace(routes);
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(t.size(), 50000u);
  EXPECT_EQ(*t.match("/api/orders"), "orders");
  EXPECT_EQ(*t.match("/api/orders/7"), "orders");
  EXPECT_EQ(*t.match("/api/orders/admin/users"), "orders-admin");
  EXPECT_EQ(*t.match("/svc49997/x"), "s49997");
  EXPECT_EQ(t.match("/api/ordersX").error().code, "route_not_found");
  EXPECT_EQ(t.match("/nothing").error().code, "route_not_found");

  routes.push_back({{"prefix", "/one-too-many"}, {"service", "x"}});
  EXPECT_EQ(t.replace(routes).error().code, "bad_routes");
  EXPECT_EQ(t.size(), 50000u);  // unchanged
  EXPECT_EQ(t.replace(boost::json::array{{{"prefix", "/a"}, {"service", "x"}},
                                         {{"prefix", "/a/"}, {"service", "y"}}})
                .error()
                .code,
            "bad_routes");  // duplicate once normalised
  EXPECT_EQ(t.replace(boost::json::array{{{"prefix", "a"}, {"service", "x"}}}).error().code,
            "bad_routes");
  auto root = t.replace(boost::json::array{{{"prefix", "/"}, {"service", "default"}}});
  ASSERT_TRUE(root.ok());
  EXPECT_NE(*root, *h);
  EXPECT_EQ(*t.match("/anything/at/all"), "default");
}

}  // namespace
}  // namespace gatedrill

#include "gateway/routing/route_table.hpp"

#include <string>

#include <gtest/gtest.h>

#include "core/time/time_source.hpp"

namespace gatedrill::gateway {
namespace {

std::string matched(const RouteTable& t, std::string_view path) {
  const Route* r = t.match(path);
  return r ? r->name : "<none>";
}

TEST(RouteTable, ExactBeatsPrefixAndLongestPrefixWins) {
  RouteTable t;
  ASSERT_TRUE(t.add({"api", "/api", true, ""}));
  ASSERT_TRUE(t.add({"items", "/api/items/", true, ""}));
  ASSERT_TRUE(t.add({"login", "/api/items/login", false, ""}));
  EXPECT_EQ(matched(t, "/api"), "api");
  EXPECT_EQ(matched(t, "/api/"), "api");
  EXPECT_EQ(matched(t, "/api/x"), "api");
  EXPECT_EQ(matched(t, "/api/items"), "items");
  EXPECT_EQ(matched(t, "/api/items/7/parts"), "items");
  EXPECT_EQ(matched(t, "/api/items/login"), "login");
  EXPECT_EQ(matched(t, "/api/items/login/x"), "items");  // exact does not extend
  EXPECT_EQ(matched(t, "/apix"), "<none>");              // prefixes stop at segment boundaries
  EXPECT_EQ(matched(t, "/"), "<none>");
}

TEST(RouteTable, RootPrefixCatchesEverything) {
  RouteTable t;
  ASSERT_TRUE(t.add({"all", "/", true, ""}));
  EXPECT_EQ(matched(t, "/"), "all");
  EXPECT_EQ(matched(t, "/deep/path"), "all");
}

TEST(RouteTable, RefusesBadRoutes) {
  RouteTable t;
  EXPECT_FALSE(t.add({"", "/a", true, ""}));
  EXPECT_FALSE(t.add({"x", "a", true, ""}));
  ASSERT_TRUE(t.add({"x", "/a", true, ""}));
  EXPECT_FALSE(t.add({"y", "/a/", true, ""}));  // same prefix
  EXPECT_TRUE(t.add({"z", "/a", false, ""}));   // exact and prefix may share a path
}

TEST(RouteTable, FromJson) {
  auto t = RouteTable::from_json(R"([{"name":"a","prefix":"/a"},{"name":"b","exact":"/b"}])");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(matched(*t, "/a/1"), "a");
  EXPECT_EQ(matched(*t, "/b"), "b");
  EXPECT_EQ(matched(*t, "/b/1"), "<none>");
  for (std::string bad : {"{}", "[1]", R"([{"name":"a"}])",
                          R"([{"name":"a","prefix":"/a","exact":"/a"}])", R"([{"prefix":"/a"}])",
                          R"([{"name":"a","prefix":5}])", "[", R"([{"name":"a","prefix":"a"}])"}) {
    auto r = RouteTable::from_json(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "bad_routes");
  }
}

TEST(RouteTable, FiftyThousandRoutesMatchCorrectly) {
  RouteTable t;
  for (int i = 0; i < 50000; ++i) {
    ASSERT_TRUE(t.add({"svc" + std::to_string(i), "/svc/" + std::to_string(i), i % 2 == 0, ""}));
  }
  EXPECT_EQ(t.size(), 50000u);
  EXPECT_EQ(matched(t, "/svc/42/orders"), "svc42");
  EXPECT_EQ(matched(t, "/svc/43"), "svc43");
  EXPECT_EQ(matched(t, "/svc/43/orders"), "<none>");  // odd routes are exact
  EXPECT_EQ(matched(t, "/svc/49998/a/b/c"), "svc49998");
  EXPECT_EQ(matched(t, "/svc/50000"), "<none>");
}

}  // namespace
}  // namespace gatedrill::gateway

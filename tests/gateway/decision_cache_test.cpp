#include "gateway/authz/decision_cache.hpp"

#include <atomic>
#include <string>

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

// Counts calls; allows `allowed_subject`; its version can change.
class FakeAuthorizer final : public Authorizer {
 public:
  AuthzDecision check(const AuthzRequest& r) const override {
    ++calls;
    bool ok = r.subject == allowed_subject;
    return AuthzDecision{ok, ok ? "allowed" : "policy_denied", "", version()};
  }
  SharedString version() const override { return "v" + std::to_string(version_number.load()); }
  mutable std::atomic<int> calls{0};
  std::atomic<int> version_number{1};
  std::string allowed_subject = "alice";
};

AuthzRequest req(std::string_view token, std::string_view subject, std::string_view path = "/a") {
  AuthzRequest r;
  r.authorization = token;
  r.subject = subject;
  r.method = "GET";
  r.path = path;
  r.route = "default";
  return r;
}

TEST(CachingAuthorizer, CachesAllowsForTheTtl) {
  ManualTimeSource time;
  auto inner = std::make_shared<FakeAuthorizer>();
  CachingAuthorizer cache(inner, time, std::chrono::seconds(10));
  EXPECT_TRUE(cache.check(req("t1", "alice")).allowed);
  EXPECT_TRUE(cache.check(req("t1", "alice")).allowed);
  EXPECT_EQ(inner->calls.load(), 1);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_TRUE(cache.check(req("t1", "alice", "/b")).allowed);  // another path: evaluated
  EXPECT_EQ(inner->calls.load(), 2);
  time.advance(std::chrono::seconds(10));
  EXPECT_TRUE(cache.check(req("t1", "alice")).allowed);  // expired: evaluated again
  EXPECT_EQ(inner->calls.load(), 3);
}

TEST(CachingAuthorizer, NeverCachesDenies) {
  ManualTimeSource time;
  auto inner = std::make_shared<FakeAuthorizer>();
  CachingAuthorizer cache(inner, time, std::chrono::seconds(10));
  EXPECT_FALSE(cache.check(req("t2", "bob")).allowed);
  EXPECT_FALSE(cache.check(req("t2", "bob")).allowed);
  EXPECT_EQ(inner->calls.load(), 2);
}

TEST(CachingAuthorizer, PolicyVersionChangeInvalidates) {
  ManualTimeSource time;
  auto inner = std::make_shared<FakeAuthorizer>();
  CachingAuthorizer cache(inner, time, std::chrono::minutes(10));
  ASSERT_TRUE(cache.check(req("t1", "alice")).allowed);
  inner->allowed_subject = "nobody";  // the new policy denies alice ...
  inner->version_number = 2;          // ... and carries a new version
  auto d = cache.check(req("t1", "alice"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy_version, "v2");
}

}  // namespace
}  // namespace gatedrill::gateway

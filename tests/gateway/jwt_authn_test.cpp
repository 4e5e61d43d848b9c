// The authn filter against an in-memory JWKS and a manual clock: no network, no wall time.
#include "gateway/authn/jwt_authn.hpp"

#include "gateway_test_support.hpp"

#include <atomic>
#include <string>

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

class JwtAuthnTest : public ::testing::Test {
 protected:
  JwtAuthnTest() {
    key_ = *Key::generate(KeyType::kEcP256);
    Jwks jwks;
    jwks.add("k1", JwsAlg::kES256, key_);
    document_ = jwks.to_json();
    JwksCacheOptions options;
    options.jwks_uri = "memory:";
    options.unknown_kid_cooldown = std::chrono::seconds(30);
    cache_ = std::make_unique<JwksCache>(time_, options,
                                         [this](const std::string&, std::chrono::milliseconds) {
                                           ++fetches_;
                                           return Result<std::string>(document_);
                                         });
    cache_->start();
    JwtAuthnConfig config;
    config.claims.issuer = "https://idp";
    config.claims.audiences = {"api"};
    config.claims.leeway = std::chrono::seconds(60);
    authn_ = std::make_unique<JwtAuthn>(config, *cache_, time_);
  }

  std::string token(boost::json::object overrides = {}, std::string kid = "k1") {
    const int64_t now = time_.wall_seconds();
    boost::json::object claims{
        {"iss", "https://idp"}, {"aud", "api"}, {"sub", "bob"}, {"exp", now + 100}};
    for (auto& [k, v] : overrides) claims[k] = v;
    return "Bearer " + *sign_jwt(JwsAlg::kES256, key_, kid, claims);
  }

  ManualTimeSource time_;
  Key key_;
  std::string document_;
  std::atomic<int> fetches_{0};
  std::unique_ptr<JwksCache> cache_;
  std::unique_ptr<JwtAuthn> authn_;
};

TEST_F(JwtAuthnTest, AllowsAValidTokenThenServesItFromTheCache) {
  const std::string t = token();
  auto first = authn_->check(t);
  ASSERT_TRUE(first.allowed()) << first.reason << ": " << first.description;
  EXPECT_EQ(first.subject, "bob");
  EXPECT_FALSE(first.cache_hit);
  auto second = authn_->check(t);
  EXPECT_TRUE(second.allowed());
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(second.subject, "bob");
}

TEST_F(JwtAuthnTest, CachedTokenExpiresWithTheClock) {
  const std::string t = token();  // exp = now + 100, leeway 60
  ASSERT_TRUE(authn_->check(t).allowed());
  time_.advance(std::chrono::seconds(159));
  EXPECT_TRUE(authn_->check(t).allowed());
  time_.advance(std::chrono::seconds(1));
  auto r = authn_->check(t);
  EXPECT_FALSE(r.allowed());
  EXPECT_EQ(r.reason, "token_expired");
  EXPECT_EQ(r.status, 401);
}

// RFC 7519 NumericDate may be written as a number with a fraction part of zero; the cached
// entry keeps the exp the checks read, so such a token expires from the cache too.
TEST_F(JwtAuthnTest, CachedTokenWithADoubleExpExpiresWithTheClock) {
  const std::string t = token({{"exp", static_cast<double>(time_.wall_seconds() + 100)}});
  ASSERT_TRUE(authn_->check(t).allowed());
  EXPECT_TRUE(authn_->check(t).cache_hit);
  time_.advance(std::chrono::seconds(160));
  auto r = authn_->check(t);
  EXPECT_FALSE(r.allowed());
  EXPECT_EQ(r.reason, "token_expired");
}

TEST_F(JwtAuthnTest, SkewBackwardsMakesCachedTokenNotYetValid) {
  const std::string t = token({{"nbf", time_.wall_seconds()}});
  ASSERT_TRUE(authn_->check(t).allowed());
  time_.set_skew(std::chrono::minutes(-5));
  auto r = authn_->check(t);
  EXPECT_EQ(r.reason, "token_not_yet_valid");
  time_.set_skew(std::chrono::milliseconds(0));
  EXPECT_TRUE(authn_->check(t).allowed());
}

TEST_F(JwtAuthnTest, ReasonsAndStatuses) {
  EXPECT_EQ(authn_->check("").reason, "missing_token");
  EXPECT_EQ(authn_->check("Basic dXNlcjpwYXNz").reason, "malformed");
  EXPECT_EQ(authn_->check("Bearer ").reason, "missing_token");
  EXPECT_EQ(authn_->check(token({{"exp", time_.wall_seconds() - 61}})).reason, "token_expired");
  EXPECT_EQ(authn_->check(token({{"iss", "https://other"}})).reason, "bad_issuer");
  auto aud = authn_->check(token({{"aud", "other"}}));
  EXPECT_EQ(aud.reason, "bad_audience");
  EXPECT_EQ(aud.status, 403);
  EXPECT_EQ(authn_->check(token({{"exp", "tomorrow"}})).reason, "bad_claim");
  EXPECT_EQ(authn_->check(token({}, "k2")).reason, "unknown_kid");
}

TEST_F(JwtAuthnTest, UnknownKidRefetchIsRateLimitedByTheCooldown) {
  ASSERT_TRUE(test::eventually([&] { return cache_->fetch_count() == 1; }));
  for (int i = 0; i < 1000; ++i)
    EXPECT_EQ(authn_->check(token({}, "kid-" + std::to_string(i))).reason, "unknown_kid");
  // One refetch for the whole flood: the manual clock stays inside the cooldown.
  ASSERT_TRUE(test::eventually([&] { return cache_->fetch_count() >= 2; }));
  EXPECT_EQ(cache_->fetch_count(), 2u);
  EXPECT_EQ(fetches_.load(), 2);
  time_.advance(std::chrono::seconds(31));
  (void)authn_->check(token({}, "kid-late"));
  EXPECT_TRUE(test::eventually([&] { return cache_->fetch_count() == 3; }));
}

TEST(AuthnReason, MapsCryptoCodes) {
  EXPECT_EQ(authn_reason("expired"), "token_expired");
  EXPECT_EQ(authn_reason("not_yet_valid"), "token_not_yet_valid");
  EXPECT_EQ(authn_reason("bad_signature"), "bad_signature");
}

}  // namespace
}  // namespace gatedrill::gateway

#include "idp-sim/key_ring.hpp"

#include <gtest/gtest.h>

namespace gatedrill {
namespace {

bool jwks_has(const KeyRing& ring, const std::string& kid) {
  auto jwks = Jwks::parse(ring.jwks_json());
  return jwks.ok() && jwks->find(kid) != nullptr;
}

TEST(KeyRing, StartsWithOnePublishedSigningKey) {
  ManualTimeSource time;
  auto ring = KeyRing::create(time, JwsAlg::kES256);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  SigningKey key = ring->current();
  EXPECT_EQ(key.alg, JwsAlg::kES256);
  EXPECT_EQ(key.kid, key.key.thumbprint());
  EXPECT_TRUE(key.published);
  EXPECT_TRUE(jwks_has(*ring, key.kid));
  ASSERT_TRUE(ring->find(key.kid).has_value());
  EXPECT_FALSE(ring->find("nope").has_value());
}

TEST(KeyRing, UsesAStoredKeyOnlyWhenItFitsTheAlg) {
  ManualTimeSource time;
  auto ec = Key::generate(KeyType::kEcP256);
  ASSERT_TRUE(ec.ok());
  auto ring = KeyRing::create(time, JwsAlg::kES256, *ec);
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(ring->current().kid, ec->thumbprint());
  EXPECT_FALSE(KeyRing::create(time, JwsAlg::kEdDSA, *ec).ok());
  auto public_only = Key::from_pem(ec->public_pem());
  ASSERT_TRUE(public_only.ok());
  EXPECT_FALSE(KeyRing::create(time, JwsAlg::kES256, *public_only).ok());
}

TEST(KeyRing, PublishFirstWithoutDelaySwitchesAtOnce) {
  ManualTimeSource time;
  auto ring = KeyRing::create(time, JwsAlg::kEdDSA);
  ASSERT_TRUE(ring.ok());
  std::string old_kid = ring->current().kid;
  auto fresh = ring->rotate_publish_first(std::chrono::milliseconds(0));
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->kid, old_kid);
  EXPECT_EQ(ring->current().kid, fresh->kid);
  EXPECT_TRUE(jwks_has(*ring, fresh->kid));
  EXPECT_TRUE(jwks_has(*ring, old_kid));  // tokens signed before the rotation still verify
}

TEST(KeyRing, PublishFirstWithDelaySwitchesWhenTheDelayHasPassed) {
  ManualTimeSource time;
  auto ring = KeyRing::create(time, JwsAlg::kEdDSA);
  ASSERT_TRUE(ring.ok());
  std::string old_kid = ring->current().kid;
  auto fresh = ring->rotate_publish_first(std::chrono::seconds(30));
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(jwks_has(*ring, fresh->kid));
  EXPECT_EQ(ring->current().kid, old_kid);
  time.advance(std::chrono::seconds(29));
  EXPECT_EQ(ring->current().kid, old_kid);
  time.advance(std::chrono::seconds(1));
  EXPECT_EQ(ring->current().kid, fresh->kid);
}

TEST(KeyRing, SignFirstSignsWithAKeyTheJwksDoesNotHaveUntilPublished) {
  ManualTimeSource time;
  auto ring = KeyRing::create(time, JwsAlg::kES256);
  ASSERT_TRUE(ring.ok());
  auto fresh = ring->rotate_sign_first();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(ring->current().kid, fresh->kid);
  EXPECT_FALSE(ring->current().published);
  EXPECT_FALSE(jwks_has(*ring, fresh->kid));
  auto published = ring->publish_pending();
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0], fresh->kid);
  EXPECT_TRUE(jwks_has(*ring, fresh->kid));
  EXPECT_TRUE(ring->publish_pending().empty());
}

TEST(KeyRing, KeyForAnotherAlgIsNewAndUnpublished) {
  ManualTimeSource time;
  auto ring = KeyRing::create(time, JwsAlg::kES256);
  ASSERT_TRUE(ring.ok());
  auto same = ring->key_for(JwsAlg::kES256);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->kid, ring->current().kid);
  auto ed = ring->key_for(JwsAlg::kEdDSA);
  ASSERT_TRUE(ed.ok());
  EXPECT_EQ(ed->key.type(), KeyType::kEd25519);
  EXPECT_FALSE(jwks_has(*ring, ed->kid));
  EXPECT_EQ(ring->current().alg, JwsAlg::kES256);  // signing is unchanged
  auto again = ring->key_for(JwsAlg::kEdDSA);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->kid, ed->kid);  // reused, not regenerated
}

TEST(KeyRing, StaysBoundedAcrossManyRotations) {
  ManualTimeSource time;
  auto ring = KeyRing::create(time, JwsAlg::kEdDSA);
  ASSERT_TRUE(ring.ok());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(ring->rotate_publish_first(std::chrono::milliseconds(0)).ok());
  }
  auto keys = ring->keys();
  EXPECT_LE(keys.size(), 16u);
  EXPECT_EQ(keys.back().kid, ring->current().kid);
  EXPECT_TRUE(jwks_has(*ring, ring->current().kid));
}

}  // namespace
}  // namespace gatedrill

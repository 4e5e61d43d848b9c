#include "core/crypto/keys.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "core/crypto/base64url.hpp"
#include "tests/crypto/test_keys.hpp"

namespace gatedrill {
namespace {

using test::ec_key;
using test::ed_key;
using test::rsa_key;

class EveryKeyType : public ::testing::TestWithParam<KeyType> {};

TEST_P(EveryKeyType, PublicJwkRoundTripKeepsTheThumbprint) {
  const Key& key = test::shared_key(GetParam());
  ASSERT_TRUE(key.valid());
  EXPECT_TRUE(key.has_private());
  auto jwk = key.public_jwk("k1", "");
  EXPECT_EQ(jwk.at("kid").as_string(), "k1");
  EXPECT_EQ(jwk.at("use").as_string(), "sig");
  EXPECT_FALSE(jwk.contains("d"));
  auto back = Key::from_jwk(jwk);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->has_private());
  EXPECT_EQ(back->type(), GetParam());
  EXPECT_EQ(back->thumbprint(), key.thumbprint());
  EXPECT_EQ(back->public_pem(), key.public_pem());
}

TEST_P(EveryKeyType, PemRoundTripsPrivateAndPublic) {
  const Key& key = test::shared_key(GetParam());
  auto priv = Key::from_pem(key.private_pem());
  ASSERT_TRUE(priv.ok()) << priv.error().message;
  EXPECT_TRUE(priv->has_private());
  EXPECT_EQ(priv->type(), GetParam());
  EXPECT_EQ(priv->thumbprint(), key.thumbprint());
  auto pub = Key::from_pem(key.public_pem());
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_FALSE(pub->has_private());
  EXPECT_TRUE(pub->private_pem().empty());
  EXPECT_EQ(pub->thumbprint(), key.thumbprint());
}

TEST_P(EveryKeyType, DifferentKeysHaveDifferentThumbprints) {
  EXPECT_NE(test::shared_key(GetParam(), 0).thumbprint(), test::shared_key(GetParam(), 1).thumbprint());
  EXPECT_EQ(test::shared_key(GetParam()).thumbprint().size(), 43u);  // 32 bytes, base64url
}

INSTANTIATE_TEST_SUITE_P(Keys, EveryKeyType,
                         ::testing::Values(KeyType::kRsa, KeyType::kEcP256, KeyType::kEd25519));

TEST(KeyThumbprint, MatchesTheRfc7638Example) {
  auto jwk = boost::json::parse(R"({"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",
    "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"})");
  auto key = Key::from_jwk(jwk.as_object());
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->bits(), 2048);
  EXPECT_EQ(key->thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(KeyGenerate, RefusesRsaBelow2048Bits) {
  auto key = Key::generate(KeyType::kRsa, 1024);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code, "bad_key");
}

TEST(KeyFromJwk, RejectsRsaBelow2048Bits) {
  std::string n(128, '\x5a');
  n[0] = '\xc1';   // 1024 bits exactly
  n[127] = '\x6b'; // odd
  boost::json::object jwk{{"kty", "RSA"}, {"e", "AQAB"}, {"n", base64url_encode(n)}};
  auto key = Key::from_jwk(jwk);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code, "bad_jwk");
  EXPECT_NE(key.error().message.find("1024"), std::string::npos) << key.error().message;
}

TEST(KeyFromJwk, RejectsAnEcPointOffTheCurve) {
  auto jwk = ec_key().public_jwk("k", "ES256");
  ASSERT_TRUE(Key::from_jwk(jwk).ok());
  auto y = base64url_decode(jwk.at("y").as_string());
  ASSERT_TRUE(y.ok());
  std::string bad_y = *y;
  bad_y[31] = static_cast<char>(bad_y[31] ^ 0x01);
  jwk["y"] = base64url_encode(bad_y);
  auto key = Key::from_jwk(jwk);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code, "bad_jwk");
  EXPECT_NE(key.error().message.find("curve"), std::string::npos) << key.error().message;
}

TEST(KeyFromJwk, RejectsWrongCoordinateLengthsCurvesAndKeyTypes) {
  auto ec = ec_key().public_jwk("k", "");
  auto short_x = ec;
  short_x["x"] = base64url_encode(std::string(31, 'a'));
  EXPECT_FALSE(Key::from_jwk(short_x).ok());
  auto p384 = ec;
  p384["crv"] = "P-384";
  EXPECT_FALSE(Key::from_jwk(p384).ok());
  auto ed = ed_key().public_jwk("k", "");
  auto x25519 = ed;
  x25519["crv"] = "X25519";
  EXPECT_FALSE(Key::from_jwk(x25519).ok());
  boost::json::object oct{{"kty", "oct"}, {"k", "c2VjcmV0"}};
  EXPECT_FALSE(Key::from_jwk(oct).ok());
  boost::json::object no_kty{{"n", "AQAB"}};
  EXPECT_FALSE(Key::from_jwk(no_kty).ok());
  boost::json::object numeric_kty{{"kty", 1}};
  EXPECT_FALSE(Key::from_jwk(numeric_kty).ok());
}

TEST(KeyFromJwk, RejectsPrivateMembers) {
  auto rsa = rsa_key().public_jwk("k", "RS256");
  rsa["d"] = "AQAB";
  auto key = Key::from_jwk(rsa);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find("private"), std::string::npos);
  auto ed = ed_key().public_jwk("k", "EdDSA");
  ed["d"] = ed["x"];
  EXPECT_FALSE(Key::from_jwk(ed).ok());
}

TEST(KeyFromJwk, RejectsBadBase64Members) {
  auto rsa = rsa_key().public_jwk("k", "RS256");
  rsa["e"] = "AQAB==";
  EXPECT_FALSE(Key::from_jwk(rsa).ok());
  rsa["e"] = 65537;
  EXPECT_FALSE(Key::from_jwk(rsa).ok());
}

TEST(KeyFromPem, RejectsGarbageAndEncryptedKeys) {
  EXPECT_EQ(Key::from_pem("not a pem").error().code, "bad_key");
  EXPECT_FALSE(Key::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").ok());
  EXPECT_FALSE(Key::from_pem("").ok());
}

}  // namespace
}  // namespace gatedrill

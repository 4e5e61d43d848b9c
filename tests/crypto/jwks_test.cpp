#include <openssl/bn.h>
#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/jwt.hpp"
#include "tests/crypto/test_keys.hpp"

namespace gatedrill {
namespace {

std::string doc(std::initializer_list<boost::json::value> keys) {
  boost::json::object d;
  boost::json::array list;
  for (const auto& k : keys) list.push_back(k);
  d["keys"] = std::move(list);
  return boost::json::serialize(d);
}

bool mentions(const std::vector<std::string>& warnings, std::string_view text) {
  for (const auto& w : warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(Jwks, ToJsonAndParseRoundTrip) {
  Jwks jwks;
  jwks.add("rsa", JwsAlg::kRS256, test::rsa_key());
  jwks.add("ec", JwsAlg::kES256, test::ec_key());
  jwks.add("ed", std::nullopt, test::ed_key());
  std::vector<std::string> warnings;
  auto back = Jwks::parse(jwks.to_json(), &warnings);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(back->entries().size(), 3u);
  ASSERT_NE(back->find("rsa"), nullptr);
  EXPECT_EQ(back->find("rsa")->alg, JwsAlg::kRS256);
  EXPECT_EQ(back->find("rsa")->key.thumbprint(), test::rsa_key().thumbprint());
  EXPECT_EQ(back->find("ec")->key.type(), KeyType::kEcP256);
  EXPECT_EQ(back->find("ed")->alg, std::nullopt);
  EXPECT_EQ(back->find("missing"), nullptr);
  EXPECT_EQ(jwks.to_json().find("\"d\""), std::string::npos);  // no private material
}

TEST(Jwks, TokenVerifiesWithTheKeyFoundByKid) {
  Jwks jwks;
  jwks.add(test::ec_key().thumbprint(), JwsAlg::kES256, test::ec_key());
  auto parsed_jwks = Jwks::parse(jwks.to_json());
  ASSERT_TRUE(parsed_jwks.ok());
  auto token = sign_jwt(JwsAlg::kES256, test::ec_key(), test::ec_key().thumbprint(), {{"sub", "a"}});
  ASSERT_TRUE(token.ok());
  auto jwt = parse_jwt(*token);
  ASSERT_TRUE(jwt.ok());
  const auto* entry = parsed_jwks->find(jwt->kid);
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(jws_verify(jwt->alg, entry->key, jwt->signing_input, jwt->signature));
}

TEST(Jwks, SkipsRsaKeysBelow2048Bits) {
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
  ASSERT_NE(small, nullptr);
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(small, "n", &n), 1);
  std::string n_bytes(static_cast<size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_bytes.data()));
  BN_free(n);
  EVP_PKEY_free(small);
  boost::json::object weak{{"kty", "RSA"}, {"kid", "weak"}, {"e", "AQAB"}, {"n", base64url_encode(n_bytes)}};
  std::vector<std::string> warnings;
  auto jwks = Jwks::parse(doc({weak, test::rsa_key().public_jwk("good", "RS256")}), &warnings);
  ASSERT_TRUE(jwks.ok());
  EXPECT_EQ(jwks->find("weak"), nullptr);
  EXPECT_NE(jwks->find("good"), nullptr);
  EXPECT_TRUE(mentions(warnings, "weak")) << warnings.size();
  EXPECT_TRUE(mentions(warnings, "2048"));
}

TEST(Jwks, SkipsEcKeysOffTheCurve) {
  auto off = test::ec_key().public_jwk("off", "ES256");
  auto x = base64url_decode(off.at("x").as_string());
  ASSERT_TRUE(x.ok());
  std::string bad = *x;
  bad[0] = static_cast<char>(bad[0] ^ 0x10);
  off["x"] = base64url_encode(bad);
  std::vector<std::string> warnings;
  auto jwks = Jwks::parse(doc({off, test::ec_key().public_jwk("on", "ES256")}), &warnings);
  ASSERT_TRUE(jwks.ok());
  EXPECT_EQ(jwks->find("off"), nullptr);
  EXPECT_NE(jwks->find("on"), nullptr);
  EXPECT_TRUE(mentions(warnings, "curve"));
}

TEST(Jwks, DropsEveryCopyOfADuplicateKid) {
  std::vector<std::string> warnings;
  auto jwks = Jwks::parse(doc({test::rsa_key(0).public_jwk("dup", "RS256"),
                               test::rsa_key(1).public_jwk("dup", "RS256"),
                               test::ec_key().public_jwk("unique", "ES256")}),
                          &warnings);
  ASSERT_TRUE(jwks.ok());
  EXPECT_EQ(jwks->find("dup"), nullptr);
  EXPECT_NE(jwks->find("unique"), nullptr);
  EXPECT_EQ(jwks->entries().size(), 1u);
  EXPECT_TRUE(mentions(warnings, "duplicate"));
}

TEST(Jwks, SkipsKeysWithoutKidUnknownKtyWrongUseOrMismatchedAlg) {
  auto no_kid = test::rsa_key().public_jwk("", "RS256");
  boost::json::object oct{{"kty", "oct"}, {"kid", "oct"}, {"k", "c2VjcmV0"}};
  auto enc = test::rsa_key().public_jwk("enc", "RS256");
  enc["use"] = "enc";
  auto hs = test::rsa_key().public_jwk("hs", "HS256");
  auto mismatch = test::ec_key().public_jwk("mismatch", "RS256");
  std::vector<std::string> warnings;
  auto jwks = Jwks::parse(doc({no_kid, oct, enc, hs, mismatch, "not an object",
                               test::ed_key().public_jwk("ok", "EdDSA")}),
                          &warnings);
  ASSERT_TRUE(jwks.ok());
  ASSERT_EQ(jwks->entries().size(), 1u);
  EXPECT_EQ(jwks->entries()[0].kid, "ok");
  EXPECT_EQ(warnings.size(), 6u);
}

TEST(Jwks, RejectsDocumentsThatAreNotAKeySet) {
  for (const char* text : {"", "garbage", "[]", "{}", R"({"keys":{}})", R"({"keys":"x"})", R"({"keys":[)"}) {
    auto jwks = Jwks::parse(text);
    ASSERT_FALSE(jwks.ok()) << text;
    EXPECT_EQ(jwks.error().code, "bad_jwks");
  }
  auto empty = Jwks::parse(R"({"keys":[]})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entries().empty());
}

}  // namespace
}  // namespace gatedrill

// One test per JWT/JWS line of BAD-INPUTS.md that the crypto layer decides.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <gtest/gtest.h>

#include <memory>

#include "core/crypto/jwt.hpp"
#include "core/util/strings.hpp"
#include "tests/crypto/test_keys.hpp"

namespace gatedrill {
namespace {

using test::forge;
using test::forge_signed;
using test::kGoodClaims;

void expect_rejected(std::string_view token, std::string_view code) {
  auto jwt = parse_jwt(token);
  ASSERT_FALSE(jwt.ok()) << "accepted: " << token;
  EXPECT_EQ(jwt.error().code, code) << jwt.error().message;
  EXPECT_FALSE(jwt.error().message.empty());
}

TEST(JwtBadInputs, ControlAWellFormedTokenParses) {
  auto token =
      forge_signed(R"({"alg":"RS256","kid":"k"})", kGoodClaims, JwsAlg::kRS256, test::rsa_key());
  auto jwt = parse_jwt(token);
  ASSERT_TRUE(jwt.ok()) << jwt.error().message;
  EXPECT_TRUE(jws_verify(jwt->alg, test::rsa_key(), jwt->signing_input, jwt->signature));
}

TEST(JwtBadInputs, AlgNoneInEveryCasingWithOrWithoutSignature) {
  for (const char* alg : {"none", "None", "NONE", "nOnE", "NoNe"}) {
    std::string header = std::string(R"({"alg":")") + alg + R"("})";
    std::string unsigned_token =
        base64url_encode(header) + "." + base64url_encode(kGoodClaims) + ".";
    expect_rejected(unsigned_token, "bad_alg");
    expect_rejected(forge(header, kGoodClaims, "anything"), "bad_alg");
  }
}

TEST(JwtBadInputs, MissingOrNonStringAlg) {
  expect_rejected(forge(R"({"kid":"k"})", kGoodClaims), "bad_alg");
  expect_rejected(forge(R"({"alg":null})", kGoodClaims), "bad_alg");
  expect_rejected(forge(R"({"alg":256})", kGoodClaims), "bad_alg");
  expect_rejected(forge(R"({"alg":["RS256"]})", kGoodClaims), "bad_alg");
}

TEST(JwtBadInputs, Hs256SignedWithTheRsaPublicKeyPemIsRefused) {
  // The classic algorithm confusion: the attacker uses the public key as an HMAC secret.
  std::string pem = test::rsa_key().public_pem();
  std::string input =
      base64url_encode(R"({"alg":"HS256","kid":"k"})") + "." + base64url_encode(kGoodClaims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, pem.data(), pem.size(),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                      sizeof(mac), &mac_len),
            nullptr);
  std::string mac_bytes(reinterpret_cast<const char*>(mac), mac_len);
  expect_rejected(input + "." + base64url_encode(mac_bytes), "bad_alg");
  // Even relabelled as RS256, an HMAC is no RSA signature.
  EXPECT_FALSE(jws_verify(JwsAlg::kRS256, test::rsa_key(), input, mac_bytes));
  for (const char* alg : {"HS384", "HS512", "hs256"}) {
    expect_rejected(forge(std::string(R"({"alg":")") + alg + R"("})", kGoodClaims), "bad_alg");
  }
}

TEST(JwtBadInputs, UnknownAlgs) {
  for (const char* alg : {"RS384", "ES384", "PS512", "ES256K", "rs256", "Ed25519"}) {
    expect_rejected(forge(std::string(R"({"alg":")") + alg + R"("})", kGoodClaims), "bad_alg");
  }
}

TEST(JwtBadInputs, AlgThatDoesNotMatchTheKeyNeverVerifies) {
  // A token whose header says ES256 but which was signed by the RSA key, and vice versa.
  auto rs_token = forge_signed(R"({"alg":"ES256"})", kGoodClaims, JwsAlg::kRS256, test::rsa_key());
  auto jwt = parse_jwt(rs_token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_FALSE(jws_verify(jwt->alg, test::rsa_key(), jwt->signing_input, jwt->signature));
  EXPECT_FALSE(jws_verify(jwt->alg, test::ec_key(), jwt->signing_input, jwt->signature));
  auto ed_token = forge_signed(R"({"alg":"RS256"})", kGoodClaims, JwsAlg::kEdDSA, test::ed_key());
  jwt = parse_jwt(ed_token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_FALSE(jws_verify(jwt->alg, test::ed_key(), jwt->signing_input, jwt->signature));
}

// ECDSA signatures: only 64-byte raw r||s with 0 < r, s < n pass.
class EcdsaSignatures : public ::testing::Test {
 protected:
  void SetUp() override {
    input_ = base64url_encode(R"({"alg":"ES256"})") + "." + base64url_encode(kGoodClaims);
    auto sig = jws_sign(JwsAlg::kES256, test::ec_key(), input_);
    ASSERT_TRUE(sig.ok());
    raw_ = *sig;
    ASSERT_TRUE(verify(raw_));  // the control must pass, or every rejection below means nothing
  }
  bool verify(std::string_view sig) {
    return jws_verify(JwsAlg::kES256, test::ec_key(), input_, sig);
  }
  static std::string hex_bytes(const char* hex) {
    BIGNUM* bn = nullptr;
    BN_hex2bn(&bn, hex);
    std::string out(32, '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
    BN_free(bn);
    return out;
  }
  static constexpr const char* kOrder =
      "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
  std::string input_, raw_;
};

TEST_F(EcdsaSignatures, RZeroOrSZero) {
  std::string zero(32, '\0');
  EXPECT_FALSE(verify(zero + raw_.substr(32)));
  EXPECT_FALSE(verify(raw_.substr(0, 32) + zero));
  EXPECT_FALSE(verify(std::string(64, '\0')));
}

TEST_F(EcdsaSignatures, ROrSAtOrAboveTheGroupOrder) {
  std::string n = hex_bytes(kOrder);
  std::string all_ones(32, '\xff');
  EXPECT_FALSE(verify(n + raw_.substr(32)));
  EXPECT_FALSE(verify(raw_.substr(0, 32) + n));
  EXPECT_FALSE(verify(all_ones + raw_.substr(32)));
  EXPECT_FALSE(verify(raw_.substr(0, 32) + all_ones));
  // r + n: the same value mod n, a known way to sneak past implementations that reduce first.
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw_.data()), 32, nullptr);
  BIGNUM* order = nullptr;
  BN_hex2bn(&order, kOrder);
  BN_add(r, r, order);
  if (BN_num_bytes(r) <= 32) {
    std::string shifted(32, '\0');
    BN_bn2binpad(r, reinterpret_cast<unsigned char*>(shifted.data()), 32);
    EXPECT_FALSE(verify(shifted + raw_.substr(32)));
  }
  BN_free(r);
  BN_free(order);
}

TEST_F(EcdsaSignatures, DerEncodingInsteadOfRaw) {
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw_.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw_.data()) + 32, 32, nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ASSERT_EQ(ECDSA_SIG_set0(sig, r, s), 1);
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ASSERT_GT(len, 0);
  std::string der_sig(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  EXPECT_FALSE(verify(der_sig));  // the same (r, s), but DER: refused
}

TEST_F(EcdsaSignatures, WrongLengths) {
  EXPECT_FALSE(verify(""));
  EXPECT_FALSE(verify(raw_.substr(0, 63)));
  EXPECT_FALSE(verify(raw_ + '\0'));
  EXPECT_FALSE(verify(std::string(1, '\0') + raw_));
  EXPECT_FALSE(verify(raw_.substr(0, 32)));
}

TEST(JwtBadInputs, EmbeddedKeyHeadersAreNeverTrusted) {
  auto jwk = boost::json::serialize(test::rsa_key().public_jwk("k", "RS256"));
  for (std::string header : {R"({"alg":"RS256","jwk":)" + jwk + "}",
                             std::string(R"({"alg":"RS256","jku":"http://127.0.0.1:1/jwks"})"),
                             std::string(R"({"alg":"RS256","x5u":"http://127.0.0.1:1/cert.pem"})"),
                             std::string(R"({"alg":"RS256","x5c":["MIIB"]})")}) {
    expect_rejected(forge_signed(header, kGoodClaims, JwsAlg::kRS256, test::rsa_key()),
                    "unsupported_header");
  }
  // The header is read in one pass, and the rules still answer in their order wherever the
  // members stand: alg first, then the embedded keys (named in the order jwk, jku, x5u, x5c),
  // crit, b64, kid.
  auto message = [](std::string_view header) {
    auto jwt = parse_jwt(forge(header, kGoodClaims));
    return jwt.ok() ? std::string("ok") : jwt.error().code + ": " + jwt.error().message;
  };
  EXPECT_EQ(message(R"({"x5c":[],"alg":"none"})"),
            "bad_alg: alg \"none\" (unsigned tokens) is never accepted");
  EXPECT_EQ(message(R"({"x5c":[],"kid":1,"jku":"u","alg":"RS256"})"),
            "unsupported_header: embedded key header \"jku\" is never trusted");
  EXPECT_EQ(message(R"({"crit":[],"x5u":"u","alg":"RS256"})"),
            "unsupported_header: embedded key header \"x5u\" is never trusted");
  EXPECT_EQ(message(R"({"b64":false,"crit":[],"alg":"RS256"})"),
            "unsupported_header: \"crit\" extensions are not supported");
  EXPECT_EQ(message(R"({"kid":1,"b64":0,"alg":"RS256"})"),
            "unsupported_header: unencoded payloads (\"b64\": false) are not supported");
  EXPECT_EQ(message(R"({"kid":1,"alg":"RS256"})"), "malformed: header \"kid\" must be a string");
  EXPECT_EQ(message(R"({"jwks":1,"x5":2,"Jwk":3,"critical":4,"alg":"RS256","typ":"JWT"})"), "ok");
}

TEST(JwtBadInputs, CritAndUnencodedPayloads) {
  expect_rejected(forge(R"({"alg":"RS256","crit":["exp"],"exp":1})", kGoodClaims),
                  "unsupported_header");
  expect_rejected(forge(R"({"alg":"RS256","crit":[]})", kGoodClaims), "unsupported_header");
  expect_rejected(forge(R"({"alg":"RS256","b64":false,"crit":["b64"]})", kGoodClaims),
                  "unsupported_header");
  expect_rejected(forge(R"({"alg":"RS256","b64":false})", kGoodClaims), "unsupported_header");
  EXPECT_TRUE(parse_jwt(forge(R"({"alg":"RS256","b64":true})", kGoodClaims)).ok());
}

TEST(JwtBadInputs, WrongSegmentCounts) {
  std::string h = base64url_encode(R"({"alg":"RS256"})");
  std::string p = base64url_encode(kGoodClaims);
  expect_rejected("", "malformed");
  expect_rejected(h, "malformed");
  expect_rejected(h + "." + p, "malformed");
  expect_rejected(h + "." + p + ".c2ln.c2ln", "malformed");
  expect_rejected(h + "." + p + ".c2ln.c2ln.c2ln", "malformed");  // JWE-like
}

TEST(JwtBadInputs, EmptySegments) {
  std::string h = base64url_encode(R"({"alg":"RS256"})");
  std::string p = base64url_encode(kGoodClaims);
  expect_rejected("..", "malformed");
  expect_rejected("." + p + ".c2ln", "malformed");
  expect_rejected(h + "..c2ln", "malformed");
  expect_rejected(h + "." + p + ".", "malformed");
}

TEST(JwtBadInputs, NonBase64UrlCharactersAndPadding) {
  std::string good =
      forge_signed(R"({"alg":"RS256"})", kGoodClaims, JwsAlg::kRS256, test::rsa_key());
  ASSERT_TRUE(parse_jwt(good).ok());
  auto parts = split(good, '.');
  std::string h(parts[0]), p(parts[1]), s(parts[2]);
  expect_rejected(h + "+." + p + "." + s, "malformed");
  expect_rejected(h + "." + p + "/." + s, "malformed");
  expect_rejected(h + "." + p + "." + s + "=", "malformed");
  expect_rejected(h + "=." + p + "." + s, "malformed");
  expect_rejected(h + " ." + p + "." + s, "malformed");
  expect_rejected(h + "." + p + "." + s + "\n", "malformed");
  // The same bytes, standard-base64 padded.
  std::string padded_header = h;
  while (padded_header.size() % 4) padded_header += "=";
  if (padded_header != h) expect_rejected(padded_header + "." + p + "." + s, "malformed");
}

TEST(JwtBadInputs, InvalidUtf8AndInvalidJson) {
  expect_rejected(forge(R"({"alg":"RS256"})", "{\"sub\":\"\xff\xfe\"}"), "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", "{\"sub\":\"\xc0\xaf\"}"),
                  "malformed");  // overlong '/'
  expect_rejected(forge("{\"alg\":\"RS256\",\"kid\":\"\xed\xa0\x80\"}", kGoodClaims),
                  "malformed");  // surrogate
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"sub":"alice")"), "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"sub":'alice'})"), "malformed");
  expect_rejected(forge(R"({"alg":"RS256")", kGoodClaims), "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"sub":"alice"} trailing)"), "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", ""), "malformed");
}

TEST(JwtBadInputs, DuplicateMemberNames) {
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"sub":"alice","sub":"admin"})"), "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"sub":"alice","s\u0075b":"admin"})"),
                  "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"x":{"role":"user","role":"admin"}})"),
                  "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"a":[{"k":1,"k":2}]})"), "malformed");
  expect_rejected(forge(R"({"alg":"none","alg":"RS256"})", kGoodClaims), "malformed");
  expect_rejected(forge(R"({"alg":"RS256","kid":"a","kid":"b"})", kGoodClaims), "malformed");
  expect_rejected(forge(R"({"alg":"RS256","\u0061lg":"none"})", kGoodClaims), "malformed");
  expect_rejected(forge(R"({"alg":"RS256","x":{"y":[{"k":1,"\u006b":2}]}})", kGoodClaims),
                  "malformed");
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"a":{"b":{"c":{"d":1,"d":2}}},"sub":"x"})"),
                  "malformed");
  {
    auto jwt = parse_jwt(forge(R"({"alg":"RS256"})", R"({"sub":"a","s\u0075b":"b"})"));
    ASSERT_FALSE(jwt.ok());
    EXPECT_EQ(jwt.error().message, "payload has duplicate member names");
    jwt = parse_jwt(forge(R"({"alg":"RS256","alg":"RS256"})", kGoodClaims));
    ASSERT_FALSE(jwt.ok());
    EXPECT_EQ(jwt.error().message, "header has duplicate member names");
  }
  // Controls: equal names in different objects, and names inside string values, are fine.
  EXPECT_TRUE(parse_jwt(forge(R"({"alg":"RS256"})", R"({"a":{"b":1},"b":{"a":2}})")).ok());
  EXPECT_TRUE(parse_jwt(forge(R"({"alg":"RS256"})", R"({"a":"\",\"a\":","b":["a","a"]})")).ok());
  // A value ending in an escaped backslash ends at the next quote; an escaped quote after one
  // does not end it.
  expect_rejected(forge(R"({"alg":"RS256"})", R"({"a":"x\\","a":1})"), "malformed");
  EXPECT_TRUE(parse_jwt(forge(R"({"alg":"RS256"})", R"({"a":"\\\",\"a\":1","b":2})")).ok());
}

TEST(JwtBadInputs, HeaderOrPayloadThatIsNotAnObject) {
  for (const char* payload : {"[]", R"(["sub","alice"])", "\"alice\"", "42", "true", "null"}) {
    expect_rejected(forge(R"({"alg":"RS256"})", payload), "malformed");
  }
  for (const char* header : {R"(["RS256"])", "\"RS256\"", "1", "null"}) {
    expect_rejected(forge(header, kGoodClaims), "malformed");
  }
}

TEST(JwtBadInputs, DeeplyNestedJsonIsRejectedWithoutStackExhaustion) {
  std::string nested = R"({"a":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
  expect_rejected(forge(R"({"alg":"RS256"})", nested), "malformed");
}

TEST(JwtBadInputs, OversizedTokens) {
  std::string big = R"({"sub":")" + std::string(17000, 'a') + "\"}";
  expect_rejected(forge(R"({"alg":"RS256"})", big), "malformed");
}

TEST(JwtBadInputs, HostileKidsAreOpaqueUnknownKids) {
  Jwks jwks;
  jwks.add("real", JwsAlg::kRS256, test::rsa_key());
  for (std::string kid :
       {std::string("../../../../etc/passwd"), std::string("' OR 1=1 --"), std::string("%2e%2e%2f"),
        std::string("a\\u0000b"), std::string(4000, 'k')}) {
    std::string header = R"({"alg":"RS256","kid":")" + kid + "\"}";
    auto jwt = parse_jwt(forge_signed(header, kGoodClaims, JwsAlg::kRS256, test::rsa_key()));
    ASSERT_TRUE(jwt.ok()) << jwt.error().message;
    if (kid == "a\\u0000b") {
      EXPECT_EQ(jwt->kid, std::string("a\0b", 3));
    } else {
      EXPECT_EQ(jwt->kid, kid);
    }
    EXPECT_EQ(jwks.find(jwt->kid), nullptr);
  }
  expect_rejected(forge(R"({"alg":"RS256","kid":42})", kGoodClaims), "malformed");
  expect_rejected(forge(R"({"alg":"RS256","kid":{"path":"/"}})", kGoodClaims), "malformed");
}

// A JwtView remembers the last header it accepted and skips re-reading the same bytes: a view
// reused across tokens (the gateway keeps one per thread) answers every token as a fresh one,
// whatever came before it, a refused header included.
TEST(JwtBadInputs, AReusedViewAnswersAsAFreshOne) {
  const std::string good = R"({"alg":"RS256","kid":"k1"})";
  const std::string tokens[] = {
      forge(good, kGoodClaims),
      forge(good, R"({"sub":"bob","iss":"https://idp","exp":1})"),
      forge(good, R"({"sub":"bob","sub":"eve"})"),
      forge(R"({"alg":"none","kid":"k1"})", kGoodClaims),
      forge(good, kGoodClaims),
      forge(R"({"alg":"ES256","kid":"k2"})", kGoodClaims),
      forge(R"({"alg":"RS256","kid":"k1","jwk":{}})", kGoodClaims),
      forge(good, kGoodClaims),
      forge(R"({"alg":"RS256","kid":"k1","crit":["exp"]})", kGoodClaims),
      forge(R"({"alg":"RS256"})", kGoodClaims),
      "!!!." + base64url_encode(kGoodClaims) + ".c2ln",
      forge(good, kGoodClaims),
      forge(good, "[]"),
      forge(R"({"alg":"RS256","kid":7})", kGoodClaims),
      forge(good, kGoodClaims, ""),
      forge(R"({"alg":"EdDSA","kid":"k1"})", R"({"iss":"other"})"),
  };
  JwtView reused;
  for (int round = 0; round < 2; ++round) {
    for (const auto& token : tokens) {
      JwtView fresh;
      auto expected = fresh.parse(token);
      auto got = reused.parse(token);
      ASSERT_EQ(got.ok(), expected.ok()) << token;
      if (!expected.ok()) {
        EXPECT_EQ(got.error().code, expected.error().code) << token;
        EXPECT_EQ(got.error().message, expected.error().message) << token;
        continue;
      }
      EXPECT_EQ(reused.alg(), fresh.alg()) << token;
      EXPECT_EQ(reused.kid(), fresh.kid()) << token;
      EXPECT_EQ(reused.header_json(), fresh.header_json()) << token;
      EXPECT_EQ(reused.signing_input(), fresh.signing_input()) << token;
      EXPECT_EQ(reused.signature(), fresh.signature()) << token;
      ASSERT_EQ(reused.claims().iss == nullptr, fresh.claims().iss == nullptr) << token;
      if (fresh.claims().iss != nullptr) {
        EXPECT_EQ(reused.claims().iss->as_string(), fresh.claims().iss->as_string()) << token;
      }
    }
  }
}

}  // namespace
}  // namespace gatedrill

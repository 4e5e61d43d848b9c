// io.jwt.decode_verify / verify_rs256 / verify_es256 against real keys: valid, tampered,
// expired by the TimeSource (clock skew), wrong key type, audience and issuer constraints.
#include <gtest/gtest.h>

#include "core/crypto/base64url.hpp"
#include "core/crypto/jwt.hpp"
#include "core/crypto/keys.hpp"
#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace gatedrill {
namespace {

const int64_t kNow = 1767225600;  // ManualTimeSource's default wall clock

class JwtBuiltins : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rsa = Key::generate(KeyType::kRsa, 2048);
    auto ec = Key::generate(KeyType::kEcP256);
    ASSERT_TRUE(rsa.ok() && ec.ok());
    rsa_ = *rsa;
    ec_ = *ec;
    opts_.time = &clock_;
  }
  std::string token(JwsAlg alg, const Key& key, boost::json::object claims) {
    auto t = sign_jwt(alg, key, "k1", claims);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : "";
  }
  // Evaluates `x := <expr>` with data.cert/data.jwks available; returns x or null when undefined.
  boost::json::value eval(const std::string& expr, const std::string& tok) {
    boost::json::object jwks_doc{{"keys", boost::json::array{rsa_.public_jwk("k1", "RS256")}}};
    boost::json::object data{
        {"rsa_pem", rsa_.public_pem()}, {"ec_pem", ec_.public_pem()}, {"jwks", to_json(jwks_doc)}};
    auto e = PolicyEngine::from_sources({{"j.rego", "package j\nx = v { v := " + expr + " }"}},
                                        data, opts_);
    EXPECT_TRUE(e.ok()) << e.error().message;
    if (!e.ok()) return nullptr;
    auto d = e->evaluate("data.j.x", boost::json::object{{"token", tok}});
    EXPECT_TRUE(d.ok()) << d.error().message;
    return d.ok() && d->defined ? d->value : boost::json::value(nullptr);
  }
  Key rsa_, ec_;
  ManualTimeSource clock_;
  PolicyOptions opts_;
};

TEST_F(JwtBuiltins, DecodeVerifyAcceptsAValidTokenWithPemOrJwks) {
  std::string t =
      token(JwsAlg::kRS256, rsa_, {{"sub", "alice"}, {"exp", kNow + 300}, {"iss", "idp"}});
  auto pem = eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem})", t);
  ASSERT_TRUE(pem.is_array()) << to_json(pem);
  EXPECT_EQ(pem.at(0), boost::json::value(true));
  EXPECT_EQ(pem.at(2).at("sub"), boost::json::value("alice"));
  auto jwks = eval("io.jwt.decode_verify(input.token, {\"cert\": data.jwks, \"iss\": \"idp\"})", t);
  EXPECT_EQ(jwks.at(0), boost::json::value(true)) << to_json(jwks);
}

TEST_F(JwtBuiltins, DecodeVerifyRejectsTamperingExpiryAndConstraints) {
  std::string t = token(JwsAlg::kRS256, rsa_,
                        {{"sub", "alice"}, {"exp", kNow + 300}, {"iss", "idp"}, {"aud", "orders"}});
  const boost::json::value invalid =
      boost::json::array{false, boost::json::object(), boost::json::object()};
  // A payload swapped for another one with the same signature.
  auto dot1 = t.find('.'), dot2 = t.rfind('.');
  std::string forged = t.substr(0, dot1 + 1) +
                       base64url_encode(R"({"sub":"mallory","exp":9999999999})") + t.substr(dot2);
  EXPECT_EQ(eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem, \"aud\": \"orders\"})",
                 forged),
            invalid);
  EXPECT_EQ(
      eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem, \"aud\": \"orders\"})", t)
          .at(0),
      boost::json::value(true));
  // aud in the token but none asked for: invalid (OPA's rule).
  EXPECT_EQ(eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem})", t), invalid);
  EXPECT_EQ(eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem, \"aud\": \"x\"})", t),
            invalid);
  EXPECT_EQ(eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem, \"aud\": \"orders\", "
                 "\"iss\": \"other\"})",
                 t),
            invalid);
  // The skewable clock: ten minutes ahead, the token has expired.
  clock_.set_skew(std::chrono::minutes(10));
  EXPECT_EQ(
      eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem, \"aud\": \"orders\"})", t),
      invalid);
  // An explicit time constraint wins over the clock.
  EXPECT_EQ(eval("io.jwt.decode_verify(input.token, {\"cert\": data.rsa_pem, \"aud\": \"orders\", "
                 "\"time\": " +
                     std::to_string((kNow + 10) * 1000000000LL) + "})",
                 t)
                .at(0),
            boost::json::value(true));
}

TEST_F(JwtBuiltins, VerifyRs256AndEs256CheckSignatureAndKeyType) {
  std::string rs = token(JwsAlg::kRS256, rsa_, {{"sub", "a"}});
  std::string es = token(JwsAlg::kES256, ec_, {{"sub", "a"}});
  EXPECT_EQ(eval("io.jwt.verify_rs256(input.token, data.rsa_pem)", rs), boost::json::value(true));
  EXPECT_EQ(eval("io.jwt.verify_es256(input.token, data.ec_pem)", es), boost::json::value(true));
  EXPECT_EQ(eval("io.jwt.verify_rs256(input.token, data.ec_pem)", rs), boost::json::value(false));
  EXPECT_EQ(eval("io.jwt.verify_es256(input.token, data.ec_pem)", rs), boost::json::value(false));
  std::string flipped = es;
  flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(eval("io.jwt.verify_es256(input.token, data.ec_pem)", flipped),
            boost::json::value(false));
  // Not a key at all: a builtin error, so undefined.
  EXPECT_EQ(eval("io.jwt.verify_rs256(input.token, \"nonsense\")", rs),
            boost::json::value(nullptr));
}

}  // namespace
}  // namespace gatedrill

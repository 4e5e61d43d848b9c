// BAD-INPUTS.md, JWT/JWS section, through a real gateway: every hostile token gets 401 with
// the Bearer challenge (403 for audience), the upstream never sees it, and a valid request is
// served right after.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include "core/crypto/base64url.hpp"
#include "core/util/json.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

class BadTokens : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_ = std::make_unique<Gateway>(time_, base_config(idp_, upstream_.url()));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
    now_ = time_.wall_seconds();
  }

  boost::json::object claims() const {
    return {{"iss", idp_.issuer()},
            {"aud", "gatedrill"},
            {"sub", "alice"},
            {"iat", now_},
            {"exp", now_ + 120}};
  }
  static std::string b64(const std::string& s) { return base64url_encode(s); }
  static std::string json(const boost::json::value& v) { return boost::json::serialize(v); }

  // header.payload signed with the IdP's ES256 key (whatever the header claims).
  std::string signed_with_header(const std::string& header_json,
                                 const std::string& payload_json) const {
    std::string input = b64(header_json) + "." + b64(payload_json);
    auto signature = jws_sign(JwsAlg::kES256, idp_.key(), input);
    return input + "." + b64(*signature);
  }
  std::string es256_header(boost::json::object extra = {}) const {
    boost::json::object h{{"alg", "ES256"}, {"typ", "JWT"}, {"kid", idp_.kid()}};
    for (auto& [k, v] : extra) h[k] = v;
    return json(h);
  }
  std::string raw_signature_of_valid_token() const {
    std::string token = idp_.token(now_);
    return *base64url_decode(token.substr(token.rfind('.') + 1));
  }

  void expect_rejected(const std::string& token, const std::string& what, int status = 401,
                       const std::string& reason = "") {
    const size_t before = upstream_.seen().size();
    auto r = http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->port()) + "/t",
                          {{"Authorization", "Bearer " + token}}, {}, quick());
    ASSERT_TRUE(r) << what << ": " << r.error().message;
    EXPECT_EQ(r->status, status) << what << ": " << r->body;
    if (status == 401) {
      EXPECT_NE(r->header("WWW-Authenticate").find("Bearer error=\"invalid_token\""),
                std::string::npos)
          << what;
    }
    if (!reason.empty()) {
      auto doc = parse_json_object(r->body);
      ASSERT_TRUE(doc) << what;
      EXPECT_EQ(std::string(doc->at("reason").as_string()), reason) << what << ": " << r->body;
    }
    EXPECT_EQ(upstream_.seen().size(), before) << what << " reached the upstream";
    auto ok = http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->port()) + "/ok",
                           {{"Authorization", "Bearer " + idp_.token(now_)}}, {}, quick());
    ASSERT_TRUE(ok) << "after " << what;
    EXPECT_EQ(ok->status, 200) << "after " << what;
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
  int64_t now_ = 0;
};

TEST_F(BadTokens, AlgNoneInAnyCasing) {
  const std::string payload = b64(json(claims()));
  for (std::string alg : {"none", "None", "NONE", "nOnE"}) {
    const std::string header = b64(json(boost::json::object{{"alg", alg}, {"typ", "JWT"}}));
    expect_rejected(header + "." + payload + ".", "alg " + alg + " empty signature");
    expect_rejected(header + "." + payload + "." + b64("sig"), "alg " + alg + " with signature");
    expect_rejected(header + "." + payload, "alg " + alg + " two segments");
  }
}

TEST_F(BadTokens, AlgorithmConfusionHs256WithThePublicKey) {
  const std::string pem = idp_.key().public_pem();
  const std::string input = b64(json(boost::json::object{{"alg", "HS256"}, {"kid", idp_.kid()}})) +
                            "." + b64(json(claims()));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), pem.data(), static_cast<int>(pem.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  expect_rejected(input + "." + b64(std::string(reinterpret_cast<char*>(mac), mac_len)),
                  "HS256 confusion", 401, "bad_alg");
}

TEST_F(BadTokens, AlgThatDoesNotFitTheJwk) {
  // The JWK says ES256; a PS256 or EdDSA token under the same kid must not be tried.
  for (std::string alg : {"PS256", "RS256", "EdDSA"}) {
    std::string input = b64(json(boost::json::object{{"alg", alg}, {"kid", idp_.kid()}})) + "." +
                        b64(json(claims()));
    expect_rejected(input + "." + b64(std::string(256, 'x')), "alg " + alg + " on an EC key", 401,
                    "bad_alg");
  }
}

TEST_F(BadTokens, BrokenEcdsaSignatures) {
  const std::string input = b64(es256_header()) + "." + b64(json(claims()));
  const std::string good = raw_signature_of_valid_token();
  ASSERT_EQ(good.size(), 64u);
  // P-256 group order n.
  const std::string n(
      "\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"
      "\xbc\xe6\xfa\xad\xa7\x17\x9e\x84\xf3\xb9\xca\xc2\xfc\x63\x25\x51",
      32);
  std::string der =
      "\x30\x44\x02\x20" + good.substr(0, 32) + std::string("\x02\x20", 2) + good.substr(32);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"r=0,s=0", std::string(64, '\0')},
      {"r=0", std::string(32, '\0') + good.substr(32)},
      {"s=0", good.substr(0, 32) + std::string(32, '\0')},
      {"r=n", n + good.substr(32)},
      {"s=n", good.substr(0, 32) + n},
      {"r,s = 0xff..", std::string(64, '\xff')},
      {"DER", der},
      {"63 bytes", good.substr(0, 63)},
      {"65 bytes", good + "x"},
      {"another token's signature", good},
  };
  for (const auto& [what, sig] : cases)
    expect_rejected(input + "." + b64(sig), what, 401, "bad_signature");
}

TEST_F(BadTokens, EmbeddedKeysAndUnknownExtensionsAreRefused) {
  const int fetches_before = idp_.fetches();
  boost::json::object jwk = idp_.key().public_jwk(idp_.kid(), "ES256");
  const std::vector<std::pair<std::string, boost::json::object>> cases = {
      {"jwk", {{"jwk", jwk}}},
      {"jku", {{"jku", idp_.jwks_uri()}}},
      {"x5u", {{"x5u", idp_.issuer() + "/cert.pem"}}},
      {"x5c", {{"x5c", boost::json::array{"MIIB"}}}},
      {"crit", {{"crit", boost::json::array{"exp"}}, {"exp", 1}}},
      {"b64 false", {{"b64", false}, {"crit", boost::json::array{"b64"}}}},
  };
  for (const auto& [what, extra] : cases)
    expect_rejected(signed_with_header(es256_header(extra), json(claims())), what, 401,
                    "unsupported_header");
  EXPECT_EQ(idp_.fetches(), fetches_before) << "a jku/x5u header made the gateway fetch something";
}

TEST_F(BadTokens, HostileKids) {
  for (std::string kid : {std::string("../../../../etc/passwd"), std::string("' OR 1=1 --"),
                          std::string(4000, 'k'), std::string("k1\x01")}) {
    boost::json::object h{{"alg", "ES256"}, {"kid", kid}};
    expect_rejected(signed_with_header(json(h), json(claims())), "kid " + kid.substr(0, 20), 401);
  }
}

TEST_F(BadTokens, MalformedStructure) {
  const std::string h = b64(es256_header());
  const std::string p = b64(json(claims()));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"one segment", h},
      {"four segments", h + "." + p + ".c2ln.c2ln"},
      {"empty header", "." + p + ".c2ln"},
      {"empty payload", h + "..c2ln"},
      {"all empty", ".."},
      {"non-base64url chars", h + "." + p + "+/.c2ln"},
      {"padding", h + "==." + p + ".c2ln"},
      {"invalid UTF-8", h + "." + b64("{\"sub\":\"\xff\xfe\"}") + ".c2ln"},
      {"invalid JSON", h + "." + b64("{\"sub\":") + ".c2ln"},
      {"duplicate claims",
       signed_with_header(es256_header(), "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":99999999999}")},
      {"header is an array", b64("[1,2]") + "." + p + ".c2ln"},
      {"payload is a scalar", signed_with_header(es256_header(), "42")},
      {"payload is an array", signed_with_header(es256_header(), "[]")},
  };
  for (const auto& [what, token] : cases) expect_rejected(token, what, 401);
}

TEST_F(BadTokens, BadClaims) {
  auto with = [&](boost::json::object overrides) {
    auto c = claims();
    for (auto& [k, v] : overrides) c[k] = v;
    return c;
  };
  auto without_exp = claims();
  without_exp.erase("exp");
  const std::vector<std::tuple<std::string, boost::json::object, std::string>> cases = {
      {"expired beyond leeway", with({{"exp", now_ - 61}}), "token_expired"},
      {"nbf in the future", with({{"nbf", now_ + 600}}), "token_not_yet_valid"},
      {"iat in the future", with({{"iat", now_ + 600}}), "token_not_yet_valid"},
      {"exp as string", with({{"exp", std::to_string(now_ + 100)}}), "bad_claim"},
      {"exp as float", with({{"exp", static_cast<double>(now_) + 100.5}}), "bad_claim"},
      {"exp huge", with({{"exp", 1e300}}), "bad_claim"},
      {"exp negative", with({{"exp", -5}}), ""},
      {"nbf as string", with({{"nbf", "yesterday"}}), "bad_claim"},
      {"missing exp", without_exp, ""},
      {"wrong iss", with({{"iss", "https://evil.example"}}), "bad_issuer"},
  };
  for (const auto& [what, c, reason] : cases)
    expect_rejected(signed_with_header(es256_header(), json(c)), what, 401, reason);
}

TEST_F(BadTokens, AudienceMismatchIs403) {
  auto aud = [&](boost::json::value v) {
    auto c = claims();
    c["aud"] = v;
    return signed_with_header(es256_header(), json(c));
  };
  expect_rejected(aud("other"), "wrong aud", 403, "bad_audience");
  expect_rejected(aud(boost::json::array{"a", "b"}), "aud array without ours", 403, "bad_audience");
  expect_rejected(aud(boost::json::array{}), "empty aud array", 403, "bad_audience");
}

TEST_F(BadTokens, DeeplyNestedJsonIsRefusedWithoutStackExhaustion) {
  std::string nested = "{\"a\":" + std::string(6000, '[') + std::string(6000, ']') + "}";
  expect_rejected(signed_with_header(es256_header(), nested), "deeply nested payload", 401);
  std::string nested_header =
      "{\"alg\":\"ES256\",\"x\":" + std::string(3000, '[') + std::string(3000, ']') + "}";
  expect_rejected(b64(nested_header) + "." + b64(json(claims())) + ".c2ln", "deeply nested header",
                  401);
}

// JWKS with unusable keys: those keys are ignored, so their tokens are refused (unknown kid),
// while the good key in the same document keeps working.
TEST(BadJwks, WeakOffCurveAndDuplicateKeysAreIgnored) {
  SystemTimeSource time;
  FakeIdp idp;
  FakeUpstream upstream;
  const int64_t now = time.wall_seconds();
  // A 1024-bit modulus in the JWK (Key refuses to make such keys): the first half of a real n.
  auto rsa = *Key::generate(KeyType::kRsa, 2048);
  auto weak_jwk = rsa.public_jwk("weak", "RS256");
  weak_jwk["n"] = base64url_encode(base64url_decode(weak_jwk["n"].as_string())->substr(0, 128));
  auto dup_key = *Key::generate(KeyType::kEcP256);
  auto off_curve = idp.key().public_jwk("bad-ec", "ES256");
  std::string x(off_curve["x"].as_string());
  x[2] = x[2] == 'A' ? 'B' : 'A';  // moves the point off P-256
  off_curve["x"] = x;
  boost::json::array keys{idp.key().public_jwk(idp.kid(), "ES256"), weak_jwk,
                          dup_key.public_jwk("dup", "ES256"), dup_key.public_jwk("dup", "ES256"),
                          off_curve};
  idp.set_document(boost::json::serialize(boost::json::object{{"keys", keys}}));
  Gateway gateway(time, base_config(idp, upstream.url()));
  ASSERT_TRUE(gateway.start());
  // Status and reason: an ignored key is an unknown kid, not a key that was tried.
  auto call = [&](const std::string& token) {
    auto r = http_request("GET", "http://127.0.0.1:" + std::to_string(gateway.port()) + "/k",
                          {{"Authorization", "Bearer " + token}}, {}, quick());
    if (!r) return std::string("error");
    auto doc = parse_json_object(r->body);
    std::string reason =
        doc && doc->contains("reason") ? std::string(doc->at("reason").as_string()) : "";
    return std::to_string(r->status) + " " + reason;
  };
  EXPECT_EQ(call(idp.token(now)).substr(0, 3), "200");
  boost::json::object claims{
      {"iss", idp.issuer()}, {"aud", "gatedrill"}, {"sub", "x"}, {"exp", now + 60}};
  EXPECT_EQ(call(*sign_jwt(JwsAlg::kRS256, rsa, "weak", claims)), "401 unknown_kid");
  EXPECT_EQ(call(*sign_jwt(JwsAlg::kES256, dup_key, "dup", claims)), "401 unknown_kid");
  EXPECT_EQ(call(*sign_jwt(JwsAlg::kES256, idp.key(), "bad-ec", claims)), "401 unknown_kid");
  EXPECT_EQ(call(idp.token(now)).substr(0, 3), "200");
}

}  // namespace
}  // namespace gatedrill::gateway::test

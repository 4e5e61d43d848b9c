// Several trusted issuers: the providers file's validation, and the authn filter picking the
// provider by the token's iss (its own keys, alg allow-list and leeway) against in-memory JWKS
// documents and a manual clock.
#include "gateway/authn/jwt_providers.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gateway/authn/jwt_authn.hpp"
#include "gateway/gateway_flags.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway {
namespace {

std::string error_of(std::string_view text) {
  auto r = parse_providers_json(text);
  if (r) return "<parsed>";
  EXPECT_EQ(r.error().code, "bad_providers");
  return r.error().message;
}

TEST(JwtProviders, ParsesEveryFieldAndDefaults) {
  auto r = parse_providers_json(R"([
    {"issuer": "https://a", "jwks_uri": "http://127.0.0.1:1/jwks.json", "audiences": ["api", "web"],
     "algs": ["ES256"], "leeway": "5s"},
    {"issuer": "https://b", "jwks_uri": "http://127.0.0.1:2/jwks.json"}])");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].issuer, "https://a");
  EXPECT_EQ((*r)[0].audiences, (std::vector<std::string>{"api", "web"}));
  EXPECT_EQ((*r)[0].algs, std::vector<JwsAlg>{JwsAlg::kES256});
  EXPECT_EQ((*r)[0].leeway, std::chrono::seconds(5));
  EXPECT_EQ((*r)[1].jwks_uri, "http://127.0.0.1:2/jwks.json");
  EXPECT_TRUE((*r)[1].audiences.empty());
  EXPECT_EQ((*r)[1].algs.size(), 4u);
  EXPECT_EQ((*r)[1].leeway, std::chrono::seconds(60));
}

TEST(JwtProviders, RefusalsNameTheEntryAndTheField) {
  const std::string ok_b = R"({"issuer": "https://b", "jwks_uri": "http://127.0.0.1:2/j"})";
  EXPECT_NE(error_of("{}").find("non-empty JSON array"), std::string::npos);
  EXPECT_NE(error_of("[]").find("non-empty JSON array"), std::string::npos);
  EXPECT_NE(error_of("[1").find("invalid JSON"), std::string::npos) << error_of("[1");
  EXPECT_NE(error_of("[" + ok_b + "," + ok_b + "]").find("provider 1: duplicate issuer https://b"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"issuer": "https://a", "jwks_uri": "http://h/j", "algs": ["HS256"]}])")
                .find("provider 0 (issuer https://a): alg 'HS256' is not one of"),
            std::string::npos);
  EXPECT_NE(error_of("[" + ok_b + R"(, {"issuer": "https://c"}])")
                .find("provider 1 (issuer https://c): jwks_uri is missing"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"jwks_uri": "http://h/j"}])").find("provider 0: issuer is missing"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"issuer": "https://a", "jwks_uri": "not a url"}])").find("jwks_uri:"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"issuer": "https://a", "jwks_uri": "http://h/j", "algs": []}])")
                .find("at least one algorithm"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"issuer": "https://a", "jwks_uri": "http://h/j", "leeway": "soon"}])")
                .find("leeway"),
            std::string::npos);
  EXPECT_NE(error_of(R"([{"issuer": "https://a", "jwks_uri": "http://h/j", "audience": "x"}])")
                .find("unknown key audience"),
            std::string::npos);
}

// `gatedrill gateway` flags with a providers file holding `json`.
Result<GatewayConfig> flags_with_providers(const std::string& json,
                                           std::vector<std::string> extra = {}) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("gatedrill-providers-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << json;
  std::vector<std::string> words = {"gateway",     "--plaintext",
                                    "--upstream",  "http://127.0.0.1:8080",
                                    "--providers", path.string()};
  words.insert(words.end(), extra.begin(), extra.end());
  GatewayFlags flags;
  ArgParser args("gateway", "test");
  flags.register_with(args);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto parsed = args.parse(static_cast<int>(argv.size()), argv.data());
  auto config = parsed ? flags.to_config() : Result<GatewayConfig>(parsed.error());
  std::filesystem::remove(path);
  return config;
}

TEST(JwtProviders, FlagsTakeTheFileOrTheSingleIssuerFlagsNeverBoth) {
  const std::string two = R"([{"issuer": "https://a", "jwks_uri": "http://127.0.0.1:1/j"},
                              {"issuer": "https://b", "jwks_uri": "http://127.0.0.1:2/j"}])";
  auto c = flags_with_providers(two);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->providers.size(), 2u);
  EXPECT_EQ(c->providers[1].issuer, "https://b");
  for (auto extra : std::vector<std::vector<std::string>>{{"--issuer", "https://a"},
                                                          {"--jwks-uri", "http://127.0.0.1:1/j"},
                                                          {"--audience", "api"},
                                                          {"--algs", "ES256"},
                                                          {"--leeway", "1s"}}) {
    auto both = flags_with_providers(two, extra);
    ASSERT_FALSE(both) << extra[0];
    EXPECT_EQ(both.error().code, "usage");
    EXPECT_NE(both.error().message.find("--providers excludes"), std::string::npos);
  }
  auto bad = flags_with_providers(R"([{"issuer": "https://a"}])");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "usage");
  EXPECT_NE(bad.error().message.find("provider 0 (issuer https://a): jwks_uri is missing"),
            std::string::npos)
      << bad.error().message;
}

// Two issuers, each with its own P-256 key (same kid) and JWKS cache; A allows ES256 and RS256,
// B ES256 only.
class TwoProviders : public ::testing::Test {
 protected:
  struct Issuer {
    std::string name;
    Key key;
    std::string document;
    std::atomic<int> fetches{0};
    std::unique_ptr<JwksCache> cache;
  };

  TwoProviders() {
    setup(a_, "https://a");
    setup(b_, "https://b");
    std::vector<JwtProvider> providers;
    for (Issuer* i : {&a_, &b_}) {
      JwtProvider p;
      p.claims.issuer = i->name;
      p.claims.audiences = {"api"};
      p.claims.leeway = std::chrono::seconds(i == &a_ ? 0 : 60);
      p.algs = i == &a_ ? std::vector<JwsAlg>{JwsAlg::kES256, JwsAlg::kRS256}
                        : std::vector<JwsAlg>{JwsAlg::kES256};
      p.jwks = i->cache.get();
      providers.push_back(std::move(p));
    }
    authn_ = std::make_unique<JwtAuthn>(JwtAuthnConfig{}, std::move(providers), time_);
  }

  void setup(Issuer& i, std::string name) {
    i.name = std::move(name);
    i.key = *Key::generate(KeyType::kEcP256);
    Jwks jwks;
    jwks.add("k1", JwsAlg::kES256,
             i.key);  // the same kid at both: only the signature tells them apart
    i.document = jwks.to_json();
    JwksCacheOptions options;
    options.jwks_uri = "memory:" + i.name;
    i.cache = std::make_unique<JwksCache>(time_, options,
                                          [&i](const std::string&, std::chrono::milliseconds) {
                                            ++i.fetches;
                                            return Result<std::string>(i.document);
                                          });
    i.cache->start();
  }

  std::string token(const Issuer& signer, JwsAlg alg, boost::json::object overrides = {}) {
    boost::json::object claims{{"iss", signer.name},
                               {"aud", "api"},
                               {"sub", "sub-" + signer.name},
                               {"exp", time_.wall_seconds() + 100}};
    for (auto& [k, v] : overrides) claims[k] = v;
    return "Bearer " + *sign_jwt(alg, signer.key, "k1", claims);
  }

  ManualTimeSource time_;
  Issuer a_, b_;
  std::unique_ptr<JwtAuthn> authn_;
};

TEST_F(TwoProviders, EachIssuersTokensPassWithItsOwnKeys) {
  auto a = authn_->check(token(a_, JwsAlg::kES256));
  ASSERT_TRUE(a.allowed()) << a.reason << ": " << a.description;
  EXPECT_EQ(a.subject, "sub-https://a");
  const std::string tb = token(b_, JwsAlg::kES256);
  auto b = authn_->check(tb);
  ASSERT_TRUE(b.allowed()) << b.reason << ": " << b.description;
  EXPECT_EQ(b.subject, "sub-https://b");
  EXPECT_TRUE(authn_->check(tb).cache_hit);
}

TEST_F(TwoProviders, KeyOfOneIssuerClaimingTheOtherFailsTheSignature) {
  // Same kid, same alg: B's key is looked up and A's signature does not verify with it.
  auto r = authn_->check(token(a_, JwsAlg::kES256, {{"iss", "https://b"}}));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.reason, "bad_signature");
  EXPECT_EQ(authn_->check(token(b_, JwsAlg::kES256, {{"iss", "https://a"}})).reason,
            "bad_signature");
  EXPECT_TRUE(authn_->check(token(a_, JwsAlg::kES256)).allowed());
}

TEST_F(TwoProviders, AnAlgAllowedForOneIssuerIsRefusedForTheOther) {
  auto rsa = *Key::generate(KeyType::kRsa);
  boost::json::object claims{
      {"iss", "https://b"}, {"aud", "api"}, {"exp", time_.wall_seconds() + 9}};
  auto r = authn_->check("Bearer " + *sign_jwt(JwsAlg::kRS256, rsa, "k1", claims));
  EXPECT_EQ(r.reason, "bad_alg");
  EXPECT_EQ(r.description, "alg RS256 is not allowed for issuer https://b");
  // For A, RS256 passes the allow-list and fails on A's EC key instead.
  claims["iss"] = "https://a";
  EXPECT_EQ(authn_->check("Bearer " + *sign_jwt(JwsAlg::kRS256, rsa, "k1", claims)).description,
            "the token's alg does not match the key's alg");
}

TEST_F(TwoProviders, UnknownIssuerIsRefusedWithoutAnyFetch) {
  ASSERT_TRUE(test::eventually([&] { return a_.fetches == 1 && b_.fetches == 1; }));
  auto r = authn_->check(token(a_, JwsAlg::kES256, {{"iss", "https://evil"}}));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.reason, "bad_issuer");
  EXPECT_EQ(r.description, "unknown issuer \"https://evil\"");
  EXPECT_EQ(authn_->check(token(a_, JwsAlg::kES256, {{"iss", 7}})).reason, "bad_issuer");
  const std::string long_name = "https://" + std::string(4000, 'x');
  EXPECT_EQ(authn_->check(token(a_, JwsAlg::kES256, {{"iss", long_name}})).description,
            "unknown issuer \"" + long_name.substr(0, 128) + "...\"");
  EXPECT_EQ(a_.cache->fetch_count() + b_.cache->fetch_count(), 2u);
}

TEST_F(TwoProviders, UnknownKidRefetchesOnlyThatIssuersKeys) {
  ASSERT_TRUE(test::eventually([&] { return a_.fetches == 1 && b_.fetches == 1; }));
  boost::json::object claims{
      {"iss", "https://b"}, {"aud", "api"}, {"exp", time_.wall_seconds() + 9}};
  auto t = "Bearer " + *sign_jwt(JwsAlg::kES256, b_.key, "k-new", claims);
  EXPECT_EQ(authn_->check(t).reason, "unknown_kid");
  EXPECT_TRUE(test::eventually([&] { return b_.cache->fetch_count() == 2; }));
  EXPECT_EQ(a_.cache->fetch_count(), 1u);
}

TEST_F(TwoProviders, EachProvidersLeewayAppliesOnCacheHits) {
  const std::string ta = token(a_, JwsAlg::kES256);  // exp now+100, leeway 0
  const std::string tb = token(b_, JwsAlg::kES256);  // exp now+100, leeway 60
  ASSERT_TRUE(authn_->check(ta).allowed());
  ASSERT_TRUE(authn_->check(tb).allowed());
  time_.advance(std::chrono::seconds(120));
  EXPECT_EQ(authn_->check(ta).reason, "token_expired");
  auto b = authn_->check(tb);
  EXPECT_TRUE(b.allowed());
  EXPECT_TRUE(b.cache_hit);
}

TEST_F(TwoProviders, AnIssuerWhoseJwksIsDownFailsAloneAndServesStaleKeys) {
  // C's JWKS never answers: its tokens get jwks_unavailable, A's still pass.
  JwksCacheOptions options;
  options.jwks_uri = "memory:c";
  JwksCache down(time_, options, [](const std::string&, std::chrono::milliseconds) {
    return Result<std::string>(make_error("jwks_status", "JWKS answered 503"));
  });
  down.start();
  std::vector<JwtProvider> providers(2);
  providers[0].claims.issuer = a_.name;
  providers[0].jwks = a_.cache.get();
  providers[1].claims.issuer = "https://c";
  providers[1].jwks = &down;
  JwtAuthn authn(JwtAuthnConfig{}, std::move(providers), time_);
  auto c = authn.check(token(a_, JwsAlg::kES256, {{"iss", "https://c"}}));
  EXPECT_EQ(c.reason, "jwks_unavailable");
  EXPECT_EQ(c.status, 401);
  EXPECT_TRUE(authn.check(token(a_, JwsAlg::kES256)).allowed());

  // A's IdP goes down too: A's cache keeps the last good keys (a kid miss asks for a refetch).
  ASSERT_TRUE(test::eventually([&] { return a_.cache->fetch_count() == 1; }));
  a_.document = "<html>503</html>";
  boost::json::object claims{{"iss", a_.name}, {"aud", "api"}, {"exp", time_.wall_seconds() + 9}};
  EXPECT_EQ(authn.check("Bearer " + *sign_jwt(JwsAlg::kES256, a_.key, "k9", claims)).reason,
            "unknown_kid");
  EXPECT_TRUE(test::eventually([&] { return a_.cache->fetch_count() == 2; }));
  EXPECT_TRUE(authn.check(token(a_, JwsAlg::kES256, {{"sub", "fresh"}})).allowed());
}

}  // namespace
}  // namespace gatedrill::gateway

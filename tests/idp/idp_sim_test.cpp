// The IdP in process, over loopback HTTP: discovery, JWKS, the token endpoint, admin minting,
// rotation, clock skew and every fault type.
#include "idp-sim/idp_sim.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <set>

#include <boost/json/serialize.hpp>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "idp-sim/client_auth.hpp"

namespace gatedrill {
namespace {

constexpr const char* kSecret = "s3cret-for-tests";
constexpr const char* kForm = "application/x-www-form-urlencoded";

class IdpSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IdpOptions options;
    options.client_secret = kSecret;
    options.alg = JwsAlg::kES256;  // fast keys; the alg matrix is covered by the crypto tests
    options.threads = 2;
    idp_ = std::make_unique<IdpSim>(time_, options);
    auto started = idp_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override { idp_->stop(); }

  std::string url(const std::string& path) const { return idp_->base_url() + path; }
  std::string admin(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(idp_->admin_port()) + path;
  }

  HttpResponse get(const std::string& u) {
    auto r = http_get(u);
    EXPECT_TRUE(r.ok()) << u << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : HttpResponse{};
  }
  HttpResponse post(const std::string& u, const std::string& body, HeaderList headers) {
    auto r = http_request("POST", u, headers, body);
    EXPECT_TRUE(r.ok()) << u << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : HttpResponse{};
  }
  HttpResponse post_json(const std::string& u, const std::string& json) {
    return post(u, json, {{"content-type", "application/json"}});
  }
  HttpResponse token_basic(const std::string& id, const std::string& secret,
                           const std::string& body = "grant_type=client_credentials") {
    return post(url("/token"), body,
                {{"content-type", kForm}, {"authorization", basic_auth_header(id, secret)}});
  }
  boost::json::object json(const HttpResponse& r) {
    auto o = parse_json_object(r.body);
    EXPECT_TRUE(o.ok()) << r.body;
    return o.ok() ? *o : boost::json::object{};
  }
  std::string add_fault(const std::string& type, boost::json::object params = {}) {
    auto r =
        post_json(admin("/admin/faults"),
                  boost::json::serialize(boost::json::object{{"type", type}, {"params", params}}));
    EXPECT_EQ(r.status, 200) << r.body;
    auto o = json(r);
    return o.contains("id") ? std::string(o["id"].as_string()) : "";
  }
  void remove_fault(const std::string& id) {
    auto r = http_request("DELETE", admin("/admin/faults/" + id));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
  }
  Jwks served_jwks() {
    auto r = get(url("/jwks.json"));
    EXPECT_EQ(r.status, 200);
    auto jwks = Jwks::parse(r.body);
    EXPECT_TRUE(jwks.ok()) << r.body;
    return jwks.ok() ? *jwks : Jwks{};
  }
  // "ok" or the first reason the token fails against the served JWKS and our claim policy.
  std::string verify(const std::string& token, int64_t now) {
    auto jwt = parse_jwt(token);
    if (!jwt) return jwt.error().code;
    Jwks jwks = served_jwks();
    const auto* entry = jwks.find(jwt->kid);
    if (!entry) return "unknown_kid";
    if (!jws_verify(jwt->alg, entry->key, jwt->signing_input, jwt->signature))
      return "bad_signature";
    ClaimPolicy policy;
    policy.issuer = idp_->issuer();
    policy.audiences = {"gatedrill"};
    auto claims = check_jwt_claims(jwt->claims, policy, now);
    return claims.ok() ? "ok" : claims.error().code;
  }
  std::string admin_token(const std::string& request_json) {
    auto r = post_json(admin("/admin/tokens"), request_json);
    EXPECT_EQ(r.status, 200) << r.body;
    auto o = json(r);
    return o.contains("token") ? std::string(o["token"].as_string()) : "";
  }

  ManualTimeSource time_;
  std::unique_ptr<IdpSim> idp_;
};

TEST_F(IdpSimTest, DiscoveryDocumentPointsAtItsEndpoints) {
  auto r = get(url("/.well-known/openid-configuration"));
  ASSERT_EQ(r.status, 200);
  auto doc = json(r);
  EXPECT_EQ(doc["issuer"].as_string(), idp_->issuer());
  EXPECT_EQ(doc["jwks_uri"].as_string(), url("/jwks.json"));
  EXPECT_EQ(doc["token_endpoint"].as_string(), url("/token"));
  EXPECT_EQ(doc["id_token_signing_alg_values_supported"].as_array()[0].as_string(), "ES256");
  EXPECT_EQ(doc["grant_types_supported"].as_array()[0].as_string(), "client_credentials");
  EXPECT_EQ(doc["token_endpoint_auth_methods_supported"].as_array().size(), 2u);
  EXPECT_TRUE(doc.contains("response_types_supported"));
  EXPECT_TRUE(doc.contains("subject_types_supported"));
  EXPECT_EQ(get(url("/nope")).status, 404);
}

TEST_F(IdpSimTest, TokenWithBasicAuthVerifiesAgainstTheServedJwks) {
  auto r = token_basic("gatedrill-loadgen", kSecret);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("cache-control"), "no-store");
  auto body = json(r);
  EXPECT_EQ(body["token_type"].as_string(), "Bearer");
  EXPECT_EQ(body["expires_in"].as_int64(), 300);
  std::string token(body["access_token"].as_string());
  EXPECT_EQ(verify(token, time_.wall_seconds()), "ok");
  auto jwt = parse_jwt(token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->kid, idp_->key_ring().current().kid);
  EXPECT_EQ(jwt->claims["sub"].as_string(), "gatedrill-loadgen");
  EXPECT_EQ(jwt->claims["iat"].as_int64(), time_.wall_seconds());
  EXPECT_EQ(jwt->claims["exp"].as_int64(), time_.wall_seconds() + 300);
  EXPECT_TRUE(jwt->claims.contains("jti"));
  EXPECT_TRUE(jwt->claims.contains("scope"));
  // Expires with the clock.
  EXPECT_EQ(verify(token, time_.wall_seconds() + 300 + 61), "expired");
}

TEST_F(IdpSimTest, TokenWithClientSecretPost) {
  auto r =
      post(url("/token"),
           std::string("grant_type=client_credentials&client_id=gatedrill-loadgen&client_secret=") +
               kSecret + "&scope=orders%3Aread",
           {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string token(json(r)["access_token"].as_string());
  EXPECT_EQ(verify(token, time_.wall_seconds()), "ok");
  EXPECT_EQ(parse_jwt(token)->claims["scope"].as_string(), "orders:read");
}

TEST_F(IdpSimTest, BadClientAuthIsInvalidClient) {
  for (auto [id, secret] : {std::pair<std::string, std::string>{"gatedrill-loadgen", "wrong"},
                            {"someone-else", kSecret},
                            {"gatedrill-loadgen", ""}}) {
    auto r = token_basic(id, secret);
    EXPECT_EQ(r.status, 401) << id << " " << secret;
    EXPECT_EQ(json(r)["error"].as_string(), "invalid_client");
    EXPECT_FALSE(r.header("www-authenticate").empty());
  }
  auto none = post(url("/token"), "grant_type=client_credentials", {{"content-type", kForm}});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(json(none)["error"].as_string(), "invalid_client");
  auto garbage = post(url("/token"), "grant_type=client_credentials",
                      {{"content-type", kForm}, {"authorization", "Basic %%%"}});
  EXPECT_EQ(garbage.status, 401);
}

TEST_F(IdpSimTest, MalformedTokenRequestsAreRfc6749Errors) {
  auto password =
      token_basic("gatedrill-loadgen", kSecret, "grant_type=password&username=a&password=b");
  EXPECT_EQ(password.status, 400);
  EXPECT_EQ(json(password)["error"].as_string(), "unsupported_grant_type");
  auto missing = token_basic("gatedrill-loadgen", kSecret, "scope=x");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(json(missing)["error"].as_string(), "invalid_request");
  auto repeated = token_basic("gatedrill-loadgen", kSecret,
                              "grant_type=client_credentials&grant_type=client_credentials");
  EXPECT_EQ(json(repeated)["error"].as_string(), "invalid_request");
  auto both =
      post(url("/token"),
           std::string("grant_type=client_credentials&client_id=gatedrill-loadgen&client_secret=") +
               kSecret,
           {{"content-type", kForm},
            {"authorization", basic_auth_header("gatedrill-loadgen", kSecret)}});
  EXPECT_EQ(both.status, 400);
  EXPECT_EQ(json(both)["error"].as_string(), "invalid_request");
  auto json_body = post(url("/token"), R"({"grant_type":"client_credentials"})",
                        {{"content-type", "application/json"},
                         {"authorization", basic_auth_header("gatedrill-loadgen", kSecret)}});
  EXPECT_EQ(json_body.status, 400);
  EXPECT_EQ(json(json_body)["error"].as_string(), "invalid_request");
  EXPECT_EQ(get(url("/token")).status, 405);
  auto metrics = get(admin("/metrics"));
  EXPECT_NE(
      metrics.body.find("gatedrill_idp_token_errors_total{reason=\"unsupported_grant_type\"} 1"),
      std::string::npos)
      << metrics.body;
}

TEST_F(IdpSimTest, AdminTokensTakeCustomClaimsTtlAndCount) {
  auto r = post_json(
      admin("/admin/tokens"),
      R"({"claims":{"sub":"bob","role":"admin","aud":["x","gatedrill"]},"ttl_s":60,"count":3})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = json(r);
  auto& tokens = body["tokens"].as_array();
  ASSERT_EQ(tokens.size(), 3u);
  std::set<std::string> jtis;
  for (const auto& t : tokens) {
    std::string token(t.as_string());
    EXPECT_EQ(verify(token, time_.wall_seconds()), "ok");
    auto jwt = parse_jwt(token);
    ASSERT_TRUE(jwt.ok());
    EXPECT_EQ(jwt->claims["sub"].as_string(), "bob");
    EXPECT_EQ(jwt->claims["role"].as_string(), "admin");
    EXPECT_EQ(jwt->claims["exp"].as_int64(), time_.wall_seconds() + 60);
    jtis.insert(std::string(jwt->claims["jti"].as_string()));
  }
  EXPECT_EQ(jtis.size(), 3u);
  EXPECT_EQ(body["token"], tokens[0]);

  EXPECT_EQ(verify(admin_token(R"({"ttl_s":-120})"), time_.wall_seconds()), "expired");
  EXPECT_EQ(verify(admin_token(R"({"claims":{"exp":null}})"), time_.wall_seconds()), "missing_exp");
  EXPECT_EQ(verify(admin_token(R"({"claims":{"iss":"https://evil"}})"), time_.wall_seconds()),
            "bad_issuer");
  auto metrics = get(admin("/metrics"));
  EXPECT_NE(metrics.body.find("gatedrill_idp_tokens_issued_total{source=\"admin\"} 6"),
            std::string::npos)
      << metrics.body;
}

TEST_F(IdpSimTest, AdminTokenPoolsAreCompleteAndDistinct) {
  auto r = post_json(admin("/admin/tokens"), R"({"count":600,"claims":{"sub":"pool"}})");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 200);
  auto body = json(r);
  const auto& tokens = body["tokens"].as_array();
  ASSERT_EQ(tokens.size(), 600u);
  std::set<std::string> jtis;
  for (const auto& t : tokens) {
    auto jwt = parse_jwt(std::string(t.as_string()));
    ASSERT_TRUE(jwt.ok());
    EXPECT_EQ(jwt->claims["sub"].as_string(), "pool");
    jtis.insert(std::string(jwt->claims["jti"].as_string()));
  }
  EXPECT_EQ(jtis.size(), 600u);
  for (size_t i : {size_t{0}, size_t{299}, size_t{300}, size_t{599}})
    EXPECT_EQ(verify(std::string(tokens[i].as_string()), time_.wall_seconds()), "ok") << i;
}

TEST_F(IdpSimTest, AdminTokensWithAnotherAlgOrAnUnknownKid) {
  auto r = post_json(admin("/admin/tokens"), R"({"alg":"EdDSA"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto jwt = parse_jwt(std::string(json(r)["token"].as_string()));
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->alg, JwsAlg::kEdDSA);
  EXPECT_EQ(served_jwks().find(jwt->kid), nullptr);  // signed by a key that is not published

  std::string token = admin_token(R"({"kid":"../../etc/passwd"})");
  jwt = parse_jwt(token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->kid, "../../etc/passwd");
  EXPECT_EQ(verify(token, time_.wall_seconds()), "unknown_kid");
}

TEST_F(IdpSimTest, AdminTokensRejectBadParams) {
  for (const char* body :
       {R"({"count":0})", R"({"count":100001})", R"({"alg":"none"})", R"({"alg":"HS256"})",
        R"({"claims":[1]})", R"({"ttl_s":"soon"})", R"({"kid":5})", "not json"}) {
    auto r = post_json(admin("/admin/tokens"), body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
  }
}

TEST_F(IdpSimTest, RevokeNeedsRedisAndAValidJti) {
  // Without --redis there is no blacklist to write to (the gateway tests cover the Redis path).
  auto r = post_json(admin("/admin/revoke"), R"({"jti":"abc"})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("no_redis"), std::string::npos) << r.body;
  for (const char* body : {R"({})", R"({"jti":""})", R"({"jti":5})", R"({"jti":"a","ttl_s":0})",
                           R"({"jti":"a","ttl_s":"x"})", "not json"}) {
    auto bad = post_json(admin("/admin/revoke"), body);
    EXPECT_EQ(bad.status, 400) << body << " -> " << bad.body;
  }
  auto huge = post_json(admin("/admin/revoke"), "{\"jti\":\"" + std::string(300, 'x') + "\"}");
  EXPECT_EQ(huge.status, 400) << huge.body;
}

TEST_F(IdpSimTest, ClockSkewMovesIatAndNbf) {
  auto skew = post_json(admin("/admin/clock"), R"({"skew_ms":300000})");
  ASSERT_EQ(skew.status, 200) << skew.body;
  const int64_t true_now =
      time_.wall_seconds() - 300;  // ManualTimeSource::wall() includes the skew
  auto r = token_basic("gatedrill-loadgen", kSecret);
  ASSERT_EQ(r.status, 200);
  std::string token(json(r)["access_token"].as_string());
  auto jwt = parse_jwt(token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->claims["iat"].as_int64(), true_now + 300);
  EXPECT_EQ(jwt->claims["nbf"].as_int64(), true_now + 300);
  // A gateway with the true time and 60 s leeway refuses it: the clock-skew-idp drill.
  EXPECT_EQ(verify(token, true_now), "not_yet_valid");
  EXPECT_EQ(verify(token, true_now + 300), "ok");
}

TEST_F(IdpSimTest, SignFirstRotationProducesAKidAbsentFromTheJwks) {
  std::string old_kid = idp_->key_ring().current().kid;
  auto r = post_json(admin("/admin/keys/rotate"), R"({"mode":"sign_first"})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string new_kid(json(r)["kid"].as_string());
  EXPECT_NE(new_kid, old_kid);
  std::string token(json(token_basic("gatedrill-loadgen", kSecret))["access_token"].as_string());
  EXPECT_EQ(parse_jwt(token)->kid, new_kid);
  EXPECT_EQ(verify(token, time_.wall_seconds()), "unknown_kid");
  auto published = post_json(admin("/admin/keys/publish"), "{}");
  ASSERT_EQ(published.status, 200);
  EXPECT_EQ(json(published)["published"].as_array()[0].as_string(), new_kid);
  EXPECT_EQ(verify(token, time_.wall_seconds()), "ok");
}

TEST_F(IdpSimTest, PublishFirstRotationPublishesBeforeSigning) {
  std::string old_kid = idp_->key_ring().current().kid;
  auto r = post_json(admin("/admin/keys/rotate"), R"({"mode":"publish_first","delay_s":60})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string new_kid(json(r)["kid"].as_string());
  EXPECT_NE(served_jwks().find(new_kid), nullptr);
  EXPECT_EQ(parse_jwt(admin_token("{}"))->kid, old_kid);
  time_.advance(std::chrono::seconds(60));
  std::string token = admin_token("{}");
  EXPECT_EQ(parse_jwt(token)->kid, new_kid);
  EXPECT_EQ(verify(token, time_.wall_seconds()), "ok");
  auto keys = json(get(admin("/admin/keys")));
  EXPECT_EQ(keys["signing_kid"].as_string(), new_kid);
}

TEST_F(IdpSimTest, RotationRejectsBadModes) {
  for (const char* body : {"{}", R"({"mode":"yolo"})", R"({"mode":"sign_first","delay_s":5})",
                           R"({"mode":"publish_first","delay_s":-1})"}) {
    EXPECT_EQ(post_json(admin("/admin/keys/rotate"), body).status, 400) << body;
  }
}

TEST_F(IdpSimTest, IdpDownAnswers503UntilCleared) {
  std::string id = add_fault("idp_down");
  EXPECT_EQ(get(url("/.well-known/openid-configuration")).status, 503);
  EXPECT_EQ(get(url("/jwks.json")).status, 503);
  EXPECT_EQ(token_basic("gatedrill-loadgen", kSecret).status, 503);
  remove_fault(id);
  EXPECT_EQ(token_basic("gatedrill-loadgen", kSecret).status, 200);
}

TEST_F(IdpSimTest, IdpDownCloseRefusesConnectionsThenReopensOnTheSamePort) {
  uint16_t port = idp_->port();
  std::string id = add_fault("idp_down", {{"mode", "close"}});
  HttpClientOptions quick;
  quick.timeout = std::chrono::milliseconds(2000);
  auto refused = http_get(url("/jwks.json"), quick);
  EXPECT_FALSE(refused.ok());
  remove_fault(id);
  EXPECT_EQ(idp_->port(), port);
  EXPECT_EQ(get(url("/jwks.json")).status, 200);
}

TEST_F(IdpSimTest, JwksDownFailsOnlyTheJwks) {
  std::string id = add_fault("jwks_down");
  EXPECT_EQ(get(url("/jwks.json")).status, 503);
  EXPECT_EQ(get(url("/.well-known/openid-configuration")).status, 200);
  EXPECT_EQ(token_basic("gatedrill-loadgen", kSecret).status, 200);
  remove_fault(id);
  EXPECT_EQ(get(url("/jwks.json")).status, 200);
}

TEST_F(IdpSimTest, SlowDelaysPublicAnswers) {
  SystemTimeSource clock;
  std::string id = add_fault("slow", {{"latency_ms", 300}});
  auto start = clock.monotonic();
  EXPECT_EQ(get(url("/jwks.json")).status, 200);
  EXPECT_GE(clock.monotonic() - start, std::chrono::milliseconds(300));
  remove_fault(id);
  start = clock.monotonic();
  EXPECT_EQ(get(url("/jwks.json")).status, 200);
  EXPECT_LT(clock.monotonic() - start, std::chrono::milliseconds(300));
}

TEST_F(IdpSimTest, Error5xxWithProbabilityOne) {
  std::string id = add_fault("error_5xx", {{"status", 502}, {"probability", 1.0}});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get(url("/jwks.json")).status, 502);
  remove_fault(id);
  EXPECT_EQ(get(url("/jwks.json")).status, 200);
}

TEST_F(IdpSimTest, Error5xxWithProbabilityHalfFailsSome) {
  std::string id = add_fault("error_5xx", {{"probability", 0.5}});
  int failed = 0;
  for (int i = 0; i < 60; ++i)
    failed += get(url("/.well-known/openid-configuration")).status == 500;
  EXPECT_GT(failed, 10);
  EXPECT_LT(failed, 50);
  remove_fault(id);
}

TEST_F(IdpSimTest, JwksMalformedModes) {
  std::string id = add_fault("jwks_malformed", {{"mode", "garbage"}});
  auto r = get(url("/jwks.json"));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(Jwks::parse(r.body).ok());
  remove_fault(id);
  id = add_fault("jwks_malformed", {{"mode", "empty"}});
  auto empty = Jwks::parse(get(url("/jwks.json")).body);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entries().empty());
  remove_fault(id);
  id = add_fault("jwks_malformed", {{"mode", "truncated"}});
  EXPECT_FALSE(Jwks::parse(get(url("/jwks.json")).body).ok());
  remove_fault(id);
  EXPECT_EQ(served_jwks().entries().size(), 1u);
}

TEST_F(IdpSimTest, FaultsWithBadParamsAre400) {
  std::vector<std::pair<std::string, boost::json::object>> bad = {
      {"idp_down", {{"mode", "explode"}}}, {"slow", {}},
      {"slow", {{"latency_ms", -5}}},      {"error_5xx", {{"status", 418}}},
      {"error_5xx", {{"probability", 2}}}, {"jwks_malformed", {{"mode", "spicy"}}},
  };
  for (auto& [type, params] : bad) {
    auto r =
        post_json(admin("/admin/faults"),
                  boost::json::serialize(boost::json::object{{"type", type}, {"params", params}}));
    EXPECT_EQ(r.status, 400) << type << " " << boost::json::serialize(params) << " -> " << r.body;
  }
}

}  // namespace
}  // namespace gatedrill

namespace gatedrill {
namespace {

TEST(IdpKeysDir, ARestartedIdpKeepsItsSigningKey) {
  auto dir =
      std::filesystem::temp_directory_path() / ("gatedrill-idp-keys-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  IdpOptions options;
  options.client_secret = kSecret;
  options.alg = JwsAlg::kEdDSA;
  options.keys_dir = dir.string();
  ManualTimeSource time;
  std::string first_kid;
  {
    IdpSim idp(time, options);
    ASSERT_TRUE(idp.start().ok());
    first_kid = idp.key_ring().current().kid;
  }
  auto stored = dir / "signing-EdDSA.pem";
  ASSERT_TRUE(std::filesystem::exists(stored));
  EXPECT_EQ(std::filesystem::status(stored).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  {
    IdpSim idp(time, options);
    ASSERT_TRUE(idp.start().ok());
    EXPECT_EQ(idp.key_ring().current().kid, first_kid);
  }
  options.keys_dir.clear();
  IdpSim fresh(time, options);
  ASSERT_TRUE(fresh.start().ok());
  EXPECT_NE(fresh.key_ring().current().kid, first_kid);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gatedrill

namespace gatedrill {
namespace {

// Several issuers in one process: tenant "b" is {issuer}/b with its own keys and endpoints.
TEST(IdpTenants, EachTenantIsAnIssuerWithItsOwnKeysAndEndpoints) {
  IdpOptions options;
  options.client_secret = kSecret;
  options.alg = JwsAlg::kES256;
  options.tenants = {"b", "team-c"};
  ManualTimeSource time;
  IdpSim idp(time, options);
  auto started = idp.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  const std::string base = idp.base_url();
  const std::string admin = "http://127.0.0.1:" + std::to_string(idp.admin_port());

  // Discovery at {issuer}/.well-known/openid-configuration, pointing at the tenant's endpoints.
  std::set<std::string> kids;
  for (std::string tenant : {"", "b", "team-c"}) {
    const std::string prefix = tenant.empty() ? "" : "/" + tenant;
    auto d = http_get(base + prefix + "/.well-known/openid-configuration");
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(d->status, 200) << tenant << ": " << d->body;
    auto doc = *parse_json_object(d->body);
    EXPECT_EQ(doc["issuer"].as_string(), idp.issuer(tenant));
    EXPECT_EQ(doc["issuer"].as_string(), idp.issuer() + prefix);
    EXPECT_EQ(doc["jwks_uri"].as_string(), base + prefix + "/jwks.json");
    EXPECT_EQ(doc["token_endpoint"].as_string(), base + prefix + "/token");

    auto j = http_get(base + prefix + "/jwks.json");
    ASSERT_TRUE(j.ok() && j->status == 200);
    auto jwks = Jwks::parse(j->body);
    ASSERT_TRUE(jwks.ok()) << j->body;
    ASSERT_EQ(jwks->entries().size(), 1u);
    kids.insert(jwks->entries()[0].kid);

    // The token endpoint signs with the tenant's key and names the tenant's issuer.
    auto t = http_request("POST", base + prefix + "/token",
                          {{"content-type", kForm},
                           {"authorization", basic_auth_header("gatedrill-loadgen", kSecret)}},
                          "grant_type=client_credentials");
    ASSERT_TRUE(t.ok() && t->status == 200) << (t.ok() ? t->body : t.error().message);
    auto jwt = parse_jwt(std::string(parse_json_object(t->body)->at("access_token").as_string()));
    ASSERT_TRUE(jwt.ok());
    EXPECT_EQ(jwt->claims["iss"].as_string(), idp.issuer(tenant));
    const auto* entry = jwks->find(jwt->kid);
    ASSERT_NE(entry, nullptr);
    EXPECT_TRUE(jws_verify(jwt->alg, entry->key, jwt->signing_input, jwt->signature));

    // Admin minting names the tenant too.
    const std::string body = tenant.empty() ? "{}" : R"({"tenant":")" + tenant + "\"}";
    auto m = http_post_json(admin + "/admin/tokens", body);
    ASSERT_TRUE(m.ok() && m->status == 200) << (m.ok() ? m->body : m.error().message);
    auto minted = parse_jwt(std::string(parse_json_object(m->body)->at("token").as_string()));
    ASSERT_TRUE(minted.ok());
    EXPECT_EQ(minted->claims["iss"].as_string(), idp.issuer(tenant));
    EXPECT_EQ(minted->kid, jwt->kid);
  }
  EXPECT_EQ(kids.size(), 3u);  // three distinct keys

  // Rotation and key listing are per tenant; the default issuer's key does not move.
  const std::string default_kid = idp.key_ring().current().kid;
  auto rotated =
      http_post_json(admin + "/admin/keys/rotate", R"({"tenant":"b","mode":"sign_first"})");
  ASSERT_TRUE(rotated.ok() && rotated->status == 200);
  auto keys_b = http_get(admin + "/admin/keys?tenant=b");
  ASSERT_TRUE(keys_b.ok() && keys_b->status == 200);
  EXPECT_EQ(parse_json_object(keys_b->body)->at("keys").as_array().size(), 2u);
  EXPECT_EQ(idp.key_ring().current().kid, default_kid);

  // Unknown tenants: 404 on the admin API and on public paths.
  auto unknown = http_post_json(admin + "/admin/tokens", R"({"tenant":"zz"})");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(unknown->body.find("unknown_tenant"), std::string::npos);
  auto unknown_keys = http_get(admin + "/admin/keys?tenant=zz");
  ASSERT_TRUE(unknown_keys.ok());
  EXPECT_EQ(unknown_keys->status, 404);
  auto unknown_public = http_get(base + "/zz/jwks.json");
  ASSERT_TRUE(unknown_public.ok());
  EXPECT_EQ(unknown_public->status, 404);
  idp.stop();
}

TEST(IdpTenants, BadTenantNamesFailStart) {
  for (std::vector<std::string> tenants :
       {std::vector<std::string>{"a/b"}, {""}, {"x", "x"}, {".well-known"}}) {
    IdpOptions options;
    options.client_secret = kSecret;
    options.alg = JwsAlg::kES256;
    options.tenants = tenants;
    ManualTimeSource time;
    IdpSim idp(time, options);
    auto started = idp.start();
    ASSERT_FALSE(started.ok()) << tenants[0];
    EXPECT_EQ(started.error().code, "bad_options") << started.error().message;
  }
}

}  // namespace
}  // namespace gatedrill

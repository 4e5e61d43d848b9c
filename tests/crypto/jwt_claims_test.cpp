#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/jwt.hpp"
#include "tests/crypto/test_keys.hpp"

namespace gatedrill {
namespace {

constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

ClaimPolicy policy() {
  ClaimPolicy p;
  p.issuer = "https://idp.test";
  p.audiences = {"gatedrill"};
  p.leeway = std::chrono::seconds(60);
  return p;
}

boost::json::object claims(std::string_view json) {
  return boost::json::parse(json).as_object();
}

boost::json::object valid() {
  return boost::json::object{
      {"iss", "https://idp.test"}, {"aud", "gatedrill"}, {"sub", "alice"},
      {"iat", kNow - 10},          {"nbf", kNow - 10},   {"exp", kNow + 300}};
}

std::string code_of(const Result<ClaimTimes>& r) {
  return r.ok() ? "ok" : r.error().code;
}
// Everything a result says: the error, or the times read.
std::string described(const Result<ClaimTimes>& r) {
  if (!r.ok()) return r.error().code + ": " + r.error().message;
  auto time = [](const std::optional<int64_t>& t) { return t ? std::to_string(*t) : "-"; };
  return "ok " + time(r->exp) + " " + time(r->nbf) + " " + time(r->iat);
}
// The claims checked as a JSON tree and as the gateway reads them (a JwtView of a token with
// these claims, no tree): both must answer alike, to the message.
std::string check(const boost::json::object& c, const ClaimPolicy& p = policy(),
                  int64_t now = kNow) {
  auto tree = check_jwt_claims(c, p, now);
  thread_local JwtView view;
  auto parsed = view.parse(test::forge(R"({"alg":"RS256"})", boost::json::serialize(c)));
  EXPECT_TRUE(parsed.ok()) << boost::json::serialize(c);
  if (parsed.ok()) {
    EXPECT_EQ(described(check_jwt_claims(view.claims(), p, now)), described(tree))
        << boost::json::serialize(c);
  }
  return code_of(tree);
}

TEST(JwtClaims, ValidClaimsPass) {
  EXPECT_EQ(check(valid()), "ok");
}

TEST(JwtClaims, ExpiredBeyondLeewayOnly) {
  auto c = valid();
  c["exp"] = kNow - 30;
  EXPECT_EQ(check(c), "ok");  // within 60 s leeway
  c["exp"] = kNow - 60;
  EXPECT_EQ(check(c), "expired");
  c["exp"] = kNow - 3600;
  EXPECT_EQ(check(c), "expired");
  auto strict = policy();
  strict.leeway = std::chrono::seconds(0);
  c["exp"] = kNow;
  EXPECT_EQ(check(c, strict), "expired");
  c["exp"] = kNow + 1;
  EXPECT_EQ(check(c, strict), "ok");
}

TEST(JwtClaims, NbfAndIatInTheFutureBeyondLeeway) {
  auto c = valid();
  c["nbf"] = kNow + 30;
  EXPECT_EQ(check(c), "ok");
  c["nbf"] = kNow + 61;
  EXPECT_EQ(check(c), "not_yet_valid");
  c = valid();
  c["iat"] = kNow + 300;  // an IdP whose clock runs 5 minutes ahead
  EXPECT_EQ(check(c), "not_yet_valid");
  auto wide = policy();
  wide.leeway = std::chrono::seconds(600);
  EXPECT_EQ(check(c, wide), "ok");
}

TEST(JwtClaims, TimeClaimsOfTheWrongType) {
  for (const char* name : {"exp", "nbf", "iat"}) {
    for (const char* value : {R"("1767229200")", "1767229200.5", "-1", "1e20", "253402300800",
                              "18446744073709551615", "true", "null", "[1767229200]", "{}"}) {
      auto c = valid();
      c[name] = boost::json::parse(value);
      EXPECT_EQ(check(c), "bad_claim") << name << " = " << value;
    }
  }
}

TEST(JwtClaims, WholeNumberFloatsAreIntegers) {
  auto c = valid();
  c["exp"] = static_cast<double>(kNow + 300);
  EXPECT_EQ(check(c), "ok");
  c["exp"] = static_cast<double>(kNow - 300);
  EXPECT_EQ(check(c), "expired");
}

TEST(JwtClaims, MissingExpWhereRequired) {
  auto c = valid();
  c.erase("exp");
  EXPECT_EQ(check(c), "missing_exp");
  auto optional = policy();
  optional.require_exp = false;
  EXPECT_EQ(check(c, optional), "ok");
}

TEST(JwtClaims, WrongIssuer) {
  auto c = valid();
  c["iss"] = "https://evil.test";
  EXPECT_EQ(check(c), "bad_issuer");
  c["iss"] = "https://idp.test/";
  EXPECT_EQ(check(c), "bad_issuer");
  c["iss"] = 1;
  EXPECT_EQ(check(c), "bad_issuer");
  c.erase("iss");
  EXPECT_EQ(check(c), "bad_issuer");
  auto any_issuer = policy();
  any_issuer.issuer.clear();
  EXPECT_EQ(check(c, any_issuer), "ok");
}

TEST(JwtClaims, AudienceStringAndArrayForms) {
  auto c = valid();
  c["aud"] = "other";
  EXPECT_EQ(check(c), "bad_audience");
  c["aud"] = boost::json::array{"other", "gatedrill"};
  EXPECT_EQ(check(c), "ok");
  c["aud"] = boost::json::array{"other", "gatedrill2"};
  EXPECT_EQ(check(c), "bad_audience");
  c["aud"] = boost::json::array{};
  EXPECT_EQ(check(c), "bad_audience");
  c["aud"] = "GATEDRILL";
  EXPECT_EQ(check(c), "bad_audience");
  c.erase("aud");
  EXPECT_EQ(check(c), "bad_audience");
  c["aud"] = 7;
  EXPECT_EQ(check(c), "bad_claim");
  c["aud"] = boost::json::array{"gatedrill", 7};
  EXPECT_EQ(check(c), "bad_claim");
  auto two = policy();
  two.audiences = {"a", "gatedrill"};
  c["aud"] = "gatedrill";
  EXPECT_EQ(check(c, two), "ok");
}

TEST(JwtClaims, TypeErrorsWinOverTimeErrors) {
  // A garbage nbf must not hide behind an expired exp, or vice versa: both are refused, and the
  // reason names the broken claim.
  auto c = claims(R"({"iss":"https://idp.test","aud":"gatedrill","exp":1,"nbf":"soon"})");
  EXPECT_EQ(check(c), "bad_claim");
}

TEST(JwtClaims, RegisteredClaimsAreFoundInOnePass) {
  auto c = claims(R"({"xiss":1,"is":2,"iss":"i","sub":"s","aud":["a"],"exp":3,"nbf":4,"iat":5,
                      "jti":"j","ISS":6,"scope":"x"})");
  RegisteredClaims found = find_registered_claims(c);
  ASSERT_NE(found.iss, nullptr);
  EXPECT_EQ(found.iss->as_string(), "i");
  EXPECT_EQ(found.sub->as_string(), "s");
  EXPECT_TRUE(found.aud->is_array());
  EXPECT_EQ(found.exp->as_int64(), 3);
  EXPECT_EQ(found.nbf->as_int64(), 4);
  EXPECT_EQ(found.iat->as_int64(), 5);
  EXPECT_EQ(found.jti->as_string(), "j");
  // A JwtView finds the same members (and not the ones that only look alike).
  JwtView view;
  ASSERT_TRUE(view.parse(test::forge(R"({"alg":"RS256"})", boost::json::serialize(c))).ok());
  const JoseClaims& read = view.claims();
  ASSERT_NE(read.iss, nullptr);
  EXPECT_EQ(read.iss->as_string(), "i");
  EXPECT_EQ(read.sub->as_string(), "s");
  ASSERT_TRUE(read.aud->is_array());
  ASSERT_EQ(read.aud->as_array().size(), 1u);
  EXPECT_EQ(read.aud->as_array()[0].as_string(), "a");
  EXPECT_EQ(read.exp->as_int64(), 3);
  EXPECT_EQ(read.nbf->as_int64(), 4);
  EXPECT_EQ(read.iat->as_int64(), 5);
  EXPECT_EQ(read.jti->as_string(), "j");
  ASSERT_TRUE(
      view.parse(test::forge(R"({"alg":"RS256"})", R"({"scope":"x","Exp":1,"exp ":2})")).ok());
  EXPECT_EQ(view.claims().iss, nullptr);
  EXPECT_EQ(view.claims().exp, nullptr);
  EXPECT_EQ(view.claims().sub, nullptr);
  RegisteredClaims none = find_registered_claims(claims(R"({"scope":"x","Exp":1,"exp ":2})"));
  EXPECT_EQ(none.iss, nullptr);
  EXPECT_EQ(none.exp, nullptr);
  EXPECT_EQ(none.sub, nullptr);
  // Both overloads answer alike.
  EXPECT_EQ(code_of(check_jwt_claims(find_registered_claims(valid()), policy(), kNow)), "ok");
  auto expired = valid();
  expired["exp"] = kNow - 3600;
  EXPECT_EQ(code_of(check_jwt_claims(find_registered_claims(expired), policy(), kNow)), "expired");
}

}  // namespace
}  // namespace gatedrill

#include "gateway/authz/authorizer.hpp"

#include <string>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include "core/time/time_source.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace gatedrill::gateway {
namespace {

AuthzRequest request(std::string_view subject, std::string_view route,
                     std::string_view method = "GET") {
  AuthzRequest r;
  r.method = method;
  r.path = "/v1/data";
  r.route = route;
  r.subject = subject;
  r.protocol = "https";
  return r;
}

TEST(AllowRule, Parses) {
  auto r = AllowRule::parse("alice@items:get, post");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->identity, "alice");
  EXPECT_EQ(r->route, "items");
  EXPECT_EQ(r->methods, (std::vector<std::string>{"GET", "POST"}));
  auto spiffe = AllowRule::parse("spiffe://td/ns/a/sa/b@*");
  ASSERT_TRUE(spiffe);
  EXPECT_EQ(spiffe->identity, "spiffe://td/ns/a/sa/b");
  EXPECT_EQ(spiffe->route, "*");
  EXPECT_TRUE(spiffe->methods.empty());
  for (std::string bad : {"alice", "@items", "alice@", "alice@items:GET,,POST"})
    EXPECT_FALSE(AllowRule::parse(bad)) << bad;
}

TEST(AllowListAuthorizer, FirstMatchingRuleAllowsElseDeny) {
  AllowListAuthorizer authz({*AllowRule::parse("alice@items:GET"), *AllowRule::parse("*@public")});
  EXPECT_TRUE(authz.check(request("alice", "items")).allowed);
  auto post = authz.check(request("alice", "items", "POST"));
  EXPECT_FALSE(post.allowed);
  EXPECT_EQ(post.reason, "no_matching_rule");
  EXPECT_FALSE(authz.check(request("bob", "items")).allowed);
  EXPECT_TRUE(authz.check(request("bob", "public", "DELETE")).allowed);
  EXPECT_FALSE(authz.check(request("", "admin")).allowed);
  EXPECT_FALSE(authz.version().empty());
}

TEST(AuthzInput, CarriesEverySeedShape) {
  HeaderList headers = {{"X-Internal-Dept", "Engineering"},
                        {"Authorization", "Bearer abc.def.ghi"}};
  AuthzRequest r = request("alice", "items");
  r.authorization = "Bearer abc.def.ghi";
  r.spiffe_id = "spiffe://td/x";
  r.headers = &headers;
  auto input = authz_input(r).as_object();
  EXPECT_EQ(input.at("method").as_string(), "GET");
  EXPECT_EQ(boost::json::serialize(input.at("path")), R"(["v1","data"])");
  EXPECT_EQ(input.at("http_auth_header").as_string(), "Bearer abc.def.ghi");
  EXPECT_EQ(input.at("token").as_string(), "abc.def.ghi");
  EXPECT_EQ(input.at("protocol").as_string(), "https");
  EXPECT_EQ(input.at("headers").as_object().at("X-Internal-Dept").as_string(), "Engineering");
  const auto& http = input.at("attributes").at("request").at("http").as_object();
  EXPECT_EQ(http.at("path").as_string(), "/v1/data");
  EXPECT_EQ(http.at("headers").as_object().at("authorization").as_string(), "Bearer abc.def.ghi");
  EXPECT_EQ(input.at("attributes").at("source").at("principal").as_string(), "spiffe://td/x");
}

// A policy reading three keys gets those three, with the values the whole document has.
TEST(AuthzInput, HoldsOnlyTheKeysThePolicyReads) {
  HeaderList headers = {{"Accept", "*/*"}, {"X-Dup", "first"}, {"X-Dup", "second"}};
  AuthzRequest r = request("alice", "items");
  r.path = "//api/orders/";
  r.headers = &headers;
  policy::InputUse use;
  use.whole = false;
  use.keys = {"method", "path", "subject"};
  auto part = authz_input_value(r, use).to_json().as_object();
  EXPECT_EQ(part.size(), 3u);
  EXPECT_EQ(boost::json::serialize(part.at("path")), R"(["api","orders"])");
  EXPECT_EQ(part.at("subject").as_string(), "alice");
  auto whole = authz_input(r).as_object();
  EXPECT_EQ(whole.size(), 10u);
  for (const auto& [key, value] : part) EXPECT_EQ(whole.at(key), value) << key;
  // A header sent twice: the later one, in both header objects.
  EXPECT_EQ(whole.at("headers").at("X-Dup").as_string(), "second");
  EXPECT_EQ(whole.at("attributes").at("request").at("http").at("headers").at("x-dup").as_string(),
            "second");
}

std::shared_ptr<const PolicyEngine> engine(const std::string& rego) {
  auto e = PolicyEngine::from_sources({{"authz.rego", rego}});
  if (!e) throw std::runtime_error(e.error().message);
  return std::make_shared<const PolicyEngine>(std::move(*e));
}

TEST(RegoAuthorizer, AllowsOnlyADefinedTrue) {
  auto e = engine(R"(package gatedrill.authz
import rego.v1
default allow := false
allow if {
  input.attributes.request.http.method == "GET"
  input.subject == "alice"
}
not_bool := "yes"
)");
  RegoAuthorizer authz(e, "data.gatedrill.authz.allow");
  auto ok = authz.check(request("alice", "r"));
  EXPECT_TRUE(ok.allowed) << ok.message;
  EXPECT_EQ(ok.policy_version, e->version());
  auto denied = authz.check(request("bob", "r"));
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reason, "policy_denied");
  auto undefined = RegoAuthorizer(e, "data.gatedrill.authz.nothing").check(request("alice", "r"));
  EXPECT_FALSE(undefined.allowed);
  EXPECT_EQ(undefined.reason, "policy_undefined");
  auto not_bool = RegoAuthorizer(e, "data.gatedrill.authz.not_bool").check(request("alice", "r"));
  EXPECT_FALSE(not_bool.allowed);
  EXPECT_EQ(not_bool.reason, "policy_error");
}

// The data plane copies each request's headers only for a policy that may read them.
TEST(RegoAuthorizer, ReadsHeadersOnlyWhenThePolicyDoes) {
  auto subject_only = engine("package gatedrill.authz\nallow { input.subject == \"alice\" }");
  EXPECT_FALSE(RegoAuthorizer(subject_only, "data.gatedrill.authz.allow").reads_headers());
  auto envoy_shape =
      engine("package gatedrill.authz\nallow { input.attributes.request.http.headers.x == \"1\" }");
  EXPECT_TRUE(RegoAuthorizer(envoy_shape, "data.gatedrill.authz.allow").reads_headers());
  auto whole = engine("package gatedrill.authz\nallow { x := input; x.headers.x == \"1\" }");
  EXPECT_TRUE(RegoAuthorizer(whole, "data.gatedrill.authz.allow").reads_headers());
  EXPECT_FALSE(AllowListAuthorizer({}).reads_headers());
}

// Remembered decisions are keyed on the raw fields the policy's input keys are made of: each
// field the policy reads changes the answer, repeated requests (remembered) answer the same.
TEST(RegoAuthorizer, RemembersDecisionsByEveryFieldThePolicyReads) {
  auto e = engine(R"(package gatedrill.authz
default allow := false
allow {
  input.attributes.request.http.headers["x-dept"] == "eng"
  input.attributes.request.http.query == "a=1"
  input.token == "t1"
  input.route == "r"
}
)");
  RegoAuthorizer authz(e, "data.gatedrill.authz.allow");
  HeaderList eng = {{"X-Dept", "eng"}};
  HeaderList ops = {{"X-Dept", "ops"}};
  HeaderList both = {{"X-Dept", "ops"}, {"x-dept", "eng"}};  // the last one wins
  AuthzRequest ok = request("alice", "r");
  ok.query = "a=1";
  ok.authorization = "Bearer t1";
  ok.headers = &eng;
  for (int round = 0; round < 3; ++round) {  // the first round evaluates, the others remember
    EXPECT_TRUE(authz.check(ok).allowed) << round;
    AuthzRequest r = ok;
    r.headers = &ops;
    EXPECT_FALSE(authz.check(r).allowed) << round;
    r.headers = &both;
    EXPECT_TRUE(authz.check(r).allowed) << round;
    r = ok;
    r.query = "a=2";
    EXPECT_FALSE(authz.check(r).allowed) << round;
    r = ok;
    r.authorization = "Bearer t2";
    EXPECT_FALSE(authz.check(r).allowed) << round;
    r = ok;
    r.route = "s";
    EXPECT_FALSE(authz.check(r).allowed) << round;
    r = ok;
    r.subject = "bob";  // not read: same answer
    EXPECT_TRUE(authz.check(r).allowed) << round;
  }
}

TEST(AuthzInputKey, HoldsOnlyTheFieldsReadAndSeparatesThem) {
  auto fields_of = [](std::string rego) {
    auto use = engine("package gatedrill.authz\n" + rego)->input_use("data.gatedrill.authz.allow");
    return authz_fields_read(*use);
  };
  const unsigned subject_only = fields_of("allow { input.subject == \"alice\" }");
  std::string a, b;
  AuthzRequest r = request("alice", "r");
  authz_input_key(r, subject_only, a);
  r.path = "/other";
  r.method = "POST";
  authz_input_key(r, subject_only, b);
  EXPECT_EQ(a, b);
  // Length prefixes: "ab"+"c" and "a"+"bc" are different keys.
  const unsigned two = fields_of("allow { input.subject == input.route }");
  authz_input_key(request("ab", "c"), two, a);
  authz_input_key(request("a", "bc"), two, b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace gatedrill::gateway

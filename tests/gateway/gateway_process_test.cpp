// `gatedrill gateway` as a process: the ready line, a proxied request, SIGTERM -> exit 0, and
// bad flags -> exit 2 before anything starts. Then the whole control plane as real processes:
// redis-server, `gatedrill idp --redis`, `gatedrill registry` and the gateway using all three.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <filesystem>

#include "child_process.hpp"
#include "core/util/json.hpp"
#include "gateway_test_support.hpp"
#include "scenarios/peers/redis_server.hpp"

namespace gatedrill::gateway::test {
namespace {

TEST(GatewayProcess, ServesThenStopsCleanlyOnSigterm) {
  SystemTimeSource time;
  FakeIdp idp;
  FakeUpstream upstream;
  Child child({"gateway",     "--name",
               "gw-1",        "--listen",
               "127.0.0.1:0", "--admin-port",
               "0",           "--plaintext",
               "--issuer",    idp.issuer(),
               "--jwks-uri",  idp.jwks_uri(),
               "--audience",  "gatedrill",
               "--algs",      "ES256,RS256",
               "--leeway",    "60000ms",
               "--upstream",  upstream.url(),
               "--threads",   "2"});
  ASSERT_GT(child.pid(), 0);
  std::string ready = child.read_line();
  auto doc = parse_json_object(ready);
  ASSERT_TRUE(doc) << "ready line: " << ready;
  auto port = json_int(*doc, "port");
  auto admin_port = json_int(*doc, "admin_port");
  ASSERT_TRUE(port && *port && admin_port && *admin_port) << ready;

  const std::string base = "http://127.0.0.1:" + std::to_string(**port);
  auto ok =
      http_request("GET", base + "/a",
                   {{"Authorization", "Bearer " + idp.token(time.wall_seconds())}}, {}, quick());
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto denied = http_request("GET", base + "/a", {}, {}, quick());
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  auto health = http_get("http://127.0.0.1:" + std::to_string(**admin_port) + "/healthz", quick());
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.wait_exit(std::chrono::seconds(10)), 0);
}

// A token from the IdP's POST /admin/tokens with this JSON body; empty on any failure.
std::string mint_token(const std::string& idp_admin, const std::string& body) {
  auto r = http_post_json(idp_admin + "/admin/tokens", body, quick());
  if (!r || r->status != 200) return std::string();
  auto doc = parse_json_object(r->body);
  return doc ? std::string(doc->at("token").as_string()) : std::string();
}

Result<HttpResponse> get_with_token(const std::string& url, const std::string& token) {
  return http_request("GET", url, {{"Authorization", "Bearer " + token}}, {}, quick());
}

TEST(GatewayProcess, RevocationAndRegistryPolicyWithRealPeers) {
  if (!redis_installed()) GTEST_SKIP() << "redis-server is not installed";
  SystemTimeSource time;
  Supervisor supervisor(time);
  std::string dir = (std::filesystem::temp_directory_path() / "gatedrill-gwproc-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  RedisServerOptions redis_options;
  redis_options.work_dir = dir;
  RedisServer redis(supervisor, time, redis_options);
  ASSERT_TRUE(redis.start());

  Child idp({"idp", "--port", "0", "--admin-port", "0", "--alg", "ES256", "--client-secret", "s",
             "--redis", redis.url()});
  const std::string idp_ready = idp.read_line();
  auto idp_doc = parse_json_object(idp_ready);
  ASSERT_TRUE(idp_doc) << idp_ready;
  const std::string issuer(idp_doc->at("issuer").as_string());
  const std::string jwks_uri(idp_doc->at("jwks_uri").as_string());
  const std::string idp_admin =
      "http://127.0.0.1:" + std::to_string(ready_field(idp_ready, "admin_port"));

  Child registry({"registry", "--port", "0"});
  const int64_t registry_port = ready_field(registry.read_line(), "port");
  ASSERT_GT(registry_port, 0);
  const std::string registry_url = "http://127.0.0.1:" + std::to_string(registry_port);

  FakeUpstream upstream;
  Child gw({"gateway", "--plaintext", "--listen", "127.0.0.1:0", "--issuer", issuer, "--jwks-uri",
            jwks_uri, "--upstream", upstream.url(), "--redis", redis.url(),
            "--revocation-cache-ttl", "0s", "--registry", registry_url, "--registry-poll",
            "100ms"});
  const std::string gw_ready = gw.read_line();
  const int64_t gw_port = ready_field(gw_ready, "port");
  ASSERT_GT(gw_port, 0) << gw_ready;
  const std::string url = "http://127.0.0.1:" + std::to_string(gw_port) + "/api/items";

  auto mint = [&](const std::string& jti) {
    return mint_token(idp_admin, "{\"claims\":{\"jti\":\"" + jti + "\"}}");
  };
  auto get = [&](const std::string& token) { return get_with_token(url, token); };
  const std::string t1 = mint("p-1");
  ASSERT_FALSE(t1.empty());

  // No bundle yet: fail closed. Then a published policy is enforced.
  auto none = get(t1);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 503) << none->body;
  EXPECT_EQ(reason_of(*none), "no_policy");
  const std::string bundle =
      R"({"modules":{"authz.rego":"package gatedrill.authz\ndefault allow = false\nallow { input.method == \"GET\" }\n"},"author":"t"})";
  auto published = http_request("PUT", registry_url + "/v1/policies", {}, bundle, quick());
  ASSERT_TRUE(published);
  ASSERT_EQ(published->status, 200) << published->body;
  EXPECT_TRUE(eventually([&] {
    auto r = get(t1);
    return r && r->status == 200;
  }));

  // The IdP revokes: the gateway refuses that token, others pass.
  auto revoked = http_post_json(idp_admin + "/admin/revoke", R"({"jti":"p-1"})", quick());
  ASSERT_TRUE(revoked);
  ASSERT_EQ(revoked->status, 200) << revoked->body;
  auto refused = get(t1);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401) << refused->body;
  EXPECT_EQ(reason_of(*refused), "token_revoked");
  const std::string t2 = mint("p-2");
  auto other = get(t2);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200) << other->body;

  // Registry offline: the last good policy keeps deciding.
  auto offline =
      http_request("POST", registry_url + "/admin/fault", {}, R"({"mode":"offline"})", quick());
  ASSERT_TRUE(offline && offline->status == 200);
  // Redis killed mid-test: fail closed; back: revocation works again.
  ASSERT_TRUE(redis.kill());
  auto closed = get(t2);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->status, 503) << closed->body;
  EXPECT_EQ(reason_of(*closed), "revocation_unavailable");
  ASSERT_TRUE(redis.restart());
  EXPECT_TRUE(eventually([&] {
    auto r = get(t2);
    return r && r->status == 200;
  }));
  auto again = http_post_json(idp_admin + "/admin/revoke", R"({"jti":"p-2"})", quick());
  ASSERT_TRUE(again && again->status == 200);
  auto refused2 = get(t2);
  ASSERT_TRUE(refused2);
  EXPECT_EQ(refused2->status, 401) << refused2->body;

  for (Child* c : {&gw, &registry, &idp}) {
    ASSERT_EQ(::kill(c->pid(), SIGTERM), 0);
    EXPECT_EQ(c->wait_exit(std::chrono::seconds(10)), 0);
  }
  (void)redis.stop();
  supervisor.stop_all(std::chrono::milliseconds(2000));
  std::filesystem::remove_all(dir);
}

TEST(GatewayProcess, BadFlagsExit2) {
  Child child(
      {"gateway", "--listen", "127.0.0.1:0", "--plaintext", "--upstream", "http://127.0.0.1:1"});
  ASSERT_GT(child.pid(), 0);
  EXPECT_EQ(child.wait_exit(std::chrono::seconds(10)), 2);  // --issuer missing
}

TEST(GatewayProcess, BadClustersFileExits2) {
  const std::string file = ::testing::TempDir() + "gw-bad-clusters-" + std::to_string(::getpid());
  std::ofstream(file) << R"([{"name": "catalog", "endpoints": ["http://127.0.0.1:1"],
                             "lb": "fastest"}])";
  Child child({"gateway", "--listen", "127.0.0.1:0", "--plaintext", "--issuer",
               "http://127.0.0.1:1", "--jwks-uri", "http://127.0.0.1:1/jwks.json", "--upstream",
               "http://127.0.0.1:1", "--clusters", file});
  ASSERT_GT(child.pid(), 0);
  EXPECT_EQ(child.wait_exit(std::chrono::seconds(10)), 2);
  std::remove(file.c_str());
}

TEST(GatewayProcess, BadProvidersFileExits2) {
  const std::string file = ::testing::TempDir() + "gw-bad-providers-" + std::to_string(::getpid());
  std::ofstream(file) << R"([{"issuer": "https://a", "jwks_uri": "http://127.0.0.1:1/j"},
                             {"issuer": "https://a", "jwks_uri": "http://127.0.0.1:2/j"}])";
  Child child({"gateway", "--listen", "127.0.0.1:0", "--plaintext", "--upstream",
               "http://127.0.0.1:1", "--providers", file});
  ASSERT_GT(child.pid(), 0);
  EXPECT_EQ(child.wait_exit(std::chrono::seconds(10)), 2);  // duplicate issuer
  std::remove(file.c_str());
}

// One `gatedrill idp` serving two issuers (the default one, A, and tenant b, B) and a gateway
// trusting both through --providers: A allows ES256 and RS256, B ES256 only.
TEST(GatewayProcess, TwoProvidersFromAnIdpWithTwoIssuers) {
  SystemTimeSource time;
  Child idp({"idp", "--port", "0", "--admin-port", "0", "--alg", "ES256", "--client-secret", "s",
             "--tenant", "b"});
  const std::string idp_ready = idp.read_line();
  auto idp_doc = parse_json_object(idp_ready);
  ASSERT_TRUE(idp_doc) << idp_ready;
  const std::string issuer_a(idp_doc->at("issuer").as_string());
  const std::string jwks_a(idp_doc->at("jwks_uri").as_string());
  const auto& tenant_b = idp_doc->at("tenants").as_array().at(0).as_object();
  const std::string issuer_b(tenant_b.at("issuer").as_string());
  const std::string jwks_b(tenant_b.at("jwks_uri").as_string());
  ASSERT_EQ(issuer_b, issuer_a + "/b");
  const std::string idp_admin =
      "http://127.0.0.1:" + std::to_string(ready_field(idp_ready, "admin_port"));

  const std::string file = ::testing::TempDir() + "gw-providers-" + std::to_string(::getpid());
  std::ofstream(file) << R"([{"issuer": ")" << issuer_a << R"(", "jwks_uri": ")" << jwks_a
                      << R"(", "audiences": ["gatedrill"], "algs": ["ES256", "RS256"]},
                            {"issuer": ")"
                      << issuer_b << R"(", "jwks_uri": ")" << jwks_b
                      << R"(", "audiences": ["gatedrill"], "algs": ["ES256"], "leeway": "5s"}])";
  FakeUpstream upstream;
  Child gw({"gateway", "--plaintext", "--listen", "127.0.0.1:0", "--admin-port", "0", "--upstream",
            upstream.url(), "--providers", file});
  const std::string gw_ready = gw.read_line();
  std::remove(file.c_str());
  const int64_t gw_port = ready_field(gw_ready, "port");
  ASSERT_GT(gw_port, 0) << gw_ready;
  const std::string url = "http://127.0.0.1:" + std::to_string(gw_port) + "/api/items";

  // `params` without braces, e.g. "tenant":"b".
  auto mint = [&](const std::string& params) { return mint_token(idp_admin, "{" + params + "}"); };
  auto get = [&](const std::string& token) { return get_with_token(url, token); };
  const std::string token_a = mint("");
  const std::string token_b = mint(R"("tenant":"b")");
  ASSERT_FALSE(token_a.empty());
  ASSERT_FALSE(token_b.empty());
  auto expect_served = [&](const std::string& token, const char* what) {
    auto r = get(token);
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, 200) << what << ": " << r->body;
  };
  expect_served(token_a, "issuer A");
  expect_served(token_b, "issuer B");

  // A's key, claiming B, under B's kid: B's key is found and the signature fails against it.
  auto keys_b = http_get(idp_admin + "/admin/keys?tenant=b", quick());
  ASSERT_TRUE(keys_b && keys_b->status == 200);
  const std::string kid_b(parse_json_object(keys_b->body)->at("signing_kid").as_string());
  auto forged = get(mint(R"("kid":")" + kid_b + R"(","claims":{"iss":")" + issuer_b + "\"}"));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401) << forged->body;
  EXPECT_EQ(reason_of(*forged), "bad_signature");
  expect_served(token_b, "B after the forgery");

  // RS256 is allowed for A, not for B.
  auto rs256_b = get(mint(R"("tenant":"b","alg":"RS256")"));
  ASSERT_TRUE(rs256_b);
  EXPECT_EQ(rs256_b->status, 401) << rs256_b->body;
  EXPECT_EQ(reason_of(*rs256_b), "bad_alg");
  EXPECT_NE(rs256_b->header("www-authenticate").find("not allowed for issuer " + issuer_b),
            std::string::npos)
      << rs256_b->header("www-authenticate");
  expect_served(token_b, "B after RS256");

  // An issuer no provider has: 401 naming it, and no JWKS fetch for it.
  auto unknown = get(mint(R"("claims":{"iss":"https://nobody.example"})"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401) << unknown->body;
  EXPECT_EQ(reason_of(*unknown), "bad_issuer");
  EXPECT_NE(
      unknown->header("www-authenticate").find("unknown issuer \\\"https://nobody.example\\\""),
      std::string::npos)
      << unknown->header("www-authenticate");
  expect_served(token_a, "A after the unknown issuer");

  // Each provider has its own key cache, counted under its issuer.
  const std::string gw_admin =
      "http://127.0.0.1:" + std::to_string(ready_field(gw_ready, "admin_port"));
  auto jwks_state = http_get(gw_admin + "/admin/jwks", quick());
  ASSERT_TRUE(jwks_state && jwks_state->status == 200);
  auto state = parse_json_object(jwks_state->body);
  ASSERT_TRUE(state) << jwks_state->body;
  const auto& providers = state->at("providers").as_array();
  ASSERT_EQ(providers.size(), 2u);
  EXPECT_EQ(providers[1].as_object().at("issuer").as_string(), issuer_b);
  EXPECT_TRUE(providers[1].as_object().at("loaded").as_bool());
  auto metrics = http_get(gw_admin + "/metrics", quick());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("gatedrill_gateway_jwks_fetches_total{issuer=\"" + issuer_b + "\"}"),
            std::string::npos);
  EXPECT_EQ(metrics->body.find("nobody.example"), std::string::npos);

  for (Child* c : {&gw, &idp}) {
    ASSERT_EQ(::kill(c->pid(), SIGTERM), 0);
    EXPECT_EQ(c->wait_exit(std::chrono::seconds(10)), 0);
  }
}

}  // namespace
}  // namespace gatedrill::gateway::test

// `gatedrill idp` as a real process: flags, the ready line, serving, and a clean SIGTERM stop.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/crypto/jwt.hpp"
#include "core/http/http_client.hpp"
#include "core/supervisor/supervisor.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "idp-sim/client_auth.hpp"

namespace gatedrill {
namespace {

class IdpBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "idp_binary_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(dir_.c_str(), 0755);
  }

  // Starts `gatedrill idp <args> --port P --admin-port A` and waits until its admin port is
  // healthy.
  void start(std::vector<std::string> args) {
    auto port = allocate_port();
    auto admin_port = allocate_port();
    ASSERT_TRUE(port && admin_port);
    port_ = *port;
    admin_port_ = *admin_port;
    ProcessSpec spec;
    spec.name = "idp";
    spec.argv = {GATEDRILL_BINARY,      "idp",          "--port",
                 std::to_string(port_), "--admin-port", std::to_string(admin_port_)};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.log_file = dir_ + "/idp.log";
    spec.health_url = admin("/healthz");
    ASSERT_TRUE(supervisor_.spawn(spec));
    auto healthy = supervisor_.wait_healthy("idp", std::chrono::seconds(15));
    ASSERT_TRUE(healthy) << healthy.error().message;
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string admin(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(admin_port_) + path;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/idp.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Runs `gatedrill idp <args>` to completion (bounded) and returns its exit status.
  int run_to_exit(std::vector<std::string> args) {
    ProcessSpec spec;
    spec.name = "idp-once-" + std::to_string(runs_++);
    spec.argv = {GATEDRILL_BINARY, "idp"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.log_file = dir_ + "/" + spec.name + ".log";
    EXPECT_TRUE(supervisor_.spawn(spec));
    auto status = supervisor_.wait_exit(spec.name, std::chrono::seconds(15));
    EXPECT_TRUE(status) << (status ? "" : status.error().message);
    return status ? *status : -1;
  }

  SystemTimeSource time_;
  Supervisor supervisor_{time_};
  std::string dir_;
  uint16_t port_ = 0, admin_port_ = 0;
  int runs_ = 0;
};

TEST_F(IdpBinaryTest, ServesTokensThatVerifyAndStopsCleanlyOnSigterm) {
  start({"--alg", "EdDSA", "--client-secret", "binary-secret", "--token-ttl", "2m", "--audience",
         "orders"});
  auto discovery = http_get(url("/.well-known/openid-configuration"));
  ASSERT_TRUE(discovery.ok());
  auto doc = parse_json_object(discovery->body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["issuer"].as_string(), url(""));

  auto token =
      http_request("POST", url("/token"),
                   {{"content-type", "application/x-www-form-urlencoded"},
                    {"authorization", basic_auth_header("gatedrill-loadgen", "binary-secret")}},
                   "grant_type=client_credentials");
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(token->status, 200) << token->body;
  auto body = parse_json_object(token->body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["expires_in"].as_int64(), 120);
  auto jwt = parse_jwt(std::string((*body)["access_token"].as_string()));
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->alg, JwsAlg::kEdDSA);
  auto jwks_doc = http_get(url("/jwks.json"));
  ASSERT_TRUE(jwks_doc.ok());
  auto jwks = Jwks::parse(jwks_doc->body);
  ASSERT_TRUE(jwks.ok());
  const auto* entry = jwks->find(jwt->kid);
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(jws_verify(jwt->alg, entry->key, jwt->signing_input, jwt->signature));
  ClaimPolicy policy;
  policy.issuer = url("");
  policy.audiences = {"orders"};
  auto claims = check_jwt_claims(jwt->claims, policy, time_.wall_seconds());
  EXPECT_TRUE(claims.ok()) << claims.error().message;

  auto status = supervisor_.stop("idp", std::chrono::seconds(5));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << log();
  auto ready = parse_json_object(split(log(), '\n')[0]);
  ASSERT_TRUE(ready.ok()) << log();
  EXPECT_EQ((*ready)["component"].as_string(), "idp");
  EXPECT_EQ((*ready)["port"].as_int64(), port_);
  EXPECT_EQ((*ready)["admin_port"].as_int64(), admin_port_);
  EXPECT_EQ((*ready)["issuer"].as_string(), url(""));
  EXPECT_FALSE(ready->contains("client_secret"));  // given on the command line: not echoed
}

TEST_F(IdpBinaryTest, GeneratesAndPrintsASecretWhenNoneIsGiven) {
  start({"--alg", "ES256", "--issuer", "https://idp.gatedrill.test"});
  auto status = supervisor_.stop("idp", std::chrono::seconds(5));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0);
  auto ready = parse_json_object(split(log(), '\n')[0]);
  ASSERT_TRUE(ready.ok()) << log();
  EXPECT_EQ((*ready)["issuer"].as_string(), "https://idp.gatedrill.test");
  EXPECT_EQ((*ready)["client_id"].as_string(), "gatedrill-loadgen");
  ASSERT_TRUE(ready->contains("client_secret"));
  EXPECT_GE((*ready)["client_secret"].as_string().size(), 32u);
}

TEST_F(IdpBinaryTest, BadFlagsExitWithUsageErrors) {
  EXPECT_EQ(run_to_exit({"--alg", "none"}), 2);
  EXPECT_EQ(run_to_exit({"--alg", "HS256"}), 2);
  EXPECT_EQ(run_to_exit({"--token-ttl", "0s"}), 2);
  EXPECT_EQ(run_to_exit({"--port", "70000"}), 2);
  EXPECT_EQ(run_to_exit({"--no-such-flag"}), 2);
  EXPECT_EQ(run_to_exit({"--mtls-client", "no-uri"}), 2);
  // An mTLS client needs TLS and a client CA.
  EXPECT_EQ(run_to_exit({"--mtls-client", "c=spiffe://td/c"}), 2);
  // Tenants are one path segment each, given once.
  EXPECT_EQ(run_to_exit({"--alg", "ES256", "--tenant", "a/b"}), 2);
  EXPECT_EQ(run_to_exit({"--alg", "ES256", "--tenant", "b", "--tenant", "b"}), 2);
  EXPECT_EQ(run_to_exit({"--help"}), 0);
}

}  // namespace
}  // namespace gatedrill

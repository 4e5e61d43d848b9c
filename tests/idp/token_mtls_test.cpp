// The token endpoint's mTLS client authentication (RFC 8705 tls_client_auth) over real HTTPS:
// the client registered with a URI SAN gets a token by presenting a certificate with that URI
// (no secret); without a certificate, or with one for another URI, it is invalid_client; a
// certificate from another CA does not get through the handshake. The secret client keeps
// working on the same port, and discovery lists tls_client_auth.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/crypto/jwt.hpp"
#include "core/crypto/keys.hpp"
#include "core/crypto/x509.hpp"
#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "idp-sim/client_auth.hpp"
#include "idp-sim/idp_sim.hpp"

namespace gatedrill {
namespace {

constexpr const char* kSecret = "s3cret-for-tests";
constexpr const char* kForm = "application/x-www-form-urlencoded";
constexpr const char* kUri = "spiffe://gatedrill.test/ns/load/sa/orders-client";

class TokenMtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatedrill-idp-mtls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    now_ = SystemTimeSource().wall_seconds();
    auto ca = make_ca("client CA", ca_key_);
    ASSERT_FALSE(ca.empty());
    ca_pem_ = ca;
    write("ca.pem", ca_pem_);
    // The server certificate comes from the same CA (any would do: the client skips checking).
    issue("server", {}, true);
    issue("client", {kUri}, false);
    issue("other", {"spiffe://gatedrill.test/ns/load/sa/someone-else"}, false);
    Key stranger_key = *Key::generate(KeyType::kEcP256);
    auto stranger_ca = make_ca("stranger CA", stranger_key);
    CertRequest req = request({kUri}, false);
    auto stranger_subject = Key::generate(KeyType::kEcP256);
    auto stranger = issue_certificate(req, *stranger_subject, stranger_ca, stranger_key);
    ASSERT_TRUE(stranger);
    write("stranger.pem", stranger->pem + stranger_ca);
    write("stranger.key", stranger_subject->private_pem());

    IdpOptions options;
    options.client_secret = kSecret;
    options.alg = JwsAlg::kES256;
    options.tls_cert_file = path("server.pem");
    options.tls_key_file = path("server.key");
    options.client_ca_file = path("ca.pem");
    options.mtls_client_id = "orders-client";
    options.mtls_client_uri = kUri;
    idp_ = std::make_unique<IdpSim>(time_, options);
    auto started = idp_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  void TearDown() override {
    if (idp_) idp_->stop();
    std::filesystem::remove_all(dir_);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(path(name)) << text;
  }
  CertRequest request(std::vector<std::string> uris, bool server) const {
    CertRequest r;
    r.common_name = server ? "idp" : "client";
    r.uris = std::move(uris);
    if (server) r.ip_addresses = {"127.0.0.1"};
    r.server_auth = server;
    r.client_auth = !server;
    r.not_before_s = now_ - 60;
    r.not_after_s = now_ + 3600;
    return r;
  }
  std::string make_ca(const std::string& name, Key& key) {
    key = *Key::generate(KeyType::kEcP256);
    CertRequest r;
    r.common_name = name;
    r.is_ca = true;
    r.server_auth = false;
    r.not_before_s = now_ - 60;
    r.not_after_s = now_ + 3600;
    auto cert = issue_certificate(r, key, "", key);
    return cert ? cert->pem : "";
  }
  void issue(const std::string& name, std::vector<std::string> uris, bool server) {
    auto key = Key::generate(KeyType::kEcP256);
    ASSERT_TRUE(key);
    auto cert = issue_certificate(request(std::move(uris), server), *key, ca_pem_, ca_key_);
    ASSERT_TRUE(cert) << cert.error().message;
    write(name + ".pem", cert->pem + ca_pem_);
    write(name + ".key", key->private_pem());
  }

  // POST /token as client_id with the named certificate ("" = none).
  Result<HttpResponse> token(const std::string& cert, const std::string& client_id) {
    HttpClientOptions o;
    o.verify_peer = false;
    if (!cert.empty()) {
      o.client_cert_file = path(cert + ".pem");
      o.client_key_file = path(cert + ".key");
    }
    return http_request("POST", idp_->base_url() + "/token", {{"content-type", kForm}},
                        "grant_type=client_credentials&client_id=" + client_id, o);
  }

  ManualTimeSource time_;
  std::filesystem::path dir_;
  int64_t now_ = 0;
  Key ca_key_;
  std::string ca_pem_;
  std::unique_ptr<IdpSim> idp_;
};

TEST_F(TokenMtlsTest, TheRegisteredCertificateGetsATokenWithoutASecret) {
  auto r = token("client", "orders-client");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
  auto body = parse_json_object(r->body);
  ASSERT_TRUE(body);
  auto jwt = parse_jwt(std::string(body->at("access_token").as_string()));
  ASSERT_TRUE(jwt) << jwt.error().message;
  EXPECT_EQ(jwt->claims.at("sub").as_string(), "orders-client");
}

TEST_F(TokenMtlsTest, NoCertificateOrAnotherUriIsInvalidClient) {
  auto none = token("", "orders-client");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->status, 401);
  EXPECT_NE(none->body.find("no client certificate"), std::string::npos) << none->body;
  auto other = token("other", "orders-client");
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->status, 401);
  EXPECT_NE(other->body.find("URI SANs"), std::string::npos) << other->body;
  // A certificate is not a secret for the secret client.
  auto secret_client = token("client", "gatedrill-loadgen");
  ASSERT_TRUE(secret_client) << secret_client.error().message;
  EXPECT_EQ(secret_client->status, 401);
}

TEST_F(TokenMtlsTest, ACertificateFromAnotherCaFailsTheHandshake) {
  auto r = token("stranger", "orders-client");
  EXPECT_FALSE(r) << "answered " << r->status << " " << r->body;
  // The server is still up for everyone else.
  auto ok = token("client", "orders-client");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->status, 200);
}

TEST_F(TokenMtlsTest, SecretClientsAndDiscoveryOnTheSamePort) {
  HttpClientOptions o;
  o.verify_peer = false;
  auto r = http_request(
      "POST", idp_->base_url() + "/token",
      {{"content-type", kForm}, {"authorization", basic_auth_header("gatedrill-loadgen", kSecret)}},
      "grant_type=client_credentials", o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  auto d = http_get(idp_->base_url() + "/.well-known/openid-configuration", o);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_NE(d->body.find("tls_client_auth"), std::string::npos) << d->body;
  EXPECT_EQ(idp_->base_url().rfind("https://", 0), 0u);
}

TEST(TokenMtlsOptions, IncompleteSettingsAreRefusedAtStart) {
  ManualTimeSource time;
  IdpOptions options;
  options.client_secret = kSecret;
  options.mtls_client_id = "orders-client";
  options.mtls_client_uri = kUri;  // but no TLS and no client CA
  IdpSim idp(time, options);
  auto started = idp.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, "bad_options");
}

}  // namespace
}  // namespace gatedrill

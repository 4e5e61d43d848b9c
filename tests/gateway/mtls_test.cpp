// The mTLS listener: client chain verified against the trust bundle (+ CRL), SPIFFE ID from the
// single URI SAN passed to the upstream, the JWT still required, strict mode refusing plaintext,
// and every bad client certificate refused in the handshake while others keep being served.
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/server/tls13_records.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

constexpr const char* kSpiffe = "spiffe://gatedrill.test/ns/default/sa/loadgen";

struct Pki {
  Key ca_key;
  Certificate ca;
};

class MtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = time_.wall_seconds();
    pki_.ca_key = *Key::generate(KeyType::kEcP256);
    CertRequest ca;
    ca.common_name = "test CA";
    ca.is_ca = true;
    ca.server_auth = false;
    ca.not_before_s = now_ - 3600;
    ca.not_after_s = now_ + 86400;
    pki_.ca = *issue_certificate(ca, pki_.ca_key, "", pki_.ca_key);
    write("ca.pem", pki_.ca.pem);
    auto server_key = *Key::generate(KeyType::kEcP256);
    CertRequest server;
    server.common_name = "gateway";
    server.ip_addresses = {"127.0.0.1"};
    server.not_before_s = now_ - 3600;
    server.not_after_s = now_ + 86400;
    write("server.pem",
          issue_certificate(server, server_key, pki_.ca.pem, pki_.ca_key)->pem + pki_.ca.pem);
    write("server.key", server_key.private_pem());
  }
  void TearDown() override { gateway_.reset(); }

  std::string path(const std::string& name) const { return files_.path(name); }
  void write(const std::string& name, const std::string& text) const { files_.write(name, text); }

  void start(bool strict = true, const std::string& crl = "",
             const std::string& trust_domain = "gatedrill.test") {
    auto config = base_config(idp_, upstream_.url());
    MtlsListenerOptions m;
    m.cert_chain_file = path("server.pem");
    m.key_file = path("server.key");
    m.client_ca_file = path("ca.pem");
    m.crl_file = crl;
    m.trust_domain = trust_domain;
    m.strict = strict;
    config.data.mtls = m;
    gateway_ = std::make_unique<Gateway>(time_, std::move(config));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
    ASSERT_NE(gateway_->mtls_port(), 0);
  }

  // A client certificate `name`.pem/.key issued by `issuer` (the test CA by default).
  void client_cert(const std::string& name, CertRequest request, const Pki* issuer = nullptr) {
    const Pki& by = issuer ? *issuer : pki_;
    auto key = *Key::generate(KeyType::kEcP256);
    if (request.common_name.empty()) request.common_name = name;
    if (request.not_before_s == 0) request.not_before_s = now_ - 3600;
    if (request.not_after_s == 0) request.not_after_s = now_ + 3600;
    auto cert = issue_certificate(request, key, by.ca.pem, by.ca_key);
    ASSERT_TRUE(cert) << cert.error().message;
    write(name + ".pem", cert->pem);
    write(name + ".key", key.private_pem());
  }
  static CertRequest svid(std::vector<std::string> uris = {kSpiffe}) {
    CertRequest r;
    r.uris = std::move(uris);
    r.server_auth = false;
    r.client_auth = true;
    return r;
  }

  Result<HttpResponse> call(const std::string& client, bool with_token = true) const {
    HttpClientOptions o = quick();
    if (!client.empty()) {
      o.client_cert_file = path(client + ".pem");
      o.client_key_file = path(client + ".key");
    }
    HeaderList headers;
    if (with_token) headers.emplace_back("Authorization", "Bearer " + idp_.token(now_));
    return http_request("GET", "https://127.0.0.1:" + std::to_string(gateway_->mtls_port()) + "/m",
                        headers, {}, o);
  }

  void expect_refused(const std::string& client, const std::string& what) {
    auto r = call(client);
    EXPECT_FALSE(r) << what << ": answered "
                    << (r ? std::to_string(r->status) + " " + r->body : "");
    auto ok = call("good");
    ASSERT_TRUE(ok) << "after " << what << ": " << ok.error().message;
    EXPECT_EQ(ok->status, 200) << "after " << what;
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
  Pki pki_;
  TestDir files_{"gw-mtls-"};
  int64_t now_ = 0;
};

TEST_F(MtlsTest, ValidSvidAndTokenReachTheUpstreamWithTheSpiffeId) {
  client_cert("good", svid());
  start();
  const uint64_t own_before = tls_record_counts().own;
  auto r = call("good");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  auto seen = upstream_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("x-gatedrill-spiffe-id"), kSpiffe);
  EXPECT_EQ(tls_record_counts().own - own_before, 1u);  // the identity taken before SSL_free
  EXPECT_EQ(seen[0].header("x-gatedrill-sub"), "alice");
}

TEST_F(MtlsTest, TheJwtIsStillRequired) {
  client_cert("good", svid());
  start();
  auto r = call("good", false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 401);
}

TEST_F(MtlsTest, BadClientCertificatesAreRefusedInTheHandshake) {
  client_cert("good", svid());
  CertRequest expired = svid();
  expired.not_before_s = now_ - 7200;
  expired.not_after_s = now_ - 3600;
  client_cert("expired", expired);
  CertRequest future = svid();
  future.not_before_s = now_ + 3600;
  future.not_after_s = now_ + 7200;
  client_cert("future", future);
  client_cert("two-uris", svid({kSpiffe, "spiffe://gatedrill.test/other"}));
  client_cert("no-uri", svid({}));
  client_cert("not-spiffe", svid({"https://gatedrill.test/loadgen"}));
  client_cert("other-domain", svid({"spiffe://evil.test/ns/x/sa/y"}));
  CertRequest server_only = svid();
  server_only.client_auth = false;
  server_only.server_auth = true;
  client_cert("server-eku", server_only);
  Pki rogue;
  rogue.ca_key = *Key::generate(KeyType::kEcP256);
  CertRequest rogue_ca;
  rogue_ca.common_name = "rogue CA";
  rogue_ca.is_ca = true;
  rogue_ca.not_before_s = now_ - 3600;
  rogue_ca.not_after_s = now_ + 86400;
  rogue.ca = *issue_certificate(rogue_ca, rogue.ca_key, "", rogue.ca_key);
  client_cert("unknown-ca", svid(), &rogue);
  start();

  expect_refused("", "no client certificate");
  for (std::string name : {"expired", "future", "two-uris", "no-uri", "not-spiffe", "other-domain",
                           "server-eku", "unknown-ca"})
    expect_refused(name, name);
  EXPECT_TRUE(upstream_.seen().size() == 9u) << "only the follow-up requests reached the upstream";
  auto metrics =
      http_get("http://127.0.0.1:" + std::to_string(gateway_->admin_port()) + "/metrics", quick());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("gatedrill_gateway_mtls_rejects_total{kind=\"handshake\"} 9"),
            std::string::npos)
      << metrics->body;
}

TEST_F(MtlsTest, ClockSkewExpiresClientCertificates) {
  client_cert("good", svid());  // valid for one more hour
  start();
  ASSERT_EQ(call("good")->status, 200);
  time_.set_skew(std::chrono::hours(2));
  EXPECT_FALSE(call("good"));
  time_.set_skew(std::chrono::milliseconds(0));
  auto back = call("good");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200);
}

TEST_F(MtlsTest, StrictModeRefusesPlaintextPermissiveServesIt) {
  client_cert("good", svid());
  start(true);
  auto plain =
      http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->mtls_port()) + "/p",
                   {{"Authorization", "Bearer " + idp_.token(now_)}}, {}, quick());
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->status, 400);
  EXPECT_NE(plain->body.find("mtls_required"), std::string::npos);
  gateway_.reset();

  start(false);
  auto permissive =
      http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->mtls_port()) + "/p",
                   {{"Authorization", "Bearer " + idp_.token(now_)}}, {}, quick());
  ASSERT_TRUE(permissive) << permissive.error().message;
  EXPECT_EQ(permissive->status, 200);
  EXPECT_EQ(upstream_.seen().back().header("x-gatedrill-spiffe-id"), "");
}

TEST_F(MtlsTest, CertificatesReloadFromDiskThroughTheAdminApi) {
  client_cert("good", svid());
  start();
  ASSERT_EQ(call("good")->status, 200);
  // A new CA replaces the trust bundle and issues a new client certificate.
  Pki next;
  next.ca_key = *Key::generate(KeyType::kEcP256);
  CertRequest ca;
  ca.common_name = "next CA";
  ca.is_ca = true;
  ca.not_before_s = now_ - 3600;
  ca.not_after_s = now_ + 86400;
  next.ca = *issue_certificate(ca, next.ca_key, "", next.ca_key);
  client_cert("next", svid(), &next);
  EXPECT_FALSE(call("next")) << "not trusted before the reload";
  write("ca.pem", next.ca.pem);
  const std::string admin = "http://127.0.0.1:" + std::to_string(gateway_->admin_port());
  auto reload = http_request("POST", admin + "/admin/tls/reload", {}, "", quick());
  ASSERT_TRUE(reload);
  EXPECT_EQ(reload->status, 200) << reload->body;
  auto next_call = call("next");
  ASSERT_TRUE(next_call) << next_call.error().message;
  EXPECT_EQ(next_call->status, 200);
  EXPECT_FALSE(call("good")) << "the old CA is no longer trusted";

  // A broken bundle is refused and the listener keeps what it had.
  write("ca.pem", "not a certificate");
  auto broken = http_request("POST", admin + "/admin/tls/reload", {}, "", quick());
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 400);
  auto still = call("next");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
}

// A CRL from the test CA revoking `serial`, written with OpenSSL directly (no helper in core).
std::string make_crl(const Certificate& ca, const Key& ca_key, int64_t serial, int64_t now) {
  BIO* in = BIO_new_mem_buf(ca.pem.data(), static_cast<int>(ca.pem.size()));
  X509* ca_cert = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert));
  ASN1_TIME* last = ASN1_TIME_set(nullptr, static_cast<time_t>(now - 60));
  ASN1_TIME* next = ASN1_TIME_set(nullptr, static_cast<time_t>(now + 86400));
  X509_CRL_set1_lastUpdate(crl, last);
  X509_CRL_set1_nextUpdate(crl, next);
  X509_REVOKED* revoked = X509_REVOKED_new();
  ASN1_INTEGER* number = ASN1_INTEGER_new();
  ASN1_INTEGER_set_int64(number, serial);
  X509_REVOKED_set_serialNumber(revoked, number);
  X509_REVOKED_set_revocationDate(revoked, last);
  X509_CRL_add0_revoked(crl, revoked);
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, ca_key.native(), EVP_sha256());
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_CRL(out, crl);
  char* data = nullptr;
  long size = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(out);
  ASN1_INTEGER_free(number);
  ASN1_TIME_free(last);
  ASN1_TIME_free(next);
  X509_CRL_free(crl);
  X509_free(ca_cert);
  return pem;
}

TEST_F(MtlsTest, RevokedClientCertificateIsRefused) {
  client_cert("good", svid());
  CertRequest revoked = svid();
  revoked.serial = 4242;
  client_cert("revoked", revoked);
  write("ca.crl", make_crl(pki_.ca, pki_.ca_key, 4242, now_));
  start(true);  // without the CRL the certificate is fine: the CRL is what refuses it below
  auto before = call("revoked");
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(before->status, 200);
  gateway_.reset();
  start(true, path("ca.crl"));
  // Refused with the certificate_revoked alert, not a generic handshake failure.
  auto refused = call("revoked");
  ASSERT_FALSE(refused) << "answered " << refused->status;
  EXPECT_NE(refused.error().message.find("certificate revoked"), std::string::npos)
      << refused.error().message;
  expect_refused("revoked", "revoked per CRL");
}

}  // namespace
}  // namespace gatedrill::gateway::test

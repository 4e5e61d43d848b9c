#include "core/crypto/x509.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <memory>

#include "core/crypto/openssl_ptr.hpp"
#include "tests/crypto/test_keys.hpp"

namespace gatedrill {
namespace {

constexpr int64_t kStart = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kDay = 86400;

X509Ptr load(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return X509Ptr(cert);
}

CertRequest ca_request(std::string cn) {
  CertRequest r;
  r.common_name = std::move(cn);
  r.is_ca = true;
  r.server_auth = false;
  r.not_before_s = kStart;
  r.not_after_s = kStart + 365 * kDay;
  return r;
}

// X509_verify_cert at a given wall time: X509_V_OK or the failure code.
int verify_at(const std::string& leaf_pem, const std::vector<std::string>& roots,
              const std::vector<std::string>& intermediates, int64_t at) {
  X509Ptr leaf = load(leaf_pem);
  if (!leaf) return -1;
  X509_STORE* store = X509_STORE_new();
  for (const auto& root : roots) {
    X509Ptr cert = load(root);
    X509_STORE_add_cert(store, cert.get());
  }
  STACK_OF(X509)* chain = sk_X509_new_null();
  std::vector<X509Ptr> owned;
  for (const auto& pem : intermediates) {
    owned.push_back(load(pem));
    sk_X509_push(chain, owned.back().get());
  }
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf.get(), chain);
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), static_cast<time_t>(at));
  int rc = X509_verify_cert(ctx);
  int err = rc == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(chain);
  X509_STORE_free(store);
  return err;
}

class X509Chain : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root =
        issue_certificate(ca_request("gatedrill root"), test::ec_key(0), "", test::ec_key(0));
    ASSERT_TRUE(root.ok()) << root.error().message;
    root_ = *root;
    CertRequest leaf;
    leaf.common_name = "svc";
    leaf.dns_names = {"svc.local", "localhost"};
    leaf.ip_addresses = {"127.0.0.1"};
    leaf.uris = {"spiffe://gatedrill.test/ns/default/sa/svc"};
    leaf.client_auth = true;
    leaf.not_before_s = kStart + kDay;
    leaf.not_after_s = kStart + 30 * kDay;
    leaf.serial = 4660;
    auto issued = issue_certificate(leaf, test::rsa_key(0), root_.pem, test::ec_key(0));
    ASSERT_TRUE(issued.ok()) << issued.error().message;
    leaf_ = *issued;
  }
  Certificate root_, leaf_;
};

TEST_F(X509Chain, InspectReportsSubjectIssuerUrisValidityAndSerial) {
  auto info = inspect_certificate(leaf_.pem);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->subject, "CN=svc");
  EXPECT_EQ(info->issuer, "CN=gatedrill root");
  ASSERT_EQ(info->uris.size(), 1u);
  EXPECT_EQ(info->uris[0], "spiffe://gatedrill.test/ns/default/sa/svc");
  EXPECT_EQ(info->not_before_s, kStart + kDay);
  EXPECT_EQ(info->not_after_s, kStart + 30 * kDay);
  EXPECT_EQ(info->serial_hex, "1234");
  EXPECT_EQ(leaf_.key.thumbprint(), test::rsa_key(0).thumbprint());
}

TEST_F(X509Chain, SubjectAltNamesMatchHostsAndIps) {
  X509Ptr cert = load(leaf_.pem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_host(cert.get(), "svc.local", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(cert.get(), "other.local", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "127.0.0.2", 0), 1);
}

TEST_F(X509Chain, ChainVerifiesInsideValidityOnly) {
  EXPECT_EQ(verify_at(leaf_.pem, {root_.pem}, {}, kStart + 2 * kDay), X509_V_OK);
  EXPECT_EQ(verify_at(leaf_.pem, {root_.pem}, {}, kStart + 31 * kDay), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(verify_at(leaf_.pem, {root_.pem}, {}, kStart + 10), X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST_F(X509Chain, AnotherCaDoesNotVerifyTheLeaf) {
  auto other =
      issue_certificate(ca_request("gatedrill root"), test::ec_key(1), "", test::ec_key(1));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(verify_at(leaf_.pem, {other->pem}, {}, kStart + 2 * kDay), X509_V_OK);
}

TEST_F(X509Chain, PurposesFollowEkuAndBasicConstraints) {
  X509Ptr leaf = load(leaf_.pem);
  X509Ptr root = load(root_.pem);
  EXPECT_EQ(X509_check_purpose(leaf.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_purpose(leaf.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_GE(X509_check_ca(root.get()), 1);

  CertRequest client_only;
  client_only.common_name = "client";
  client_only.server_auth = false;
  client_only.client_auth = true;
  client_only.not_before_s = kStart;
  client_only.not_after_s = kStart + kDay;
  auto client = issue_certificate(client_only, test::ed_key(0), root_.pem, test::ec_key(0));
  ASSERT_TRUE(client.ok()) << client.error().message;
  X509Ptr c = load(client->pem);
  EXPECT_EQ(X509_check_purpose(c.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_NE(X509_check_purpose(c.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
}

TEST_F(X509Chain, IntermediateCaChainVerifies) {
  auto inter_req = ca_request("gatedrill intermediate");
  inter_req.path_len = 0;
  auto inter = issue_certificate(inter_req, test::rsa_key(1), root_.pem, test::ec_key(0));
  ASSERT_TRUE(inter.ok()) << inter.error().message;
  CertRequest leaf;
  leaf.common_name = "edge";
  leaf.dns_names = {"edge.local"};
  leaf.not_before_s = kStart;
  leaf.not_after_s = kStart + kDay;
  auto issued = issue_certificate(leaf, test::ec_key(1), inter->pem, test::rsa_key(1));
  ASSERT_TRUE(issued.ok()) << issued.error().message;
  EXPECT_EQ(verify_at(issued->pem, {root_.pem}, {inter->pem}, kStart + 100), X509_V_OK);
  EXPECT_NE(verify_at(issued->pem, {root_.pem}, {}, kStart + 100), X509_V_OK);  // no intermediate
  auto info = inspect_certificate(issued->pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->issuer, "CN=gatedrill intermediate");
}

TEST(X509, RandomSerialsDiffer) {
  CertRequest r;
  r.common_name = "a";
  r.not_before_s = kStart;
  r.not_after_s = kStart + kDay;
  auto a = issue_certificate(r, test::ed_key(0), "", test::ed_key(0));
  auto b = issue_certificate(r, test::ed_key(0), "", test::ed_key(0));
  ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.error().message : a.error().message);
  auto ia = inspect_certificate(a->pem);
  auto ib = inspect_certificate(b->pem);
  ASSERT_TRUE(ia.ok() && ib.ok());
  EXPECT_FALSE(ia->serial_hex.empty());
  EXPECT_NE(ia->serial_hex, ib->serial_hex);
  EXPECT_EQ(ia->subject, ia->issuer);
}

TEST(X509, RejectsBadRequests) {
  CertRequest r;
  r.common_name = "a";
  r.not_before_s = kStart;
  r.not_after_s = kStart;
  EXPECT_FALSE(issue_certificate(r, test::ec_key(0), "", test::ec_key(0)).ok());  // empty validity
  r.not_after_s = kStart + kDay;
  EXPECT_FALSE(issue_certificate(r, test::ec_key(0), "", test::ec_key(1))
                   .ok());  // self-signed by another key
  r.dns_names = {"a.local,DNS:evil.com"};
  EXPECT_FALSE(issue_certificate(r, test::ec_key(0), "", test::ec_key(0)).ok());  // SAN injection
  r.dns_names.clear();
  auto ca = issue_certificate(ca_request("ca"), test::ec_key(0), "", test::ec_key(0));
  ASSERT_TRUE(ca.ok());
  EXPECT_FALSE(
      issue_certificate(r, test::rsa_key(0), ca->pem, test::ec_key(1)).ok());  // key/cert mismatch
  EXPECT_FALSE(issue_certificate(r, test::rsa_key(0), "garbage", test::ec_key(0)).ok());
  EXPECT_TRUE(issue_certificate(r, test::rsa_key(0), ca->pem, test::ec_key(0)).ok());  // control
}

TEST(X509, InspectRejectsGarbage) {
  EXPECT_FALSE(inspect_certificate("").ok());
  EXPECT_FALSE(
      inspect_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").ok());
}

}  // namespace
}  // namespace gatedrill

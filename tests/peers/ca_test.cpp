// ca-sim's PKI as nodes see it: issued SVIDs verify against the bundle, revoked ones fail with
// the CRL, an expired CRL is noticed, and a rolled intermediate breaks verification for a node
// whose bundle was withheld (until it catches up).
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "ca-sim/pki.hpp"
#include "ca-sim/trust_distribution.hpp"
#include "ca-sim/verify.hpp"

namespace gatedrill {
namespace {

using std::chrono::seconds;

class CaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PkiOptions options;
    options.trust_domain = "drill.test";
    auto pki = Pki::create(time_, options);
    ASSERT_TRUE(pki.ok()) << pki.error().message;
    pki_ = std::move(*pki);
  }

  IssuedCert svid(const std::string& id, seconds ttl = seconds(600)) {
    auto s = pki_->issue_svid(id, ttl);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? *s : IssuedCert{};
  }

  Result<void> verify(const IssuedCert& cert, bool with_crl = true) {
    std::string crl;
    if (with_crl) {
      auto c = pki_->crl_pem();
      EXPECT_TRUE(c.ok());
      crl = c.ok() ? *c : "";
    }
    return verify_certificate(cert.cert_pem, pki_->bundle_pem(), crl, time_.wall_seconds());
  }

  ManualTimeSource time_;
  std::unique_ptr<Pki> pki_;
};

TEST_F(CaTest, IssuedSvidVerifiesAgainstTheBundleWithOneSpiffeUri) {
  const IssuedCert s = svid("spiffe://drill.test/ns/payments/sa/api", seconds(300));
  EXPECT_TRUE(verify(s).ok());
  EXPECT_TRUE(verify(s, false).ok());
  auto info = inspect_certificate(s.cert_pem);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->uris.size(), 1u);
  EXPECT_EQ(info->uris[0], "spiffe://drill.test/ns/payments/sa/api");
  EXPECT_EQ(info->not_after_s - info->not_before_s, 300);
  EXPECT_EQ(s.serial_hex, info->serial_hex);
  EXPECT_NE(s.key_pem.find("PRIVATE KEY"), std::string::npos);
  // Trusted by nothing else: a bundle from another CA rejects it.
  auto other = Pki::create(time_, PkiOptions{});
  ASSERT_TRUE(other.ok());
  auto foreign = verify_certificate(s.cert_pem, (*other)->bundle_pem(), "", time_.wall_seconds());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, "untrusted");
}

TEST_F(CaTest, SvidExpiresAfterItsTtl) {
  const IssuedCert s = svid("spiffe://drill.test/ns/x/sa/y", seconds(60));
  time_.advance(seconds(61));
  auto r = verify(s, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "expired");
}

TEST_F(CaTest, RejectsSpiffeIdsOutsideTheTrustDomainOrMalformed) {
  for (const char* id :
       {"spiffe://other.test/ns/x", "https://drill.test/ns/x", "spiffe://drill.test",
        "spiffe://drill.test/", "spiffe://drill.test/a//b", "spiffe://drill.test/a b"}) {
    auto r = pki_->issue_svid(id, seconds(60));
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.error().code, "bad_spiffe_id") << id;
  }
  EXPECT_EQ(pki_->issue_svid("spiffe://drill.test/x", seconds(0)).error().code, "bad_ttl");
}

TEST_F(CaTest, RevokedCertificateIsInTheCrl) {
  const IssuedCert revoked = svid("spiffe://drill.test/ns/x/sa/revoked");
  const IssuedCert kept = svid("spiffe://drill.test/ns/x/sa/kept");
  ASSERT_TRUE(pki_->revoke(revoked.serial_hex).ok());
  EXPECT_TRUE(pki_->revoked(revoked.serial_hex));
  auto r = verify(revoked);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "revoked");
  EXPECT_TRUE(verify(kept).ok());
  EXPECT_TRUE(verify(revoked, false).ok());  // without the CRL nobody can tell
  EXPECT_EQ(pki_->revoke("ABCDEF").error().code, "unknown_serial");
}

TEST_F(CaTest, ExpiredCrlFailsVerification) {
  const IssuedCert s = svid("spiffe://drill.test/ns/x/sa/y");
  pki_->set_expired_crl(true);
  auto r = verify(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "crl_expired");
  pki_->set_expired_crl(false);
  EXPECT_TRUE(verify(s).ok());
}

TEST_F(CaTest, RolledIntermediateBreaksANodeWhoseBundleWasWithheld) {
  TrustDistribution distribution(time_);
  distribution.publish(pki_->bundle_pem(), *pki_->crl_pem());
  const IssuedCert before = svid("spiffe://drill.test/ns/x/sa/before");
  distribution.withhold("gw-2");

  ASSERT_TRUE(pki_->roll_intermediate().ok());
  EXPECT_EQ(pki_->generation(), 2);
  distribution.publish(pki_->bundle_pem(), *pki_->crl_pem());
  const IssuedCert after = svid("spiffe://drill.test/ns/x/sa/after");

  auto node_verifies = [&](const std::string& node, const IssuedCert& cert) {
    const auto view = distribution.view(node);
    return verify_certificate(cert.cert_pem, view.bundle_pem, view.crl_pem, time_.wall_seconds());
  };
  EXPECT_TRUE(node_verifies("gw-1", after).ok());
  EXPECT_TRUE(node_verifies("gw-1", before).ok());  // the old intermediate stays trusted
  auto stale = node_verifies("gw-2", after);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "untrusted");
  EXPECT_TRUE(node_verifies("gw-2", before).ok());
  EXPECT_EQ(distribution.view("gw-2").version, 1u);

  distribution.heal("gw-2");
  EXPECT_EQ(distribution.view("gw-2").version, 2u);
  EXPECT_TRUE(node_verifies("gw-2", after).ok());
}

TEST_F(CaTest, DelayedNodeSeesANewVersionOnlyAfterTheDelay) {
  TrustDistribution distribution(time_);
  distribution.publish("bundle-1", "crl-1");
  distribution.delay("gw-3", std::chrono::milliseconds(5000));
  time_.advance(seconds(1));
  distribution.publish("bundle-2", "crl-2");
  EXPECT_EQ(distribution.view("gw-1").bundle_pem, "bundle-2");
  EXPECT_EQ(distribution.view("gw-3").bundle_pem, "bundle-1");
  time_.advance(std::chrono::milliseconds(4999));  // 1 ms before bundle-2 is 5 s old
  EXPECT_EQ(distribution.view("gw-3").bundle_pem, "bundle-1");
  time_.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(distribution.view("gw-3").bundle_pem, "bundle-2");
}

TEST_F(CaTest, RevocationAfterTheRollIsSignedByTheRightIntermediate) {
  const IssuedCert old_one = svid("spiffe://drill.test/ns/x/sa/old");
  ASSERT_TRUE(pki_->roll_intermediate().ok());
  const IssuedCert new_one = svid("spiffe://drill.test/ns/x/sa/new");
  ASSERT_TRUE(pki_->revoke(old_one.serial_hex).ok());
  ASSERT_TRUE(pki_->revoke(new_one.serial_hex).ok());
  EXPECT_EQ(verify(old_one).error().code, "revoked");
  EXPECT_EQ(verify(new_one).error().code, "revoked");
}

TEST(CaOptions, RsaServerCertificateVerifies) {
  ManualTimeSource time;
  PkiOptions options;
  options.key_type = KeyType::kRsa;
  auto pki = Pki::create(time, options);
  ASSERT_TRUE(pki.ok()) << pki.error().message;
  auto server = (*pki)->issue_server({"localhost"}, {"127.0.0.1"}, seconds(3600));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_TRUE(verify_certificate(server->cert_pem, (*pki)->bundle_pem(), *(*pki)->crl_pem(),
                                 time.wall_seconds())
                  .ok());
  EXPECT_EQ((*pki)->issue_server({}, {}, seconds(60)).error().code, "bad_request");
}

}  // namespace
}  // namespace gatedrill

namespace gatedrill {
namespace {

TEST(CaState, ReloadedCaKeepsItsRootAndIntermediates) {
  std::string dir = ::testing::TempDir() + "ca_state_" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0700);
  ManualTimeSource time;
  PkiOptions options;
  options.trust_domain = "drill.test";
  options.state_dir = dir;
  auto first = Pki::create(time, options);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE((*first)->roll_intermediate().ok());
  auto svid = (*first)->issue_svid("spiffe://drill.test/a", std::chrono::seconds(60));
  ASSERT_TRUE(svid.ok());
  auto second = Pki::create(time, options);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ((*second)->root_pem(), (*first)->root_pem());
  EXPECT_EQ((*second)->generation(), 2);
  // What the first instance issued verifies against the reloaded bundle, and vice versa.
  EXPECT_TRUE(
      verify_certificate(svid->cert_pem, (*second)->bundle_pem(), "", time.wall_seconds()).ok());
  auto later = (*second)->issue_svid("spiffe://drill.test/b", std::chrono::seconds(60));
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(
      verify_certificate(later->cert_pem, (*first)->bundle_pem(), "", time.wall_seconds()).ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/root.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace gatedrill

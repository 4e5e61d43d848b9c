// The CA peer over HTTP: bundles and CRLs per node, issue/revoke, SVID rotation at half-life,
// and the faults (bundle_desync + roll_intermediate, stop_rotation) as a node observes them.
#include "ca-sim/ca_server.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <boost/json/parse.hpp>

#include "ca-sim/verify.hpp"
#include "core/crypto/x509.hpp"
#include "core/http/http_client.hpp"

namespace gatedrill {
namespace {

// OpenSSL's own address check, as a TLS client dialing that address does it.
bool has_ip_san(const std::string& pem, const char* ip) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!x) return false;
  bool match = X509_check_ip_asc(x, ip, 0) == 1;
  X509_free(x);
  return match;
}

class CaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CaServerOptions options;
    options.pki.trust_domain = "drill.test";
    options.svid_ttl = std::chrono::seconds(600);
    server_ = std::make_unique<CaServer>(time_, options);
    auto started = server_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  HttpResponse call(const char* method, const std::string& path, const std::string& body = "") {
    auto r = http_request(method, base_ + path, {{"content-type", "application/json"}}, body);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : HttpResponse{};
  }

  boost::json::object json(const HttpResponse& r) { return boost::json::parse(r.body).as_object(); }

  // Verifies a certificate with what `node` downloads from the CA right now.
  Result<void> node_verifies(const std::string& node, const std::string& cert_pem) {
    const std::string bundle = call("GET", "/bundle?node=" + node).body;
    const std::string crl = call("GET", "/crl?node=" + node).body;
    return verify_certificate(cert_pem, bundle, crl, time_.wall_seconds());
  }

  std::string svid_via_api(const std::string& id) {
    auto r = call("GET", "/svid?spiffe_id=" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? std::string(json(r).at("cert").as_string()) : "";
  }

  ManualTimeSource time_;
  std::unique_ptr<CaServer> server_;
  std::string base_;
};

TEST_F(CaServerTest, IssuedSvidVerifiesAndARevokedOneIsInTheServedCrl) {
  auto issued =
      call("POST", "/admin/issue", R"({"spiffe_id":"spiffe://drill.test/ns/a/sa/b","ttl_s":120})");
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string cert(json(issued).at("cert").as_string());
  const std::string serial(json(issued).at("serial").as_string());
  EXPECT_TRUE(node_verifies("gw-1", cert).ok());
  auto revoked = call("POST", "/admin/revoke", R"({"serial":")" + serial + R"("})");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  auto r = node_verifies("gw-1", cert);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "revoked");
  EXPECT_EQ(call("POST", "/admin/revoke", R"({"serial":"00"})").status, 404);
  EXPECT_EQ(call("POST", "/admin/issue", R"({"spiffe_id":"spiffe://elsewhere/x"})").status, 400);
}

TEST_F(CaServerTest, RolledIntermediateBreaksOnlyTheDesyncedNode) {
  auto desync = call("POST", "/admin/faults",
                     R"({"type":"bundle_desync","params":{"nodes":["gw-2"],"mode":"withhold"}})");
  ASSERT_EQ(desync.status, 200) << desync.body;
  const std::string desync_id(json(desync).at("id").as_string());
  ASSERT_EQ(call("POST", "/admin/faults", R"({"type":"roll_intermediate","params":{}})").status,
            200);
  const std::string cert = svid_via_api("spiffe%3A%2F%2Fdrill.test%2Fns%2Fa%2Fsa%2Fb");
  EXPECT_TRUE(node_verifies("gw-1", cert).ok());
  auto stale = node_verifies("gw-2", cert);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "untrusted");
  ASSERT_EQ(call("DELETE", "/admin/faults/" + desync_id).status, 200);
  EXPECT_TRUE(node_verifies("gw-2", cert).ok());
}

TEST_F(CaServerTest, SvidsRotateAtHalfLifeUnlessRotationIsStopped) {
  const std::string id = "spiffe://drill.test/ns/a/sa/rotating";
  const std::string first = svid_via_api(id);
  time_.advance(std::chrono::seconds(299));
  EXPECT_EQ(svid_via_api(id), first);
  time_.advance(std::chrono::seconds(1));  // half of 600 s
  const std::string second = svid_via_api(id);
  EXPECT_NE(second, first);

  ASSERT_EQ(call("POST", "/admin/faults", R"({"type":"stop_rotation","params":{}})").status, 200);
  time_.advance(std::chrono::seconds(601));
  EXPECT_EQ(svid_via_api(id), second);  // no rotation: the workload keeps an expired SVID
  EXPECT_EQ(node_verifies("gw-1", second).error().code, "expired");
}

TEST_F(CaServerTest, ServingSvidsCarryTheAskedIpAddressBesideTheSpiffeId) {
  // A gateway serves its SVID to clients that check the address they dialed.
  auto r = call("GET", "/svid?spiffe_id=spiffe%3A%2F%2Fdrill.test%2Fgateway%2Fgw-1&ip=127.0.0.1");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string pem(json(r).at("cert").as_string());
  auto info = inspect_certificate(pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->uris, std::vector<std::string>{"spiffe://drill.test/gateway/gw-1"});
  EXPECT_TRUE(has_ip_san(pem, "127.0.0.1"));
  EXPECT_FALSE(has_ip_san(pem, "10.0.0.1"));
  // Without ip=, an SVID has only its SPIFFE ID.
  EXPECT_FALSE(has_ip_san(svid_via_api("spiffe://drill.test/ns/a/sa/plain"), "127.0.0.1"));
}

TEST_F(CaServerTest, ExpiredCrlFaultIsSeenByNodes) {
  const std::string cert = svid_via_api("spiffe://drill.test/ns/a/sa/b");
  ASSERT_EQ(call("POST", "/admin/faults", R"({"type":"expired_crl","params":{}})").status, 200);
  EXPECT_EQ(node_verifies("gw-1", cert).error().code, "crl_expired");
  ASSERT_EQ(call("DELETE", "/admin/faults").status, 200);
  EXPECT_TRUE(node_verifies("gw-1", cert).ok());
}

TEST_F(CaServerTest, BadFaultParametersAre400) {
  EXPECT_EQ(
      call("POST", "/admin/faults", R"({"type":"bundle_desync","params":{"nodes":[]}})").status,
      400);
  EXPECT_EQ(call("POST", "/admin/faults",
                 R"({"type":"bundle_desync","params":{"nodes":["gw-1"],"mode":"later"}})")
                .status,
            400);
  EXPECT_EQ(call("POST", "/admin/faults",
                 R"({"type":"bundle_desync","params":{"nodes":["gw-1"],"mode":"delay"}})")
                .status,
            400);
  EXPECT_EQ(call("GET", "/svid").status, 400);
}

TEST(QueryValue, DecodesPercentEscapes) {
  EXPECT_EQ(query_value("node=gw-1&x=2", "node"), "gw-1");
  EXPECT_EQ(query_value("a=1&spiffe_id=spiffe%3A%2F%2Ftd%2Fx", "spiffe_id"), "spiffe://td/x");
  EXPECT_EQ(query_value("a=1", "node"), "");
  EXPECT_EQ(query_value("node=%4", "node"), "%4");
}

}  // namespace
}  // namespace gatedrill

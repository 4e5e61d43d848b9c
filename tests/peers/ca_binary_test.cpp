// `gatedrill ca` as a real process: `ca issue` writes an SVID that verifies against the bundle
// and CRL it wrote; `ca serve` answers on its admin port and stops cleanly on SIGTERM.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include <gtest/gtest.h>

#include "ca-sim/verify.hpp"
#include "core/crypto/x509.hpp"
#include "core/http/http_client.hpp"
#include "core/supervisor/supervisor.hpp"

namespace gatedrill {
namespace {

class CaBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "ca_binary_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ::mkdir(dir_.c_str(), 0755);
  }

  int run_to_exit(const std::string& name, std::vector<std::string> args) {
    ProcessSpec spec;
    spec.name = name;
    spec.argv = {GATEDRILL_BINARY, "ca"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.log_file = dir_ + "/" + name + ".log";
    EXPECT_TRUE(supervisor_.spawn(spec));
    auto status = supervisor_.wait_exit(name, std::chrono::seconds(15));
    EXPECT_TRUE(status) << (status ? "" : status.error().message);
    return status ? *status : -1;
  }

  std::string read(const std::string& name) const {
    std::ifstream in(dir_ + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  SystemTimeSource time_;
  Supervisor supervisor_{time_};
  std::string dir_;
};

TEST_F(CaBinaryTest, IssueWritesAnSvidThatVerifies) {
  const std::string out = dir_ + "/svid";
  ASSERT_EQ(run_to_exit("issue", {"issue", "--spiffe-id", "spiffe://td.test/ns/x/sa/y", "--out",
                                  out, "--ttl", "10m"}),
            0);
  std::ifstream cert_in(out + "/svid.pem"), bundle_in(out + "/bundle.pem"),
      crl_in(out + "/crl.pem");
  const std::string cert(std::istreambuf_iterator<char>(cert_in), {});
  const std::string bundle(std::istreambuf_iterator<char>(bundle_in), {});
  const std::string crl(std::istreambuf_iterator<char>(crl_in), {});
  auto verified = verify_certificate(cert, bundle, crl, time_.wall_seconds());
  EXPECT_TRUE(verified.ok()) << (verified.ok() ? "" : verified.error().message);
  auto info = inspect_certificate(cert);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->uris.size(), 1u);
  EXPECT_EQ(info->uris[0], "spiffe://td.test/ns/x/sa/y");
  EXPECT_EQ(info->not_after_s - info->not_before_s, 600);
  struct stat st {};
  ASSERT_EQ(::stat((out + "/svid.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CaBinaryTest, IssueWithStateReusesTheSameCa) {
  const std::string state = dir_ + "/state";
  ASSERT_EQ(run_to_exit("first", {"issue", "--spiffe-id", "spiffe://td.test/a", "--out",
                                  dir_ + "/a", "--state", state}),
            0);
  ASSERT_EQ(run_to_exit("second", {"issue", "--spiffe-id", "spiffe://td.test/b", "--out",
                                   dir_ + "/b", "--state", state}),
            0);
  const std::string bundle_a = read("a/bundle.pem");
  EXPECT_FALSE(bundle_a.empty());
  EXPECT_EQ(read("b/bundle.pem"), bundle_a);
  EXPECT_TRUE(verify_certificate(read("a/svid.pem"), read("b/bundle.pem"), read("b/crl.pem"),
                                 time_.wall_seconds())
                  .ok());
}

TEST_F(CaBinaryTest, IssueRejectsBadUsage) {
  EXPECT_EQ(run_to_exit("no-out", {"issue", "--spiffe-id", "spiffe://td.test/x"}), 2);
  EXPECT_EQ(
      run_to_exit("bad-id", {"issue", "--spiffe-id", "spiffe://td.test", "--out", dir_ + "/o"}), 1);
  EXPECT_EQ(run_to_exit("no-sub", {}), 2);
}

TEST_F(CaBinaryTest, ServeAnswersAndStopsOnSigterm) {
  auto admin_port = allocate_port();
  ASSERT_TRUE(admin_port.ok());
  const std::string admin = "http://127.0.0.1:" + std::to_string(*admin_port);
  ProcessSpec spec;
  spec.name = "ca";
  spec.argv = {GATEDRILL_BINARY, "ca", "serve", "--admin-port", std::to_string(*admin_port),
               "--out",          dir_};
  spec.log_file = dir_ + "/ca.log";
  spec.health_url = admin + "/healthz";
  ASSERT_TRUE(supervisor_.spawn(spec));
  auto healthy = supervisor_.wait_healthy("ca", std::chrono::seconds(15));
  ASSERT_TRUE(healthy) << healthy.error().message;
  auto bundle = http_get(admin + "/bundle?node=gw-1");
  ASSERT_TRUE(bundle.ok());
  EXPECT_EQ(bundle->body, read("bundle.pem"));
  EXPECT_NE(read("crl.pem").find("BEGIN X509 CRL"), std::string::npos);
  auto stopped = supervisor_.stop("ca", std::chrono::seconds(5));
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, 0);
}

}  // namespace
}  // namespace gatedrill

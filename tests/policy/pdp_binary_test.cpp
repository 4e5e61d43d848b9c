// `gatedrill pdp` and `gatedrill policy` as real processes: ready line, the Data API, a clean
// SIGTERM stop, and exit codes for bad usage and bad policies.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/http/http_client.hpp"
#include "core/supervisor/supervisor.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"

namespace gatedrill {
namespace {

const char* kAdminToken =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.c2ln";

std::string seed(const char* name) {
  return std::string(GATEDRILL_SOURCE_DIR) + "/tests/policy/seeds/" + name;
}

class PdpBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "pdp_binary_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(dir_.c_str(), 0755);
  }
  std::string log(const std::string& name) const {
    std::ifstream in(dir_ + "/" + name + ".log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  int run_to_exit(const std::string& name, std::vector<std::string> args) {
    ProcessSpec spec;
    spec.name = name;
    spec.argv = {GATEDRILL_BINARY};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.log_file = dir_ + "/" + name + ".log";
    EXPECT_TRUE(supervisor_.spawn(spec));
    auto status = supervisor_.wait_exit(name, std::chrono::seconds(15));
    EXPECT_TRUE(status) << (status ? "" : status.error().message);
    return status ? *status : -1;
  }

  SystemTimeSource time_;
  Supervisor supervisor_{time_};
  std::string dir_;
};

TEST_F(PdpBinaryTest, ServesDecisionsAndStopsCleanlyOnSigterm) {
  auto port = allocate_port();
  ASSERT_TRUE(port);
  std::string base = "http://127.0.0.1:" + std::to_string(*port);
  ProcessSpec spec;
  spec.name = "pdp";
  spec.argv = {GATEDRILL_BINARY,     "pdp", "--policy", seed("seed000_api_authz.rego"), "--port",
               std::to_string(*port)};
  spec.log_file = dir_ + "/pdp.log";
  spec.health_url = base + "/health";
  ASSERT_TRUE(supervisor_.spawn(spec));
  auto healthy = supervisor_.wait_healthy("pdp", std::chrono::seconds(15));
  ASSERT_TRUE(healthy) << healthy.error().message << log("pdp");

  boost::json::object in{
      {"input",
       {{"method", "PUT"}, {"path", boost::json::array{"v1"}}, {"http_auth_header", kAdminToken}}}};
  auto r = http_post_json(base + "/v1/data/api/authz/allow", to_json(in));
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto j = parse_json(r->body);
  ASSERT_TRUE(j.ok()) << r->body;
  EXPECT_EQ(j->at("result"), boost::json::value(true));

  auto status = supervisor_.stop("pdp", std::chrono::seconds(5));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << log("pdp");
  auto ready = parse_json_object(split(log("pdp"), '\n')[0]);
  ASSERT_TRUE(ready.ok()) << log("pdp");
  EXPECT_EQ((*ready)["component"].as_string(), "pdp");
  EXPECT_EQ((*ready)["port"].as_int64(), *port);
}

TEST_F(PdpBinaryTest, ExitCodes) {
  EXPECT_EQ(run_to_exit("no-policy", {"pdp", "--port", "0"}), 2);
  EXPECT_EQ(run_to_exit("bad-policy",
                        {"pdp", "--policy", seed("seed003_registry_authz.rego"), "--port", "0"}),
            1);
  EXPECT_NE(log("bad-policy").find("seed003_registry_authz.rego:15"), std::string::npos)
      << log("bad-policy");
  EXPECT_EQ(run_to_exit("eval", {"policy", "eval", "-d", seed("seed000_api_authz.rego"),
                                 "data.api.authz.allow"}),
            0);
  EXPECT_NE(log("eval").find("\"value\": false"), std::string::npos) << log("eval");
  EXPECT_EQ(run_to_exit("lint", {"policy", "lint", seed("seed000_api_authz.rego")}), 1);
}

}  // namespace
}  // namespace gatedrill

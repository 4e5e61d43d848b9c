// The PDP over loopback: OPA Data API shapes (result, decision_id, undefined without result),
// health, bad bodies, and the decision log.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/http/http_client.hpp"
#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/pdp_server.hpp"

namespace gatedrill {
namespace {

namespace fs = std::filesystem;

const char* kAdminToken =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.c2ln";

class Pdp : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = fs::temp_directory_path() / ("gatedrill_pdp_log_" + std::to_string(getpid()) + ".jsonl");
    fs::remove(log_);
    PdpOptions o;
    o.policy_paths = {
        (fs::path(GATEDRILL_SOURCE_DIR) / "tests/policy/seeds/seed000_api_authz.rego").string()};
    o.time = &clock_;
    o.decision_log = log_.string();
    auto s = PdpServer::start(o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(*s);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    server_.reset();
    fs::remove(log_);
  }
  SystemTimeSource clock_;
  std::unique_ptr<PdpServer> server_;
  std::string base_;
  fs::path log_;
};

TEST_F(Pdp, HealthAnswersEmptyObject) {
  auto r = http_get(base_ + "/health");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{}");
}

TEST_F(Pdp, PostDataReturnsResultAndDecisionId) {
  boost::json::object in{{"input",
                          {{"method", "POST"},
                           {"path", boost::json::array{"v1"}},
                           {"http_auth_header", kAdminToken}}}};
  auto r = http_post_json(base_ + "/v1/data/api/authz/allow", to_json(in));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = parse_json(r->body);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->at("result"), boost::json::value(true));
  std::string first_id(j->at("decision_id").as_string());

  in["input"].as_object()["http_auth_header"] = std::string("Bearer ") + kAdminToken;
  auto denied = http_post_json(base_ + "/v1/data/api/authz/allow", to_json(in));
  ASSERT_TRUE(denied.ok());
  auto d = parse_json(denied->body);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->at("result"), boost::json::value(false));
  EXPECT_NE(std::string(d->at("decision_id").as_string()), first_id);

  auto pkg = http_post_json(base_ + "/v1/data/api/authz",
                            R"({"input":{"method":"GET","path":["v1","public"]}})");
  ASSERT_TRUE(pkg.ok());
  EXPECT_EQ(parse_json(pkg->body)->at("result"), (boost::json::value{{"allow", true}}));
}

TEST_F(Pdp, UndefinedHasNoResultKey) {
  auto r = http_post_json(base_ + "/v1/data/api/authz/nothing", R"({"input":{}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  auto j = parse_json(r->body);
  ASSERT_TRUE(j.ok());
  EXPECT_FALSE(j->as_object().contains("result"));
  EXPECT_TRUE(j->as_object().contains("decision_id"));
}

TEST_F(Pdp, BadBodyIs400AndTheLogHasOneLinePerDecision) {
  auto r = http_post_json(base_ + "/v1/data/api/authz/allow", "{not json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(parse_json(r->body)->at("code"), boost::json::value("invalid_parameter"));
  ASSERT_TRUE(http_post_json(base_ + "/v1/data/api/authz/allow",
                             R"({"input":{"method":"GET","path":["v1","public"]}})")
                  .ok());
  ASSERT_TRUE(http_get(base_ + "/v1/data/api/authz/allow").ok());
  std::ifstream in(log_);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    auto j = parse_json(line);
    ASSERT_TRUE(j.ok()) << line;
    EXPECT_EQ(j->at("path"), boost::json::value("/api/authz/allow"));
    EXPECT_EQ(j->at("policy_version"), boost::json::value(server_->policy_version()));
    ++lines;
  }
  EXPECT_EQ(lines, 2);
}

}  // namespace
}  // namespace gatedrill

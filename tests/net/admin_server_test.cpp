#include "core/admin/admin_server.hpp"

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    faults_.register_type(
        "latency", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
          auto ms = json_int(params, "latency_ms");
          if (!ms) return ms.error();
          if (!ms->has_value() || **ms < 0)
            return make_error("bad_params", "latency_ms must be >= 0");
          latency_ms_ = **ms;
          return FaultRegistry::Clear([this] { latency_ms_ = 0; });
        });
    metrics_.counter("demo_total", "Demo counter").inc(7);
    admin_.set_health_check(
        [this] { return unhealthy_ ? std::string("jwks cache empty") : std::string(); });
    admin_.route("GET", "/admin/extra",
                 [](const HttpRequest&) { return json_ok(R"({"extra": true})"); });
    auto started = admin_.start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(admin_.port()) + path;
  }
  static boost::json::object body_of(const Result<HttpResponse>& response) {
    EXPECT_TRUE(response.ok());
    auto parsed = parse_json_object(response->body);
    EXPECT_TRUE(parsed.ok()) << response->body;
    return parsed.ok() ? *parsed : boost::json::object{};
  }
  static std::string error_code(const Result<HttpResponse>& response) {
    auto body = body_of(response);
    if (!body.contains("error")) return "(no error object)";
    return std::string(body.at("error").at("code").as_string());
  }

  ManualTimeSource time_;
  MetricsRegistry metrics_;
  std::atomic<int64_t> latency_ms_{0};  // before faults_: its destructor runs the Clear
  std::atomic<bool> unhealthy_{false};
  FaultRegistry faults_{time_};
  AdminServer admin_{time_, metrics_, faults_, HttpServerOptions{}};
};

TEST_F(AdminServerTest, HealthzIsOkWhenTheCheckPasses) {
  auto response = http_get(url("/healthz"));
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
}

TEST_F(AdminServerTest, HealthzIs503WithTheReasonWhenTheCheckFails) {
  unhealthy_ = true;
  auto response = http_get(url("/healthz"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(error_code(response), "unhealthy");
  EXPECT_NE(response->body.find("jwks cache empty"), std::string::npos);
}

TEST_F(AdminServerTest, MetricsArePrometheusText) {
  auto response = http_get(url("/metrics"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "text/plain; version=0.0.4");
  EXPECT_EQ(response->body, metrics_.render());
  EXPECT_NE(response->body.find("\ndemo_total 7\n"), std::string::npos);
}

TEST_F(AdminServerTest, ClockSkewRoundTrip) {
  auto before = body_of(http_get(url("/admin/clock")));
  EXPECT_EQ(before.at("skew_ms").as_int64(), 0);
  EXPECT_EQ(before.at("wall_ms").as_int64(), time_.wall_ms());
  EXPECT_EQ(before.at("monotonic_ms").as_int64(), 0);

  auto set = http_post_json(url("/admin/clock"), R"({"skew_ms": -300000})");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->status, 200);
  EXPECT_EQ(time_.skew(), -300000ms);
  auto after = body_of(http_get(url("/admin/clock")));
  EXPECT_EQ(after.at("skew_ms").as_int64(), -300000);
  EXPECT_EQ(after.at("wall_ms").as_int64(), before.at("wall_ms").as_int64() - 300000);
}

TEST_F(AdminServerTest, ClockRejectsNonIntegerSkew) {
  for (const char* body : {R"({"skew_ms": "5m"})", R"({"skew_ms": 1.5})", R"({})", "not json"}) {
    auto response = http_post_json(url("/admin/clock"), body);
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->status, 400) << body;
    EXPECT_EQ(error_code(response), "bad_params") << body;
  }
  EXPECT_EQ(time_.skew(), 0ms);
}

TEST_F(AdminServerTest, FaultsAddListDeleteOverHttp) {
  auto added =
      http_post_json(url("/admin/faults"), R"({"type": "latency", "params": {"latency_ms": 120}})");
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->status, 200);
  EXPECT_EQ(body_of(added).at("id").as_string(), "f1");
  EXPECT_EQ(latency_ms_.load(), 120);

  auto listed = body_of(http_get(url("/admin/faults")));
  auto& list = listed.at("faults").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("type").as_string(), "latency");
  EXPECT_EQ(list[0].at("params").at("latency_ms").as_int64(), 120);
  EXPECT_EQ(list[0].at("since_ms").as_int64(), time_.wall_ms());

  auto one = http_get(url("/admin/faults/f1"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(body_of(one).at("id").as_string(), "f1");

  auto removed = http_request("DELETE", url("/admin/faults/f1"));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->status, 200);
  EXPECT_EQ(latency_ms_.load(), 0);

  auto missing = http_request("DELETE", url("/admin/faults/f1"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(error_code(missing), "no_such_fault");
}

TEST_F(AdminServerTest, DeleteAllFaultsClearsThem) {
  ASSERT_TRUE(
      http_post_json(url("/admin/faults"), R"({"type": "latency", "params": {"latency_ms": 5}})")
          .ok());
  ASSERT_TRUE(
      http_post_json(url("/admin/faults"), R"({"type": "latency", "params": {"latency_ms": 9}})")
          .ok());
  auto cleared = http_request("DELETE", url("/admin/faults"));
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->status, 200);
  EXPECT_EQ(latency_ms_.load(), 0);
  EXPECT_TRUE(body_of(http_get(url("/admin/faults"))).at("faults").as_array().empty());
}

TEST_F(AdminServerTest, BadFaultRequestsAre400WithSpecificCodes) {
  struct Case {
    const char* body;
    const char* code;
  };
  const Case cases[] = {
      {R"({"type": "explode"})", "unknown_fault_type"},
      {R"({"type": "latency", "params": {"latency_ms": -3}})", "bad_params"},
      {R"({"type": "latency", "params": [1]})", "bad_params"},
      {R"({"params": {}})", "bad_params"},
      {"{", "bad_params"},
  };
  for (const auto& c : cases) {
    auto response = http_post_json(url("/admin/faults"), c.body);
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->status, 400) << c.body;
    EXPECT_EQ(error_code(response), c.code) << c.body;
  }
  EXPECT_TRUE(faults_.list().at("faults").as_array().empty());
}

TEST_F(AdminServerTest, UnknownPathAndMethodAreJsonErrors) {
  auto missing = http_get(url("/admin/nothing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(error_code(missing), "not_found");
  auto wrong = http_request("PUT", url("/admin/clock"));
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(error_code(wrong), "method_not_allowed");
}

TEST_F(AdminServerTest, ComponentRoutesAreServed) {
  auto response = http_get(url("/admin/extra"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(body_of(response).at("extra").as_bool());
}

}  // namespace
}  // namespace gatedrill

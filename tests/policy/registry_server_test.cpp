// The registry over loopback: publish and poll bundles (ETag/304), rejected bundles, break-glass
// audit, node versions, discovery expiry on the TimeSource, and the offline/slow drill faults.
#include <gtest/gtest.h>

#include <set>

#include "core/http/http_client.hpp"
#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/registry_server.hpp"

namespace gatedrill {
namespace {

class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = RegistryServer::start(clock_, {});
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(*s);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  Result<HttpResponse> send(const char* method, const std::string& path,
                            const std::string& body = "",
                            HeaderList headers = {{"content-type", "application/json"}}) {
    return http_request(method, base_ + path, headers, body);
  }
  boost::json::value body(const Result<HttpResponse>& r) {
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return nullptr;
    auto j = parse_json(r->body);
    return j.ok() ? *j : boost::json::value(nullptr);
  }
  ManualTimeSource clock_;
  std::unique_ptr<RegistryServer> server_;
  std::string base_;
};

const char* kPolicy =
    R"({"modules":{"authz.rego":"package api.authz\ndefault allow = false\nallow { input.role == \"admin\" }\n"},"author":"alice"})";

TEST_F(Registry, PublishThenPollWithEtag) {
  EXPECT_EQ(send("GET", "/v1/bundle")->status, 404);
  auto put = send("PUT", "/v1/policies", kPolicy);
  ASSERT_EQ(put->status, 200) << put->body;
  auto meta = body(put);
  EXPECT_EQ(meta.at("revision"), boost::json::value(1));
  std::string hash(meta.at("hash").as_string());
  auto get = send("GET", "/v1/bundle");
  ASSERT_EQ(get->status, 200);
  auto b = body(get);
  EXPECT_EQ(b.at("hash"), boost::json::value(hash));
  EXPECT_TRUE(b.at("modules").as_object().contains("authz.rego"));
  EXPECT_EQ(get->header("etag"), hash);
  auto cached = send("GET", "/v1/bundle", "", {{"if-none-match", hash}});
  EXPECT_EQ(cached->status, 304);
}

TEST_F(Registry, BrokenBundleIs400WithFileAndLine) {
  auto put = send("PUT", "/v1/policies", R"({"modules":{"bad.rego":"package p\nallow {\n"}})");
  EXPECT_EQ(put->status, 400);
  auto e = body(put);
  EXPECT_EQ(e.at("error").at("code"), boost::json::value("rego_parse_error"));
  EXPECT_NE(put->body.find("bad.rego:3"), std::string::npos) << put->body;
}

TEST_F(Registry, BreakGlassAuditAndLaggingNodes) {
  ASSERT_EQ(send("PUT", "/v1/policies", kPolicy)->status, 200);
  EXPECT_EQ(
      send("POST", "/v1/break-glass",
           R"({"modules":{"a.rego":"package api.authz\nallow = true { true }"},"actor":"oncall"})")
          ->status,
      400);
  auto bg = send(
      "POST", "/v1/break-glass",
      R"({"modules":{"a.rego":"package api.authz\nallow = true { true }"},"actor":"oncall","reason":"INC-7"})");
  ASSERT_EQ(bg->status, 200) << bg->body;
  EXPECT_EQ(body(bg).at("break_glass"), boost::json::value(true));
  auto audit = body(send("GET", "/v1/audit")).at("audit").as_array();
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].at("detail"), boost::json::value("INC-7"));
  ASSERT_EQ(send("POST", "/v1/nodes/gw-1", R"({"revision":2})")->status, 200);
  ASSERT_EQ(send("POST", "/v1/nodes/gw-2", R"({"revision":1})")->status, 200);
  auto nodes = body(send("GET", "/v1/nodes"));
  EXPECT_EQ(nodes.at("active_revision"), boost::json::value(2));
  EXPECT_EQ(nodes.at("lagging"), (boost::json::array{"gw-2"}));
  auto rb = send("POST", "/v1/rollback", R"({"revision":1,"actor":"alice"})");
  ASSERT_EQ(rb->status, 200);
  EXPECT_EQ(body(rb).at("revision"), boost::json::value(3));
}

TEST_F(Registry, DiscoveryEntriesExpire) {
  EXPECT_EQ(send("GET", "/v1/discovery/orders")->status, 404);
  ASSERT_EQ(
      send("POST", "/v1/discovery/orders", R"({"address":"10.0.0.1:80","ttl_ms":5000})")->status,
      200);
  auto found = body(send("GET", "/v1/discovery/orders"));
  EXPECT_EQ(found.at("instances"), (boost::json::array{"10.0.0.1:80"}));
  clock_.advance(std::chrono::seconds(6));
  auto gone = send("GET", "/v1/discovery/orders");
  EXPECT_EQ(gone->status, 404);
  EXPECT_EQ(body(gone).at("error").at("code"), boost::json::value("service_not_found"));
  EXPECT_EQ(send("POST", "/v1/discovery/orders", R"({"address":"x"})")->status, 400);
}

TEST_F(Registry, OfflineAndSlowFaults) {
  ASSERT_EQ(send("PUT", "/v1/policies", kPolicy)->status, 200);
  ASSERT_EQ(send("POST", "/admin/fault", R"({"mode":"offline"})")->status, 200);
  EXPECT_EQ(send("GET", "/v1/bundle")->status, 503);
  EXPECT_EQ(send("GET", "/health")->status, 200);
  ASSERT_EQ(send("POST", "/admin/fault", R"({"mode":"slow","delay_ms":150})")->status, 200);
  SystemTimeSource real;
  int64_t t0 = real.monotonic_ms();
  EXPECT_EQ(send("GET", "/v1/bundle")->status, 200);
  EXPECT_GE(real.monotonic_ms() - t0, 150);
  ASSERT_EQ(send("POST", "/admin/fault", R"({"mode":"none"})")->status, 200);
  EXPECT_EQ(send("GET", "/v1/bundle")->status, 200);
  EXPECT_EQ(send("POST", "/admin/fault", R"({"mode":"melt"})")->status, 400);
}

TEST_F(Registry, RoutesReplaceAndMatch) {
  auto put =
      send("PUT", "/v1/routes", R"({"routes":[{"prefix":"/api/orders","service":"orders"}]})");
  ASSERT_EQ(put->status, 200) << put->body;
  auto m = send("GET", "/v1/routes/match?path=/api/orders/9");
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(body(m).at("service"), boost::json::value("orders"));
  EXPECT_EQ(send("GET", "/v1/routes/match?path=/other")->status, 404);
  EXPECT_EQ(send("PUT", "/v1/routes", R"({"routes":[{"prefix":"nope","service":"x"}]})")->status,
            400);
}

TEST_F(Registry, QuotasFromSeedYaml) {
  EXPECT_EQ(send("GET", "/v1/quotas/orders")->status, 404);
  const char* yaml =
      "quota_management:\n  backend: redis\n  defaults:\n    requests_per_second: 500\n    "
      "burst_capacity: 1000\n"
      "  overrides:\n    - service_id: \"payment-gateway\"\n      requests_per_second: 2000\n";
  auto put = send("PUT", "/v1/quotas", yaml, {{"content-type", "application/yaml"}});
  ASSERT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(body(send("GET", "/v1/quotas/payment-gateway")).at("requests_per_second"),
            boost::json::value(2000));
  EXPECT_EQ(body(send("GET", "/v1/quotas/orders")).at("requests_per_second"),
            boost::json::value(500));
  auto bad = send("PUT", "/v1/quotas", "quota_management:\n  defaults: {a: 1}\n");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("line 2"), std::string::npos) << bad->body;
}

TEST_F(Registry, PartialPropagationSplitsNodesBetweenRevisions) {
  ASSERT_EQ(send("PUT", "/v1/policies", kPolicy)->status, 200);
  ASSERT_EQ(send("PUT", "/v1/policies",
                 R"({"modules":{"authz.rego":"package api.authz\nallow = true { true }"}})")
                ->status,
            200);
  auto revision_for = [&](const std::string& node) {
    auto r = send("GET", "/v1/bundle", "", {{"x-gatedrill-node", node}});
    return body(r).at("revision").as_int64();
  };
  ASSERT_EQ(send("POST", "/admin/fault", R"({"mode":"partial","percent":0})")->status, 200);
  EXPECT_EQ(revision_for("gw-1"), 1);
  ASSERT_EQ(send("POST", "/admin/fault", R"({"mode":"partial","percent":100})")->status, 200);
  EXPECT_EQ(revision_for("gw-1"), 2);
  ASSERT_EQ(send("POST", "/admin/fault", R"({"mode":"partial","percent":50})")->status, 200);
  std::set<int64_t> seen;
  for (int i = 0; i < 40; ++i) seen.insert(revision_for("gw-" + std::to_string(i)));
  EXPECT_EQ(seen, (std::set<int64_t>{1, 2}));
  EXPECT_EQ(revision_for("gw-7"), revision_for("gw-7"));  // stable per node
  ASSERT_EQ(send("POST", "/admin/fault", R"({"mode":"none"})")->status, 200);
  EXPECT_EQ(revision_for("gw-1"), 2);
}

}  // namespace
}  // namespace gatedrill

// JTI revocation and the global rate limit against a real redis-server on loopback: the IdP's
// /admin/revoke and the gateway agree on the key; Redis killed -> fail closed (or open when
// configured) and the global limit falls back to local limits; Redis back -> both work again.
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "core/util/json.hpp"
#include "gateway/redis/redis_keys.hpp"
#include "gateway_test_support.hpp"
#include "idp-sim/idp_sim.hpp"
#include "scenarios/peers/redis_server.hpp"

namespace gatedrill::gateway::test {
namespace {

using std::chrono::milliseconds;

class RedisFeaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!redis_installed()) GTEST_SKIP() << "redis-server is not installed";
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "gatedrill-gw-redis-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    RedisServerOptions options;
    options.work_dir = dir_;
    redis_ = std::make_unique<RedisServer>(supervisor_, time_, options);
    auto started = redis_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    gateways_.clear();
    redis_.reset();
    supervisor_.stop_all(milliseconds(2000));
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  GatewayConfig config() const {
    GatewayConfig c = base_config(idp_, upstream_.url());
    RedisLinkOptions link;
    link.port = redis_->port();
    link.timeout = milliseconds(200);
    link.reconnect_interval = milliseconds(50);
    c.redis = link;
    c.revocation.cache_ttl = milliseconds(0);  // every request asks Redis
    return c;
  }
  Gateway& start(GatewayConfig c) {
    gateways_.push_back(std::make_unique<Gateway>(time_, std::move(c)));
    auto started = gateways_.back()->start();
    EXPECT_TRUE(started) << started.error().message;
    EXPECT_TRUE(gateways_.back()->wait_redis_up(milliseconds(3000)));
    return *gateways_.back();
  }
  Result<HttpResponse> get(const Gateway& gw, const std::string& token) const {
    return http_request("GET", "http://127.0.0.1:" + std::to_string(gw.port()) + "/api/items",
                        {{"Authorization", "Bearer " + token}}, {}, quick());
  }
  std::string token(const std::string& jti, const std::string& sub = "alice") const {
    return idp_.token(time_.wall_seconds(), {{"jti", jti}, {"sub", sub}});
  }
  // Through the IdP simulator's admin handler: the key layout is the shared one.
  void revoke(const std::string& jti) {
    IdpOptions options;
    options.client_secret = "s";
    options.redis_url = redis_->url();
    IdpSim idp(time_, options);
    HttpRequest request;
    request.method = "POST";
    request.path = "/admin/revoke";
    request.body = "{\"jti\":\"" + jti + "\"}";
    HttpResponse r = idp.handle_admin_revoke(request);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  SystemTimeSource time_;
  Supervisor supervisor_{time_};
  std::string dir_;
  std::unique_ptr<RedisServer> redis_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::vector<std::unique_ptr<Gateway>> gateways_;
};

TEST_F(RedisFeaturesTest, RevokedJtiIsRefusedWith401OthersPass) {
  Gateway& gw = start(config());
  auto before = get(gw, token("jti-1"));
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(before->status, 200) << before->body;

  revoke("jti-1");
  auto after = get(gw, token("jti-1"));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->status, 401) << after->body;
  EXPECT_EQ(reason_of(*after), "token_revoked");
  EXPECT_NE(after->header("WWW-Authenticate").find("invalid_token"), std::string::npos);

  auto other = get(gw, token("jti-2"));
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->status, 200) << other->body;
  EXPECT_GE(metric(gw.admin_port(), "gatedrill_gateway_revocation_lookups_total"), 3);
}

TEST_F(RedisFeaturesTest, RevokedAnswerIsCachedSoItHoldsWhileRedisIsDown) {
  GatewayConfig c = config();
  c.revocation.cache_ttl = milliseconds(60000);
  Gateway& gw = start(c);
  revoke("jti-r");
  auto first = get(gw, token("jti-r"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 401);
  auto ok = get(gw, token("jti-ok"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  ASSERT_TRUE(redis_->kill());
  // Both answers come from the local cache: no Redis needed.
  auto again = get(gw, token("jti-r"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401) << again->body;
  auto ok_again = get(gw, token("jti-ok"));
  ASSERT_TRUE(ok_again);
  EXPECT_EQ(ok_again->status, 200) << ok_again->body;
  EXPECT_GE(metric(gw.admin_port(), "gatedrill_gateway_revocation_cache_hits_total"), 2);
}

TEST_F(RedisFeaturesTest, RedisKilledFailsClosedThenRevocationWorksAgainWhenBack) {
  Gateway& gw = start(config());
  auto ok = get(gw, token("jti-a"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;

  auto killed = redis_->kill();
  ASSERT_TRUE(killed) << killed.error().message;
  const int64_t t0 = time_.monotonic_ms();
  auto closed = get(gw, token("jti-b"));
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_EQ(closed->status, 503) << closed->body;
  EXPECT_EQ(reason_of(*closed), "revocation_unavailable");
  EXPECT_EQ(closed->header("Retry-After"), "1");
  EXPECT_LT(time_.monotonic_ms() - t0, 2000);  // fails fast, never hangs the request
  EXPECT_TRUE(eventually([&] {
    return metric(gw.admin_port(), "gatedrill_gateway_redis_errors_total{kind=\"connect\"}") >= 1 ||
           metric(gw.admin_port(), "gatedrill_gateway_redis_errors_total{kind=\"io\"}") >= 1;
  }));
  EXPECT_EQ(metric(gw.admin_port(), "gatedrill_gateway_redis_up"), 0);

  auto restarted = redis_->restart();
  ASSERT_TRUE(restarted) << restarted.error().message;
  ASSERT_TRUE(gw.wait_redis_up(milliseconds(5000)));
  auto back = get(gw, token("jti-b"));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200) << back->body;
  revoke("jti-b");
  auto revoked = get(gw, token("jti-b"));
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 401) << revoked->body;
  EXPECT_EQ(reason_of(*revoked), "token_revoked");
}

TEST_F(RedisFeaturesTest, HungRedisFailsClosedWithinTheTimeout) {
  Gateway& gw = start(config());
  ASSERT_TRUE(redis_->hang());
  const int64_t t0 = time_.monotonic_ms();
  auto r = get(gw, token("jti-h"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(reason_of(*r), "revocation_unavailable");
  EXPECT_LT(time_.monotonic_ms() - t0, 2000);
  EXPECT_TRUE(eventually([&] {
    return metric(gw.admin_port(), "gatedrill_gateway_redis_errors_total{kind=\"timeout\"}") >= 1;
  }));
  ASSERT_TRUE(redis_->resume());
  ASSERT_TRUE(gw.wait_redis_up(milliseconds(5000)));
  EXPECT_TRUE(eventually([&] {
    auto again = get(gw, token("jti-h"));
    return again && again->status == 200;
  }));
}

TEST_F(RedisFeaturesTest, FailOpenLetsTokensThroughAndCountsThem) {
  GatewayConfig c = config();
  c.revocation.fail_open = true;
  Gateway& gw = start(c);
  ASSERT_TRUE(redis_->kill());
  auto r = get(gw, token("jti-o"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_GE(metric(gw.admin_port(), "gatedrill_gateway_revocation_fail_open_total"), 1);
}

TEST_F(RedisFeaturesTest, GlobalRateLimitIsSharedByTwoNodes) {
  GatewayConfig c = config();
  c.global_rate_limit.requests_per_window = 3;
  c.global_rate_limit.window = milliseconds(3600 * 1000);  // one window for the whole test
  Gateway& gw1 = start(c);
  Gateway& gw2 = start(c);
  int ok = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = get(i % 2 == 0 ? gw1 : gw2, token("jti-g" + std::to_string(i), "bob"));
    ASSERT_TRUE(r) << r.error().message;
    if (r->status == 200) ++ok;
    if (r->status == 429) {
      ++limited;
      EXPECT_EQ(reason_of(*r), "rate_limited");
      EXPECT_FALSE(r->header("Retry-After").empty());
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(limited, 3);
  // Another identity has its own window.
  auto carol = get(gw2, token("jti-c", "carol"));
  ASSERT_TRUE(carol);
  EXPECT_EQ(carol->status, 200) << carol->body;
}

TEST_F(RedisFeaturesTest, GlobalRateLimitFallsBackToLocalLimitsWhenRedisIsDown) {
  GatewayConfig c = config();
  c.revocation.fail_open = true;
  c.global_rate_limit.requests_per_window = 1;
  c.global_rate_limit.window = milliseconds(3600 * 1000);
  c.rate_limit.defaults = RateLimit{0.001, 2};  // local: 2 requests, then 429
  Gateway& gw = start(c);
  ASSERT_TRUE(redis_->kill());
  auto first = get(gw, token("jti-f1", "dave"));
  auto second = get(gw, token("jti-f2", "dave"));
  auto third = get(gw, token("jti-f3", "dave"));
  ASSERT_TRUE(first && second && third);
  // The global limit (1) is not enforced without Redis; the local bucket (2) is.
  EXPECT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(third->status, 429) << third->body;
  EXPECT_EQ(metric(gw.admin_port(), "gatedrill_gateway_ratelimit_fallback_total"), 2);
}

}  // namespace
}  // namespace gatedrill::gateway::test

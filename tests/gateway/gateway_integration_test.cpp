// The thin slice end to end, in-process: a real gateway (plaintext and TLS) between a fake IdP
// and a fake upstream, driven over loopback with the blocking client and raw sockets.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/supervisor/supervisor.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "gateway/server/tls13_records.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

class GatewayTest : public ::testing::Test {
 protected:
  void start(GatewayConfig config) {
    gateway_ = std::make_unique<Gateway>(time_, std::move(config));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  void start() { start(base_config(idp_, upstream_.url())); }

  std::string url(const std::string& path = "/api/items") const {
    return "http://127.0.0.1:" + std::to_string(gateway_->port()) + path;
  }
  std::string admin(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(gateway_->admin_port()) + path;
  }
  Result<HttpResponse> get(const std::string& token, HeaderList extra = {}) const {
    if (!token.empty()) extra.emplace_back("Authorization", "Bearer " + token);
    return http_request("GET", url(), extra, {}, quick());
  }
  std::string valid_token() const { return idp_.token(time_.wall_seconds()); }

  // A valid request right after a bad one still gets through.
  void expect_still_serving() const {
    auto r = get(valid_token());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200) << r->body;
  }

  void expect_denied(const Result<HttpResponse>& r, int status, const std::string& reason) const {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(reason_of(*r), reason);
    if (status == 401) {
      EXPECT_NE(r->header("WWW-Authenticate").find("Bearer error=\"invalid_token\""),
                std::string::npos)
          << r->header("WWW-Authenticate");
      EXPECT_NE(r->header("WWW-Authenticate").find("error_description=\""), std::string::npos);
    }
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayTest, ValidTokenIsProxiedWithIdentityAndSanitizedHeaders) {
  start();
  auto r =
      get(valid_token(),
          {{"x-gatedrill-sub", "mallory"}, {"X-Envoy-Original-Path", "/x"}, {"x-custom", "1"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, "hello /api/items");
  EXPECT_EQ(r->header("x-app"), "yes");
  EXPECT_EQ(r->header("Server"), "");
  EXPECT_EQ(r->header("X-Powered-By"), "");
  EXPECT_EQ(r->header("x-request-id").size(), 32u);

  auto seen = upstream_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("x-gatedrill-sub"), "alice");  // ours, not the client's
  int subs = 0;
  for (const auto& [name, value] : seen[0].headers)
    subs += iequals(name, "x-gatedrill-sub") ? 1 : 0;
  EXPECT_EQ(subs, 1);
  EXPECT_EQ(seen[0].header("x-envoy-original-path"), "");
  EXPECT_EQ(seen[0].header("x-custom"), "1");
  EXPECT_EQ(seen[0].header("x-request-id"), r->header("x-request-id"));
  EXPECT_EQ(seen[0].header("authorization").substr(0, 7), "Bearer ");
  EXPECT_EQ(seen[0].header("x-forwarded-for"), "127.0.0.1");
  EXPECT_EQ(seen[0].header("x-forwarded-proto"), "http");
}

TEST_F(GatewayTest, ConfiguredIdentityHeaderCannotBeForged) {
  auto config = base_config(idp_, upstream_.url());
  config.subject_header = "x-user";
  start(std::move(config));
  const int64_t now = time_.wall_seconds();
  auto r = get(idp_.token(now), {{"X-User", "admin"}, {"X-Forwarded-For", "10.0.0.1"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto seen = upstream_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("x-user"), "alice");
  EXPECT_EQ(seen[0].header("x-gatedrill-sub"), "");
  EXPECT_EQ(seen[0].header("x-forwarded-for"), "127.0.0.1");
  int users = 0;
  for (const auto& [name, value] : seen[0].headers) users += iequals(name, "x-user") ? 1 : 0;
  EXPECT_EQ(users, 1);

  // A token without sub: the gateway sets no x-user, and the client's own x-user is dropped.
  auto no_sub = get(idp_.token(now, {{"sub", nullptr}}), {{"X-User", "admin"}});
  ASSERT_TRUE(no_sub);
  ASSERT_EQ(no_sub->status, 200);
  EXPECT_EQ(upstream_.seen().back().header("x-user"), "");
}

TEST_F(GatewayTest, PostBodyAndMethodAreForwarded) {
  start();
  auto r = http_request("POST", url("/api/orders?x=1"),
                        {{"Authorization", "Bearer " + valid_token()}}, "{\"n\":1}", quick());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  auto seen = upstream_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/api/orders?x=1");
  EXPECT_EQ(seen[0].body, "{\"n\":1}");
}

TEST_F(GatewayTest, AuthnFailuresAre401WithBearerChallenge) {
  start();
  const int64_t now = time_.wall_seconds();
  expect_denied(get(""), 401, "missing_token");
  expect_still_serving();
  expect_denied(get(idp_.token(now - 1000, {{"exp", now - 600}})), 401, "token_expired");
  expect_still_serving();
  expect_denied(get(idp_.token(now, {{"nbf", now + 600}})), 401, "token_not_yet_valid");
  expect_still_serving();
  // alg none, any casing, with an empty signature segment.
  expect_denied(get("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."), 401, "bad_alg");
  expect_denied(get("eyJhbGciOiJOb05lIn0.eyJzdWIiOiJhbGljZSJ9.c2ln"), 401, "bad_alg");
  expect_still_serving();
  auto other = *Key::generate(KeyType::kEcP256);
  expect_denied(get(idp_.token(now, {}, idp_.kid(), &other)), 401, "bad_signature");
  expect_still_serving();
  expect_denied(get(idp_.token(now, {}, "no-such-kid", &other)), 401, "unknown_kid");
  expect_still_serving();
  expect_denied(get(idp_.token(now, {{"iss", "https://evil.example"}})), 401, "bad_issuer");
  expect_still_serving();
  expect_denied(get("not.a.jwt!"), 401, "malformed");
  expect_still_serving();
  EXPECT_EQ(upstream_.seen().size(), 8u) << "only the valid requests reach the upstream";
}

TEST_F(GatewayTest, AudienceMismatchIs403) {
  start();
  const int64_t now = time_.wall_seconds();
  expect_denied(get(idp_.token(now, {{"aud", "someone-else"}})), 403, "bad_audience");
  expect_denied(get(idp_.token(now, {{"aud", boost::json::array{}}})), 403, "bad_audience");
  expect_still_serving();
}

TEST_F(GatewayTest, DisallowedAlgIsRefused) {
  auto config = base_config(idp_, upstream_.url());
  config.algs = {JwsAlg::kRS256};
  start(std::move(config));
  expect_denied(get(valid_token()), 401, "bad_alg");
}

TEST_F(GatewayTest, ClockSkewThroughAdminExpiresValidTokensEvenWhenCached) {
  start();
  const std::string token = valid_token();  // exp = now + 120 s, leeway 60 s
  auto first = get(token);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);  // now in the verified-token cache

  auto skew = http_post_json(admin("/admin/clock"), "{\"skew_ms\": 300000}", quick());
  ASSERT_TRUE(skew) << skew.error().message;
  ASSERT_EQ(skew->status, 200) << skew->body;
  expect_denied(get(token), 401, "token_expired");

  auto back = http_post_json(admin("/admin/clock"), "{\"skew_ms\": 0}", quick());
  ASSERT_TRUE(back);
  ASSERT_EQ(back->status, 200);
  auto again = get(token);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
}

TEST_F(GatewayTest, RateLimitIs429WithRetryAfterPerIdentity) {
  auto config = base_config(idp_, upstream_.url());
  config.rate_limit.defaults = RateLimit{0.5, 3};  // slow refill: the burst is what counts here
  config.rate_limit.overrides["vip"] = RateLimit{1000, 1000};
  start(std::move(config));
  const int64_t now = time_.wall_seconds();
  const std::string alice = idp_.token(now);
  int ok = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = get(alice);
    ASSERT_TRUE(r);
    if (r->status == 200) ++ok;
    if (r->status == 429) {
      ++limited;
      EXPECT_EQ(reason_of(*r), "rate_limited");
      EXPECT_EQ(r->header("Retry-After"), "2");
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(limited, 3);
  // Another identity has its own bucket; an override lifts the limit.
  auto bob = get(idp_.token(now, {{"sub", "bob"}}));
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->status, 200);
  const std::string vip = idp_.token(now, {{"sub", "vip"}});
  for (int i = 0; i < 10; ++i) ASSERT_EQ(get(vip)->status, 200);
}

TEST_F(GatewayTest, RoutesSelectAndUnroutedPathsAre404) {
  auto config = base_config(idp_, upstream_.url());
  auto routes = RouteTable::from_json(
      R"([{"name":"items","prefix":"/api/items"},{"name":"h","exact":"/hello"}])");
  ASSERT_TRUE(routes);
  config.routes = *routes;
  config.rate_limit.defaults = RateLimit{0.5, 1};
  start(std::move(config));
  const std::string token = valid_token();
  auto ok = http_request("GET", url("/api/items/1?x=2"), {{"Authorization", "Bearer " + token}}, {},
                         quick());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto other_route =
      http_request("GET", url("/hello"), {{"Authorization", "Bearer " + token}}, {}, quick());
  ASSERT_TRUE(other_route);
  EXPECT_EQ(other_route->status, 200) << "each route has its own bucket";
  auto again =
      http_request("GET", url("/api/items/2"), {{"Authorization", "Bearer " + token}}, {}, quick());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 429);
  auto none =
      http_request("GET", url("/nothing"), {{"Authorization", "Bearer " + token}}, {}, quick());
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  EXPECT_EQ(reason_of(*none), "no_route");
}

TEST_F(GatewayTest, AllowListAuthzDeniesWith403) {
  auto config = base_config(idp_, upstream_.url());
  config.authorizer = std::make_shared<AllowListAuthorizer>(
      std::vector<AllowRule>{*AllowRule::parse("alice@*:GET")});
  start(std::move(config));
  const int64_t now = time_.wall_seconds();
  EXPECT_EQ(get(idp_.token(now))->status, 200);
  auto bob = get(idp_.token(now, {{"sub", "bob"}}));
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->status, 403);
  EXPECT_EQ(reason_of(*bob), "no_matching_rule");
  auto post =
      http_request("POST", url(), {{"Authorization", "Bearer " + idp_.token(now)}}, "x", quick());
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 403);
  EXPECT_EQ(upstream_.seen().size(), 1u);
}

TEST_F(GatewayTest, RegoPolicyFromFilesDecides) {
  std::string file = ::testing::TempDir() + "/gw-authz-" + std::to_string(::getpid()) + ".rego";
  std::ofstream(file) << R"(package gatedrill.authz
import rego.v1
default allow := false
allow if {
  input.method == "GET"
  input.headers["X-Internal-Dept"] == "Engineering"
  input.subject == "alice"
}
)";
  auto config = base_config(idp_, upstream_.url());
  config.policy_paths = {file};
  start(std::move(config));
  const int64_t now = time_.wall_seconds();
  auto ok = get(idp_.token(now), {{"X-Internal-Dept", "Engineering"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto wrong_dept = get(idp_.token(now), {{"X-Internal-Dept", "Sales"}});
  ASSERT_TRUE(wrong_dept);
  EXPECT_EQ(wrong_dept->status, 403);
  EXPECT_EQ(reason_of(*wrong_dept), "policy_denied");
  std::remove(file.c_str());
}

TEST_F(GatewayTest, BrokenPolicyFailsStart) {
  std::string file = ::testing::TempDir() + "/gw-bad-" + std::to_string(::getpid()) + ".rego";
  std::ofstream(file) << "package x\nallow if {{{\n";
  auto config = base_config(idp_, upstream_.url());
  config.policy_paths = {file};
  Gateway gateway(time_, std::move(config));
  auto started = gateway.start();
  EXPECT_FALSE(started);
  std::remove(file.c_str());
}

TEST_F(GatewayTest, UpstreamDownIs503AndRecovers) {
  auto port = allocate_port();  // nothing listens there
  ASSERT_TRUE(port);
  start(base_config(idp_, "http://127.0.0.1:" + std::to_string(*port)));
  auto r = get(valid_token());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(reason_of(*r), "upstream_connect_error");
  EXPECT_NE(r->body.find("upstream connect error"), std::string::npos) << r->body;
}

TEST_F(GatewayTest, CircuitOpensAfterConnectFailures) {
  auto port = allocate_port();
  ASSERT_TRUE(port);
  auto config = base_config(idp_, "http://127.0.0.1:" + std::to_string(*port));
  config.data.breaker = CircuitBreakerOptions{3, std::chrono::seconds(60)};
  start(std::move(config));
  const std::string token = valid_token();
  for (int i = 0; i < 3; ++i) {
    auto r = get(token);
    ASSERT_TRUE(r);
    EXPECT_EQ(reason_of(*r), "upstream_connect_error");
    EXPECT_EQ(r->header("x-gatedrill-reason"), "");
  }
  auto open = get(token);
  ASSERT_TRUE(open);
  EXPECT_EQ(open->status, 503);
  EXPECT_EQ(reason_of(*open), "circuit_open");
  EXPECT_EQ(open->header("x-gatedrill-reason"), "circuit_open");
  auto metrics = http_get(admin("/metrics"), quick());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("gatedrill_gateway_upstream_circuit_open 1"), std::string::npos);
}

TEST_F(GatewayTest, RequestsInFlightOverTheLimitAre503) {
  auto config = base_config(idp_, upstream_.url());
  config.data.max_upstream_requests = 1;
  start(std::move(config));
  upstream_.set_delay(std::chrono::milliseconds(800));
  const std::string token = valid_token();
  Result<HttpResponse> slow = make_error("unset", "");
  std::thread first([&] { slow = get(token); });
  ASSERT_TRUE(eventually([&] { return upstream_.seen().size() == 1; }));
  auto second = get(token);
  first.join();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503);
  EXPECT_EQ(second->header("x-gatedrill-reason"), "max_requests");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 200);
  upstream_.set_delay(std::chrono::microseconds(0));
  expect_still_serving();
}

TEST_F(GatewayTest, DecisionLogHasOneJsonLinePerRequest) {
  std::string file = ::testing::TempDir() + "/gw-decisions-" + std::to_string(::getpid()) + ".log";
  std::remove(file.c_str());
  auto config = base_config(idp_, upstream_.url());
  config.name = "gw-7";
  config.audit = AuditLogOptions{file, 1 << 20, 1, 1000};
  config.authorizer =
      std::make_shared<AllowListAuthorizer>(std::vector<AllowRule>{*AllowRule::parse("alice@*")});
  start(std::move(config));
  auto ok = get(valid_token());
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200);
  ASSERT_EQ(get("")->status, 401);
  ASSERT_EQ(get(idp_.token(time_.wall_seconds(), {{"sub", "bob"}}))->status, 403);
  {
    RawConnection c(gateway_->port());
    ASSERT_TRUE(c.send_all("GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
    c.read_until_close();
  }
  gateway_->flush_audit();
  std::ifstream in(file);
  std::vector<boost::json::object> records;
  for (std::string line; std::getline(in, line);) {
    auto doc = parse_json_object(line);
    ASSERT_TRUE(doc) << line;
    records.push_back(*doc);
  }
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].at("status").as_int64(), 200);
  EXPECT_EQ(records[0].at("identity").as_string(), "alice");
  EXPECT_EQ(records[0].at("route").as_string(), "default");
  EXPECT_EQ(records[0].at("method").as_string(), "GET");
  EXPECT_EQ(records[0].at("path").as_string(), "/api/items");
  EXPECT_EQ(records[0].at("node").as_string(), "gw-7");
  EXPECT_EQ(records[0].at("decision_id").as_string(), ok->header("x-request-id"));
  EXPECT_EQ(records[0].at("policy_version").as_string(), "allow-list:1");
  EXPECT_EQ(records[1].at("reason").as_string(), "missing_token");
  EXPECT_EQ(records[2].at("status").as_int64(), 403);
  EXPECT_EQ(records[2].at("identity").as_string(), "bob");
  EXPECT_EQ(records[3].at("status").as_int64(), 400);
  std::remove(file.c_str());
}

TEST_F(GatewayTest, SlowUpstreamIs504) {
  auto config = base_config(idp_, upstream_.url());
  config.data.upstream_timeout = std::chrono::milliseconds(200);
  start(std::move(config));
  upstream_.set_delay(std::chrono::milliseconds(1500));
  auto r = get(valid_token());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(reason_of(*r), "upstream_timeout");
  upstream_.set_delay(std::chrono::microseconds(0));
  expect_still_serving();
}

TEST_F(GatewayTest, OversizedInputsGet431And414And413) {
  start();
  auto big_header = get(valid_token(), {{"x-big", std::string(20 * 1024, 'a')}});
  ASSERT_TRUE(big_header) << big_header.error().message;
  EXPECT_EQ(big_header->status, 431);
  expect_still_serving();

  HeaderList many;
  for (int i = 0; i < 150; ++i) many.emplace_back("x-h" + std::to_string(i), "v");
  auto too_many = get(valid_token(), many);
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status, 431);
  EXPECT_EQ(reason_of(*too_many), "too_many_headers");
  expect_still_serving();

  auto long_uri = http_request("GET", url("/" + std::string(10 * 1024, 'u')),
                               {{"Authorization", "Bearer " + valid_token()}}, {}, quick());
  ASSERT_TRUE(long_uri) << long_uri.error().message;
  EXPECT_EQ(long_uri->status, 414);
  expect_still_serving();

  // A long URI that still fits the parser's header budget is caught by the URI limit itself.
  auto config_uri = http_request("GET", url("/" + std::string(9 * 1024, 'u')), {}, {}, quick());
  ASSERT_TRUE(config_uri);
  EXPECT_EQ(config_uri->status, 414);

  auto big_body = http_request("POST", url(), {{"Authorization", "Bearer " + valid_token()}},
                               std::string(2 << 20, 'b'), quick());
  if (big_body) {  // the gateway may close before the whole body is sent
    EXPECT_EQ(big_body->status, 413);
  }
  expect_still_serving();
}

TEST_F(GatewayTest, MalformedRequestsGet400AndClose) {
  start();
  const std::string auth = "Authorization: Bearer " + valid_token() + "\r\n";
  const std::vector<std::string> bad = {
      "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      "GET /x HTTP/1.1\r\n" + auth + "\r\n",                        // no Host
      "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + auth + "\r\n",  // two Hosts
      "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "GARBAGE\r\n\r\n",
  };
  for (const auto& request : bad) {
    RawConnection c(gateway_->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send_all(request));
    std::string answer = c.read_until_close();
    EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 400") << request << "\n---\n" << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
    expect_still_serving();
  }
}

TEST_F(GatewayTest, KeepAliveAndPipelinedRequestsAnswerInOrder) {
  start();
  const std::string token = valid_token();
  RawConnection c(gateway_->port());
  ASSERT_TRUE(c.connected());
  std::string batch;
  for (int i = 0; i < 3; ++i)
    batch += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " +
             token + "\r\n\r\n";
  ASSERT_TRUE(c.send_all(batch));
  auto responses = c.read_responses(3);
  ASSERT_EQ(responses.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(responses[i].find("hello /p" + std::to_string(i)), std::string::npos) << responses[i];
}

TEST_F(GatewayTest, JwksFetchedWhenTheIdpComesUpLater) {
  idp_.set_down(true);
  start();
  expect_denied(get(valid_token()), 401, "jwks_unavailable");
  idp_.set_down(false);
  EXPECT_TRUE(eventually([&] {
    auto r = get(valid_token());
    return r && r->status == 200;
  }));
}

TEST_F(GatewayTest, JwksUnavailableCanAnswer500) {
  idp_.set_down(true);
  auto config = base_config(idp_, upstream_.url());
  config.jwks_unavailable_status = 500;
  start(std::move(config));
  auto r = get(valid_token());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(reason_of(*r), "jwks_unavailable");
  EXPECT_EQ(r->header("WWW-Authenticate"), "");
}

TEST_F(GatewayTest, ReusePortLetsTwoGatewaysShareTheListener) {
  auto config = base_config(idp_, upstream_.url());
  config.data.reuse_port = true;
  start(config);
  config.data.port = gateway_->port();
  Gateway second(time_, config);
  auto started = second.start();
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(second.port(), gateway_->port());
  for (int i = 0; i < 4; ++i) expect_still_serving();

  auto plain = base_config(idp_, upstream_.url());
  plain.data.port = gateway_->port();
  Gateway third(time_, plain);  // without SO_REUSEPORT the port is taken
  EXPECT_FALSE(third.start());
}

TEST_F(GatewayTest, OverloadTurnsKeepAliveOffThenSheds) {
  auto memory = std::make_shared<std::atomic<int64_t>>(100);
  auto config = base_config(idp_, upstream_.url());
  config.overload.memory_budget_bytes = 1000;
  config.overload.interval = std::chrono::hours(1);  // sampled by the test only
  config.overload.memory_probe = [memory] { return memory->load(); };
  start(std::move(config));
  const std::string auth = "Authorization: Bearer " + valid_token() + "\r\n";
  auto one = [&]() {
    RawConnection c(gateway_->port());
    EXPECT_TRUE(c.send_all("GET /o HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n"));
    auto r = c.read_responses(1);
    return r.empty() ? std::string() : r[0];
  };
  std::string normal = one();
  EXPECT_EQ(normal.substr(0, 12), "HTTP/1.1 200");
  EXPECT_EQ(normal.find("Connection: close"), std::string::npos) << normal;

  memory->store(850);
  gateway_->sample_overload();
  std::string pressured = one();
  EXPECT_EQ(pressured.substr(0, 12), "HTTP/1.1 200");
  EXPECT_NE(pressured.find("Connection: close"), std::string::npos) << pressured;

  memory->store(990);
  gateway_->sample_overload();
  auto shed = get(valid_token());
  ASSERT_TRUE(shed);
  EXPECT_EQ(shed->status, 503);
  EXPECT_EQ(reason_of(*shed), "overloaded");
  auto metrics = http_get(admin("/metrics"), quick());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("gatedrill_gateway_overload_level 2"), std::string::npos);

  memory->store(100);
  gateway_->sample_overload();
  expect_still_serving();
}

TEST_F(GatewayTest, UnknownKidFloodCausesFewJwksFetches) {
  auto config = base_config(idp_, upstream_.url());
  config.jwks.unknown_kid_cooldown = std::chrono::seconds(30);
  start(std::move(config));
  ASSERT_TRUE(eventually([&] { return idp_.fetches() >= 1; }));
  const int64_t now = time_.wall_seconds();
  for (int i = 0; i < 200; ++i)
    expect_denied(get(idp_.token(now, {}, "kid-" + std::to_string(i))), 401, "unknown_kid");
  EXPECT_LE(idp_.fetches(), 3);
  expect_still_serving();
}

TEST_F(GatewayTest, StaleKeysServeWhileTheIdpIsDown) {
  auto config = base_config(idp_, upstream_.url());
  config.jwks.ttl = std::chrono::milliseconds(50);
  start(std::move(config));
  expect_still_serving();
  idp_.set_down(true);
  const int before = idp_.fetches();
  ASSERT_TRUE(eventually([&] { return idp_.fetches() >= before + 2; }));  // refreshes failed
  expect_still_serving();
}

TEST_F(GatewayTest, MetricsCountStatusesReasonsAndCache) {
  start();
  const std::string token = valid_token();
  ASSERT_EQ(get(token)->status, 200);
  ASSERT_EQ(get(token)->status, 200);
  ASSERT_EQ(get("")->status, 401);
  auto metrics = http_get(admin("/metrics"), quick());
  ASSERT_TRUE(metrics);
  const std::string& text = metrics->body;
  EXPECT_NE(text.find("gatedrill_gateway_requests_total{status=\"200\",reason=\"ok\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("gatedrill_gateway_requests_total{status=\"401\",reason=\"missing_token\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("gatedrill_gateway_token_cache_hits_total 1"), std::string::npos);
  EXPECT_NE(text.find("gatedrill_gateway_request_duration_seconds_count 3"), std::string::npos);
  EXPECT_NE(text.find("gatedrill_gateway_jwks_fetches_total"), std::string::npos);
  auto health = http_get(admin("/healthz"), quick());
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(GatewayTest, ServesOverTls) {
  TestDir dir("gw-tls-");
  auto config = base_config(idp_, upstream_.url());
  config.data.tls = write_localhost_certificate(time_, dir);
  start(std::move(config));
  std::string tls_url = "https://127.0.0.1:" + std::to_string(gateway_->port()) + "/secure";
  auto r =
      http_request("GET", tls_url, {{"Authorization", "Bearer " + valid_token()}}, {}, quick());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello /secure");
  auto denied = http_request("GET", tls_url, {}, {}, quick());
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);

  // An open TLS keep-alive connection survives a certificate reload; TLS < 1.2 is refused.
  TlsClient client(gateway_->port());
  ASSERT_TRUE(client.handshaken());
  SSL* ssl = client.ssl();
  auto exchange = [&] {
    std::string request =
        "GET /ka HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + valid_token() + "\r\n\r\n";
    if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) return std::string();
    char buffer[4096];
    int n = SSL_read(ssl, buffer, sizeof buffer);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  };
  EXPECT_EQ(exchange().substr(0, 12), "HTTP/1.1 200");
  auto reload = http_request("POST", admin("/admin/tls/reload"), {}, "", quick());
  ASSERT_TRUE(reload);
  EXPECT_EQ(reload->status, 200);
  EXPECT_EQ(exchange().substr(0, 12), "HTTP/1.1 200") << "the open connection was dropped";

  SSL_CTX* old_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(old_ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old_ctx, TLS1_1_VERSION);
  SSL_CTX_set_security_level(old_ctx, 0);
  TlsClient old_client(gateway_->port(), old_ctx);
  EXPECT_FALSE(old_client.handshaken()) << "TLS 1.1 was accepted";
}

TEST_F(GatewayTest, ForgedTlsRecordGetsBadRecordMacAndTheGatewayServesOn) {
  TestDir dir("gw-tls-forged-");
  auto config = base_config(idp_, upstream_.url());
  config.data.tls = write_localhost_certificate(time_, dir);
  start(std::move(config));
  const uint64_t own_before = tls_record_counts().own;
  TlsClient client(gateway_->port());
  ASSERT_TRUE(client.handshaken());
  // An application-data record whose tag cannot be right, written under the TLS layer.
  const std::string forged = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'x');
  ASSERT_TRUE(client.raw().send_all(forged));
  char buffer[64];
  EXPECT_LE(SSL_read(client.ssl(), buffer, sizeof buffer), 0);
  char reason[256];
  ERR_error_string_n(ERR_peek_error(), reason, sizeof reason);
  EXPECT_NE(std::string(reason).find("bad record mac"), std::string::npos) << reason;
  ERR_clear_error();
  EXPECT_EQ(tls_record_counts().own - own_before, 1u);
  auto next = http_request("GET", "https://127.0.0.1:" + std::to_string(gateway_->port()) + "/n",
                           {{"Authorization", "Bearer " + valid_token()}}, {}, quick());
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->status, 200);
}

TEST_F(GatewayTest, TlsHandshakesOverTheCapWaitForASlotThenAllComplete) {
  TestDir dir("gw-hs-cap-");
  auto config = base_config(idp_, upstream_.url());
  config.data.tls = write_localhost_certificate(time_, dir);
  config.data.threads = 1;
  config.data.max_handshakes_in_flight = 2;
  start(std::move(config));
  const uint16_t admin_port = gateway_->admin_port();
  auto sample = [&](const char* name) { return metric(admin_port, name); };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(gateway_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto connect_client = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };

  // An idle connection holds no slot; two that sent the first byte of a ClientHello hold both.
  const int idle = connect_client();
  const int stuck[2] = {connect_client(), connect_client()};
  for (int fd : stuck) ASSERT_EQ(::send(fd, "\x16", 1, 0), 1);
  EXPECT_TRUE(eventually([&] { return sample("gatedrill_gateway_tls_handshakes_in_flight") == 2; }))
      << sample("gatedrill_gateway_tls_handshakes_in_flight");

  // Four clients handshake and ask: they wait for a slot...
  constexpr int kClients = 4;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  const std::string request =
      "GET /cap HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + valid_token() + "\r\n\r\n";
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, fd = connect_client()] {
      SSL* ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      char buffer[4096];
      if (SSL_connect(ssl) == 1 &&
          SSL_write(ssl, request.data(), static_cast<int>(request.size())) > 0) {
        const int n = SSL_read(ssl, buffer, sizeof buffer);
        if (n >= 12 && std::string_view(buffer, 12) == "HTTP/1.1 200") ++answered;
      }
      SSL_free(ssl);
      ::close(fd);
    });
  EXPECT_TRUE(eventually([&] {
    return sample("gatedrill_gateway_tls_handshakes_waiting") == kClients;
  })) << sample("gatedrill_gateway_tls_handshakes_waiting");
  EXPECT_EQ(sample("gatedrill_gateway_tls_handshakes_in_flight"), 2);
  EXPECT_EQ(answered.load(), 0);

  // ...until the two stuck handshakes end: then all are answered, in the order they came.
  for (int fd : stuck) ::close(fd);
  for (auto& client : clients) client.join();
  SSL_CTX_free(ctx);
  EXPECT_EQ(answered.load(), kClients);
  EXPECT_TRUE(eventually([&] {
    return sample("gatedrill_gateway_tls_handshakes_in_flight") == 0 &&
           sample("gatedrill_gateway_tls_handshakes_waiting") == 0;
  }));
  EXPECT_EQ(sample("gatedrill_gateway_tls_handshakes_queued_total"), kClients);
  EXPECT_EQ(sample("gatedrill_gateway_tls_handshakes_total"), kClients);
  for (const char* stage : {"first_bytes", "slot", "handshake"})
    EXPECT_EQ(sample(("gatedrill_gateway_tls_handshake_timeouts_total{stage=\"" +
                      std::string(stage) + "\"}")
                         .c_str()),
              0)
        << stage;
  EXPECT_EQ(sample("gatedrill_gateway_listen_backlog"), 0);
  EXPECT_GE(sample("gatedrill_gateway_listen_backlog_limit"), 128);
  ::close(idle);
}

}  // namespace
}  // namespace gatedrill::gateway::test

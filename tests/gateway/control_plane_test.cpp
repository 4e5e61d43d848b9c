// The gateway against a real registry on loopback (policy bundles, service discovery) and a
// SIEM sink (UDP and HTTP): no bundle -> 503 no_policy; new revisions are enforced; registry
// offline -> the last good bundle keeps deciding; a route whose service has no live
// registration -> 503 service_not_found, other routes unaffected; mirrored records carry
// headers but never bodies or credentials, and a slow sink drops records instead of slowing
// requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "core/util/json.hpp"
#include "gateway/policy/registry_server.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

using std::chrono::milliseconds;

std::string policy_allowing(const std::string& subject) {
  std::string rego = "package gatedrill.authz\ndefault allow = false\nallow { input.subject == \"" +
                     subject + "\" }\n";
  return to_json(boost::json::object{{"modules", {{"authz.rego", rego}}}, {"author", "test"}});
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RegistryServer::start(time_, {});
    ASSERT_TRUE(server.ok()) << server.error().message;
    registry_ = std::move(*server);
    base_ = "http://127.0.0.1:" + std::to_string(registry_->port());
  }
  void TearDown() override {
    gateway_.reset();
    if (registry_) registry_->stop();
  }

  void start(GatewayConfig c) {
    gateway_ = std::make_unique<Gateway>(time_, std::move(c));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  Result<HttpResponse> get(const std::string& sub, const std::string& path = "/api/items",
                           HeaderList extra = {}) const {
    extra.emplace_back("Authorization",
                       "Bearer " + idp_.token(time_.wall_seconds(), {{"sub", sub}}));
    return http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->port()) + path, extra,
                        {}, quick());
  }
  void publish(const std::string& subject) {
    auto r = http_request("PUT", base_ + "/v1/policies", {}, policy_allowing(subject));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  void fault(const std::string& mode) {
    auto r = http_request("POST", base_ + "/admin/fault", {}, "{\"mode\":\"" + mode + "\"}");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  void register_service(const std::string& service) {
    auto r = http_request("POST", base_ + "/v1/discovery/" + service, {},
                          R"({"address":"127.0.0.1:1","ttl_ms":60000})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  GatewayConfig registry_config() const {
    GatewayConfig c = base_config(idp_, upstream_.url());
    c.registry_url = base_;
    c.registry_poll = milliseconds(50);
    return c;
  }

  SystemTimeSource time_;
  std::unique_ptr<RegistryServer> registry_;
  std::string base_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(ControlPlaneTest, NoBundleFailsClosedThenEachRevisionIsEnforced) {
  start(registry_config());
  auto none = get("alice");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->status, 503) << none->body;
  EXPECT_EQ(reason_of(*none), "no_policy");

  publish("alice");
  ASSERT_TRUE(gateway_->wait_policy_revision(1, milliseconds(5000)));
  auto alice = get("alice");
  auto bob = get("bob");
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(alice->status, 200) << alice->body;
  EXPECT_EQ(bob->status, 403) << bob->body;
  EXPECT_EQ(reason_of(*bob), "policy_denied");

  publish("bob");
  ASSERT_TRUE(gateway_->wait_policy_revision(2, milliseconds(5000)));
  alice = get("alice");
  bob = get("bob");
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(alice->status, 403) << alice->body;
  EXPECT_EQ(bob->status, 200) << bob->body;
  EXPECT_EQ(metric(gateway_->admin_port(), "gatedrill_gateway_policy_revision"), 2);
  // The registry hears which revision this node enforces.
  EXPECT_TRUE(eventually([&] {
    auto nodes = http_get(base_ + "/v1/nodes", quick());
    return nodes && nodes->body.find("\"gw-1\":2") != std::string::npos;
  }));
}

TEST_F(ControlPlaneTest, DecisionCacheIsInvalidatedByANewRevision) {
  GatewayConfig c = registry_config();
  c.authz_cache_ttl = milliseconds(60000);
  start(c);
  publish("alice");
  ASSERT_TRUE(gateway_->wait_policy_revision(1, milliseconds(5000)));
  auto first = get("alice");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  publish("bob");
  ASSERT_TRUE(gateway_->wait_policy_revision(2, milliseconds(5000)));
  auto cached = get("alice");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 403) << cached->body;
}

TEST_F(ControlPlaneTest, RegistryOfflineKeepsTheLastGoodBundle) {
  start(registry_config());
  publish("alice");
  ASSERT_TRUE(gateway_->wait_policy_revision(1, milliseconds(5000)));
  fault("offline");
  EXPECT_TRUE(eventually([&] {
    return metric(gateway_->admin_port(), "gatedrill_gateway_registry_poll_failures") >= 2;
  }));
  auto alice = get("alice");
  auto bob = get("bob");
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(alice->status, 200) << alice->body;
  EXPECT_EQ(bob->status, 403) << bob->body;
  EXPECT_EQ(gateway_->policy_revision(), 1);
  fault("none");
  publish("bob");
  ASSERT_TRUE(gateway_->wait_policy_revision(2, milliseconds(5000)));
  bob = get("bob");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->status, 200) << bob->body;
}

TEST_F(ControlPlaneTest, RouteOfAServiceWithoutRegistrationIs503OthersUnaffected) {
  register_service("orders");
  GatewayConfig c = base_config(idp_, upstream_.url());
  RouteTable routes;
  ASSERT_TRUE(routes.add({"orders", "/api/orders", true, "orders"}));
  ASSERT_TRUE(routes.add({"users", "/api/users", true, ""}));  // service: the route name
  c.routes = std::move(routes);
  c.discovery_url = base_;
  c.discovery_poll = milliseconds(50);
  start(c);
  auto orders = get("alice", "/api/orders/7");
  auto users = get("alice", "/api/users/1");
  ASSERT_TRUE(orders && users);
  EXPECT_EQ(orders->status, 200) << orders->body;
  EXPECT_EQ(users->status, 503) << users->body;
  EXPECT_EQ(reason_of(*users), "service_not_found");
  EXPECT_EQ(users->header("x-gatedrill-reason"), "service_not_found");
  // Unauthenticated clients learn nothing about services.
  auto anonymous =
      http_get("http://127.0.0.1:" + std::to_string(gateway_->port()) + "/api/users", quick());
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);

  register_service("users");
  EXPECT_TRUE(eventually([&] {
    auto r = get("alice", "/api/users/1");
    return r && r->status == 200;
  }));
  // The registry going offline keeps the last known registrations.
  fault("offline");
  EXPECT_TRUE(eventually([&] {
    return metric(gateway_->admin_port(), "gatedrill_gateway_discovery_failures_total") >= 2;
  }));
  orders = get("alice", "/api/orders/7");
  ASSERT_TRUE(orders);
  EXPECT_EQ(orders->status, 200) << orders->body;
}

TEST_F(ControlPlaneTest, RegistryQuotasSetTheLocalLimitPerService) {
  GatewayConfig c = registry_config();
  RouteTable routes;
  ASSERT_TRUE(routes.add({"pay", "/api/pay", true, "payment-gateway"}));
  ASSERT_TRUE(routes.add({"items", "/api/items", true, ""}));
  c.routes = std::move(routes);
  start(c);
  publish("alice");
  ASSERT_TRUE(gateway_->wait_policy_revision(1, milliseconds(5000)));
  // Seed 003's quota block: defaults for every service, an override for payment-gateway.
  const std::string yaml =
      "quota_management:\n  backend: redis\n  defaults:\n    requests_per_second: 1\n"
      "    burst_capacity: 2\n  overrides:\n    - service_id: \"payment-gateway\"\n"
      "      requests_per_second: 1000\n      burst_capacity: 1000\n";
  auto put = http_request("PUT", base_ + "/v1/quotas", {}, yaml, quick());
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200) << put->body;
  // Once applied, the items route (defaults: burst 2) refuses the third request in a row.
  EXPECT_TRUE(eventually([&] {
    int limited = 0;
    for (int i = 0; i < 3; ++i) {
      auto r = get("alice", "/api/items");
      if (r && r->status == 429) ++limited;
    }
    return limited > 0;
  }));
  int pay_ok = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = get("alice", "/api/pay/1");
    if (r && r->status == 200) ++pay_ok;
  }
  EXPECT_EQ(pay_ok, 10);  // the override's 1000/s
}

// A UDP socket on a free loopback port.
class UdpSink {
 public:
  UdpSink() {
    fd_ = bind_loopback(SOCK_DGRAM, port_);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~UdpSink() { ::close(fd_); }
  uint16_t port() const { return port_; }
  std::string receive() {
    char buffer[65536];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST_F(ControlPlaneTest, SiemOverUdpGetsHeadersButNoBodyAndNoCredentials) {
  UdpSink sink;
  GatewayConfig c = base_config(idp_, upstream_.url());
  SiemOptions siem;
  siem.url = "udp://127.0.0.1:" + std::to_string(sink.port());
  c.siem = siem;
  start(c);
  const std::string token = idp_.token(time_.wall_seconds());
  auto r =
      http_request("POST", "http://127.0.0.1:" + std::to_string(gateway_->port()) + "/api/x?q=1",
                   {{"Authorization", "Bearer " + token},
                    {"Cookie", "session=secret-cookie"},
                    {"x-trace", "abc"}},
                   "body-must-not-leak", quick());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  std::string datagram = sink.receive();
  ASSERT_FALSE(datagram.empty());
  auto doc = parse_json_object(datagram);
  ASSERT_TRUE(doc) << datagram;
  EXPECT_EQ(doc->at("method").as_string(), "POST");
  EXPECT_EQ(doc->at("target").as_string(), "/api/x?q=1");
  EXPECT_EQ(doc->at("status").as_int64(), 200);
  EXPECT_EQ(doc->at("identity").as_string(), "alice");
  const auto& headers = doc->at("headers").as_object();
  EXPECT_EQ(headers.at("x-trace").as_string(), "abc");
  EXPECT_EQ(headers.at("authorization").as_string(), "[redacted]");
  EXPECT_EQ(headers.at("cookie").as_string(), "[redacted]");
  EXPECT_EQ(datagram.find(token.substr(0, 20)), std::string::npos);
  EXPECT_EQ(datagram.find("secret-cookie"), std::string::npos);
  EXPECT_EQ(datagram.find("body-must-not-leak"), std::string::npos);
  // Refusals are mirrored too.
  auto denied =
      http_get("http://127.0.0.1:" + std::to_string(gateway_->port()) + "/api/x", quick());
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  auto second = parse_json_object(sink.receive());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->at("status").as_int64(), 401);
  EXPECT_EQ(second->at("reason").as_string(), "missing_token");
}

TEST_F(ControlPlaneTest, SlowHttpSiemDropsRecordsInsteadOfSlowingRequests) {
  // The sink takes 2 s per POST; the mirror's timeout is 1 s and its queue holds 2 records.
  HttpServer sink{HttpServerOptions{}};
  std::atomic<int> posts{0};
  std::string first_body;
  std::mutex body_mutex;
  sink.route("POST", "/siem", [&](const HttpRequest& request) {
    {
      std::lock_guard lock(body_mutex);
      if (first_body.empty()) first_body = request.body;
    }
    ++posts;
    HttpResponse response = json_ok("{}");
    response.delay = std::chrono::seconds(2);
    return response;
  });
  ASSERT_TRUE(sink.start());
  GatewayConfig c = base_config(idp_, upstream_.url());
  SiemOptions siem;
  siem.url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/siem";
  siem.queue_capacity = 2;
  siem.timeout = milliseconds(1000);
  c.siem = siem;
  start(c);
  const int64_t t0 = time_.monotonic_ms();
  for (int i = 0; i < 20; ++i) {
    auto r = get("alice");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_LT(time_.monotonic_ms() - t0, 3000);  // 20 requests never waited on the sink
  EXPECT_GE(metric(gateway_->admin_port(), "gatedrill_gateway_siem_dropped_total"), 10);
  EXPECT_TRUE(eventually([&] { return posts.load() >= 1; }));
  std::lock_guard lock(body_mutex);
  EXPECT_NE(first_body.find("\"type\":\"gatedrill.gateway.request\""), std::string::npos)
      << first_body;
  EXPECT_EQ(first_body.find("Bearer"), std::string::npos);
}

}  // namespace
}  // namespace gatedrill::gateway::test

// Upstream clusters in-process on loopback: routes pick their cluster by path and each cluster's
// upstream sees only its own requests; one cluster's breaker opening leaves the others alone;
// round robin spreads over a cluster's endpoints; https:// clusters verify the upstream's chain
// and name (wrong CA or name -> 502 upstream_tls_error, and the gateway serves the next valid
// request); mTLS to the upstream presents the cluster's client certificate; a discovery cluster
// routes to the address the registry holds; per-cluster metrics.
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/policy/registry_server.hpp"
#include "gateway/proxy/cluster_config.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

using std::chrono::milliseconds;

// A port on 127.0.0.1 that refuses connections: bound, never listening, held for the test.
class RefusingPort {
 public:
  RefusingPort() : fd_(bind_loopback(SOCK_STREAM, port_)) {}
  ~RefusingPort() { ::close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  uint16_t port_ = 0;
  int fd_ = -1;
};

struct TestCa {
  Key key;
  Certificate cert;
};

class ClustersTest : public ::testing::Test {
 protected:
  void TearDown() override { gateway_.reset(); }

  std::string path(const std::string& name) const { return files_.path(name); }
  void write(const std::string& name, const std::string& text) const { files_.write(name, text); }

  TestCa make_ca(const std::string& name) {
    TestCa ca{*Key::generate(KeyType::kEcP256), {}};
    CertRequest r;
    r.common_name = name;
    r.is_ca = true;
    r.server_auth = false;
    r.not_before_s = now() - 3600;
    r.not_after_s = now() + 86400;
    ca.cert = *issue_certificate(r, ca.key, "", ca.key);
    write(name + ".pem", ca.cert.pem);
    return ca;
  }
  // `name`.pem (chain) and `name`.key issued by `ca` for `request`.
  void issue(const std::string& name, const TestCa& ca, CertRequest request) {
    auto key = *Key::generate(KeyType::kEcP256);
    request.not_before_s = now() - 3600;
    request.not_after_s = now() + 86400;
    auto cert = issue_certificate(request, key, ca.cert.pem, ca.key);
    ASSERT_TRUE(cert) << cert.error().message;
    write(name + ".pem", cert->pem + ca.cert.pem);
    write(name + ".key", key.private_pem());
  }
  void server_cert(const std::string& name, const TestCa& ca) {
    CertRequest r;
    r.common_name = "upstream";
    r.ip_addresses = {"127.0.0.1"};
    r.dns_names = {"upstream.test"};
    issue(name, ca, r);
  }
  int64_t now() const { return time_.wall_seconds(); }

  void start(const std::string& routes_json, const std::string& clusters_json,
             GatewayConfig config) {
    auto routes = RouteTable::from_json(routes_json);
    ASSERT_TRUE(routes) << routes.error().message;
    config.routes = std::move(*routes);
    auto clusters = parse_clusters_json(clusters_json, ClusterOptions{});
    ASSERT_TRUE(clusters) << clusters.error().message;
    config.data.clusters = std::move(*clusters);
    gateway_ = std::make_unique<Gateway>(time_, std::move(config));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  void start(const std::string& routes_json, const std::string& clusters_json) {
    start(routes_json, clusters_json, base_config(idp_, default_.url()));
  }

  Result<HttpResponse> get(const std::string& target) const {
    return http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->port()) + target,
                        {{"Authorization", "Bearer " + idp_.token(now())}}, {}, quick());
  }
  double metric(const std::string& sample) const {
    return test::metric(gateway_->admin_port(), sample);
  }

  SystemTimeSource time_;
  TestDir files_{"gw-clusters-"};
  FakeIdp idp_;
  FakeUpstream default_;
  std::unique_ptr<Gateway> gateway_;
};

bool saw(const FakeUpstream& upstream, const std::string& prefix) {
  for (const auto& r : upstream.seen())
    if (r.path.rfind(prefix, 0) != 0) return false;
  return !upstream.seen().empty();
}

TEST_F(ClustersTest, EachClusterSeesOnlyItsRoutesRequests) {
  FakeUpstream a, b;
  start(R"([{"name": "a", "prefix": "/a", "cluster": "alpha"},
            {"name": "b", "prefix": "/b", "cluster": "beta"},
            {"name": "rest", "prefix": "/"}])",
        R"([{"name": "alpha", "endpoints": [")" + a.url() + R"("]},
            {"name": "beta", "endpoints": [")" +
            b.url() + R"("]}])");
  for (const char* target : {"/a/1", "/b/1", "/other", "/a/2", "/b/2", "/b/3"}) {
    auto r = get(target);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200) << target << ": " << r->body;
    EXPECT_EQ(r->body, std::string("hello ") + target);
  }
  EXPECT_EQ(a.seen().size(), 2u);
  EXPECT_EQ(b.seen().size(), 3u);
  EXPECT_EQ(default_.seen().size(), 1u);
  EXPECT_TRUE(saw(a, "/a/"));
  EXPECT_TRUE(saw(b, "/b/"));
  EXPECT_TRUE(saw(default_, "/other"));
  // Each cluster's Host is its own endpoint's authority.
  EXPECT_EQ(a.seen().front().header("host"), a.url().substr(7));
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_requests_total{cluster="alpha"})"), 2);
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_requests_total{cluster="beta"})"), 3);
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_requests_total{cluster="default"})"), 1);
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_endpoints{cluster="beta"})"), 1);
  // Keep-alive pools per cluster: one connection each after sequential requests.
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_connections{cluster="beta"})"), 1);
}

TEST_F(ClustersTest, OneClustersBreakerOpeningLeavesTheOthersAlone) {
  RefusingPort down;
  FakeUpstream good;
  start(R"([{"name": "down", "prefix": "/down", "cluster": "down"},
            {"name": "good", "prefix": "/good", "cluster": "good"}])",
        R"([{"name": "down", "endpoints": [")" + down.url() +
            R"("], "breaker_failures": 2, "breaker_open_for": "60s"},
            {"name": "good", "endpoints": [")" +
            good.url() + R"("], "breaker_failures": 2}])");
  for (int i = 0; i < 2; ++i) {
    auto r = get("/down/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(reason_of(*r), "upstream_connect_error");
  }
  auto open = get("/down/x");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->status, 503);
  EXPECT_EQ(reason_of(*open), "circuit_open");
  EXPECT_EQ(open->header("x-gatedrill-reason"), "circuit_open");
  for (int i = 0; i < 3; ++i) {
    auto r = get("/good/x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  EXPECT_EQ(good.seen().size(), 3u);
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_circuit_open{cluster="down"})"), 1);
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_circuit_open{cluster="good"})"), 0);
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_circuit_open{cluster="default"})"), 0);
  EXPECT_EQ(
      metric(
          R"(gatedrill_gateway_cluster_errors_total{cluster="down",reason="upstream_connect_error"})"),
      2);
  EXPECT_EQ(
      metric(R"(gatedrill_gateway_cluster_errors_total{cluster="down",reason="circuit_open"})"), 1);
  EXPECT_EQ(
      metric(
          R"(gatedrill_gateway_cluster_errors_total{cluster="good",reason="upstream_connect_error"})"),
      0);
}

TEST_F(ClustersTest, RoundRobinSpreadsOverTheEndpoints) {
  FakeUpstream one, two;
  start(R"([{"name": "svc", "prefix": "/svc", "cluster": "pair"}])",
        R"([{"name": "pair", "endpoints": [")" + one.url() + R"(", ")" + two.url() + R"("]}])");
  for (int i = 0; i < 6; ++i) {
    auto r = get("/svc/" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  EXPECT_EQ(one.seen().size(), 3u);
  EXPECT_EQ(two.seen().size(), 3u);
  EXPECT_TRUE(default_.seen().empty());
}

TEST_F(ClustersTest, LeastRequestsAvoidsTheBusyEndpoint) {
  FakeUpstream slow, fast;
  slow.set_delay(std::chrono::milliseconds(800));
  start(R"([{"name": "svc", "prefix": "/svc", "cluster": "lr"}])",
        R"([{"name": "lr", "lb": "least_requests", "endpoints": [")" + slow.url() + R"(", ")" +
            fast.url() + R"("]}])");
  // With nothing in flight the first pick is the first endpoint (the slow one); while that
  // request is in flight there, every other request goes to the idle endpoint.
  std::thread first([&] { (void)get("/svc/first"); });
  ASSERT_TRUE(eventually([&] { return slow.seen().size() == 1; }));
  for (int i = 0; i < 4; ++i) {
    auto r = get("/svc/" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  first.join();
  EXPECT_EQ(slow.seen().size(), 1u);
  EXPECT_EQ(fast.seen().size(), 4u);
}

TEST_F(ClustersTest, HttpsClusterVerifiesTheUpstreamAndServesAfterATlsFailure) {
  TestCa ca = make_ca("ca");
  TestCa other = make_ca("other-ca");
  server_cert("upstream", ca);
  TlsUpstream upstream(path("upstream.pem"), path("upstream.key"));
  start(R"([{"name": "ok", "prefix": "/ok", "cluster": "secure"},
            {"name": "named", "prefix": "/named", "cluster": "by-name"},
            {"name": "wrong-ca", "prefix": "/wrong-ca", "cluster": "wrong-ca"},
            {"name": "wrong-name", "prefix": "/wrong-name", "cluster": "wrong-name"}])",
        R"([{"name": "secure", "endpoints": [")" + upstream.url() + R"("],
             "tls": {"ca": ")" +
            path("ca.pem") + R"("}},
            {"name": "by-name", "endpoints": [")" +
            upstream.url() + R"("],
             "tls": {"ca": ")" +
            path("ca.pem") + R"(", "sni": "upstream.test"}},
            {"name": "wrong-ca", "endpoints": [")" +
            upstream.url() + R"("],
             "tls": {"ca": ")" +
            path("other-ca.pem") + R"("}},
            {"name": "wrong-name", "endpoints": [")" +
            upstream.url() + R"("],
             "tls": {"ca": ")" +
            path("ca.pem") + R"(", "sni": "someone-else.test"}}])");
  auto ok = get("/ok/1");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(ok->body, "tls /ok/1");
  auto named = get("/named/1");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 200) << named->body;
  EXPECT_EQ(upstream.seen(), 2);

  for (const char* target : {"/wrong-ca/1", "/wrong-name/1"}) {
    auto bad = get(target);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 502) << target << ": " << bad->body;
    EXPECT_EQ(reason_of(*bad), "upstream_tls_error") << target;
    // ... and the gateway still serves a valid request right after.
    auto after = get("/ok/2");
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_EQ(after->status, 200) << after->body;
  }
  EXPECT_EQ(upstream.seen(), 4);  // the refused handshakes never carried a request
  EXPECT_EQ(
      metric(
          R"(gatedrill_gateway_cluster_errors_total{cluster="wrong-ca",reason="upstream_tls_error"})"),
      1);
  EXPECT_EQ(metric(R"(gatedrill_gateway_upstream_errors_total{kind="tls"})"), 2);
}

TEST_F(ClustersTest, TheDefaultClusterCanBeHttps) {
  TestCa ca = make_ca("ca");
  server_cert("upstream", ca);
  TlsUpstream upstream(path("upstream.pem"), path("upstream.key"));
  GatewayConfig c = base_config(idp_, upstream.url());  // --upstream https://127.0.0.1:P
  c.data.upstream_tls = UpstreamTlsOptions{path("ca.pem"), "upstream.test", "", ""};
  start(R"([{"name": "all", "prefix": "/"}])", "[]", std::move(c));
  auto r = get("/x");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, "tls /x");
  EXPECT_EQ(upstream.seen(), 1);
}

TEST_F(ClustersTest, SilentTlsUpstreamIsATimeoutNotATlsError) {
  make_ca("ca");
  uint16_t port = 0;
  const int silent = listen_loopback(port);  // the kernel accepts; nobody ever answers
  start(R"([{"name": "s", "prefix": "/s", "cluster": "silent"}])",
        R"([{"name": "silent", "endpoints": ["https://127.0.0.1:)" + std::to_string(port) +
            R"("], "connect_timeout": "300ms", "tls": {"ca": ")" + path("ca.pem") + R"("}}])");
  auto r = get("/s/1");
  ::close(silent);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_EQ(reason_of(*r), "upstream_timeout");
  auto fine = get("/other");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 404);  // no route: the gateway answers on
}

TEST_F(ClustersTest, MtlsToTheUpstreamPresentsTheClusterCertificate) {
  // The upstream is a second gateway whose mTLS listener requires a SPIFFE client certificate
  // and passes the identity on: it proves the first one presented the cluster's certificate.
  TestCa ca = make_ca("ca");
  server_cert("upstream", ca);
  CertRequest svid;
  svid.uris = {"spiffe://gatedrill.test/ns/edge/sa/gateway"};
  svid.server_auth = false;
  svid.client_auth = true;
  issue("client", ca, svid);
  GatewayConfig inner_config = base_config(idp_, default_.url());
  MtlsListenerOptions m;
  m.cert_chain_file = path("upstream.pem");
  m.key_file = path("upstream.key");
  m.client_ca_file = path("ca.pem");
  m.trust_domain = "gatedrill.test";
  inner_config.data.mtls = m;
  Gateway inner(time_, std::move(inner_config));
  auto inner_started = inner.start();
  ASSERT_TRUE(inner_started) << inner_started.error().message;
  const std::string inner_url = "https://127.0.0.1:" + std::to_string(inner.mtls_port());
  start(R"([{"name": "m", "prefix": "/m", "cluster": "mesh"},
            {"name": "n", "prefix": "/n", "cluster": "no-cert"}])",
        R"([{"name": "mesh", "endpoints": [")" + inner_url + R"("],
             "tls": {"ca": ")" +
            path("ca.pem") + R"(", "cert": ")" + path("client.pem") + R"(", "key": ")" +
            path("client.key") + R"("}},
            {"name": "no-cert", "endpoints": [")" +
            inner_url + R"("],
             "tls": {"ca": ")" +
            path("ca.pem") + R"("}}])");
  auto r = get("/m/1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(default_.seen().size(), 1u);
  EXPECT_EQ(default_.seen().front().header("x-gatedrill-spiffe-id"),
            "spiffe://gatedrill.test/ns/edge/sa/gateway");
  auto refused = get("/n/1");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 502) << refused->body;
  EXPECT_EQ(reason_of(*refused), "upstream_tls_error");
}

TEST_F(ClustersTest, DiscoveryClusterRoutesToTheRegisteredAddress) {
  auto server = RegistryServer::start(time_, {});
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto registry = std::move(*server);
  const std::string base = "http://127.0.0.1:" + std::to_string(registry->port());
  FakeUpstream orders;
  GatewayConfig c = base_config(idp_, default_.url());
  c.discovery_url = base;
  c.discovery_poll = milliseconds(50);
  // The route's service gates it; the cluster's endpoints are that service's instances.
  start(R"([{"name": "orders", "prefix": "/orders", "service": "orders", "cluster": "orders"},
            {"name": "pinned", "prefix": "/pinned", "service": "orders"}])",
        R"([{"name": "orders", "service": "orders"}])", std::move(c));
  auto before = get("/orders/1");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 503);
  EXPECT_EQ(reason_of(*before), "service_not_found");

  auto r = http_request("POST", base + "/v1/discovery/orders", {},
                        R"({"address":")" + orders.url() + R"(","ttl_ms":60000})");
  ASSERT_TRUE(r && r->status == 200);
  ASSERT_TRUE(eventually([&] {
    auto got = get("/orders/2");
    return got && got->status == 200;
  }));
  EXPECT_FALSE(orders.seen().empty());
  EXPECT_TRUE(saw(orders, "/orders/"));
  // A route of the same service without the cluster still goes to the default upstream.
  auto pinned = get("/pinned/1");
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->status, 200);
  EXPECT_TRUE(saw(default_, "/pinned/"));
  EXPECT_EQ(metric(R"(gatedrill_gateway_cluster_endpoints{cluster="orders"})"), 1);
  gateway_.reset();
  registry->stop();
}

TEST_F(ClustersTest, PendingRequestsWaitForAConnectionSlot) {
  FakeUpstream slow;
  slow.set_delay(std::chrono::milliseconds(300));
  start(R"([{"name": "q", "prefix": "/q", "cluster": "queue"},
            {"name": "n", "prefix": "/n", "cluster": "no-queue"}])",
        R"([{"name": "queue", "endpoints": [")" + slow.url() +
            R"("], "max_connections": 1, "max_pending": 1},
            {"name": "no-queue", "endpoints": [")" +
            slow.url() + R"("], "max_connections": 1}])");
  auto status_of = [&](const std::string& target) {
    auto r = get(target);
    return r ? r->status : 0;
  };
  // Two at once on one connection slot: with one pending allowed, both are answered.
  std::vector<int> statuses(2, 0);
  std::thread t0([&] { statuses[0] = status_of("/q/0"); });
  std::thread t1([&] { statuses[1] = status_of("/q/1"); });
  t0.join();
  t1.join();
  EXPECT_EQ(statuses[0], 200);
  EXPECT_EQ(statuses[1], 200);
  EXPECT_EQ(slow.seen().size(), 2u);
  // Without a pending allowance, the second overflows at once while the first holds the slot.
  std::thread holder([&] { statuses[0] = status_of("/n/0"); });
  ASSERT_TRUE(eventually([&] { return slow.seen().size() == 3; }));
  auto over = get("/n/1");
  holder.join();
  ASSERT_TRUE(over);
  EXPECT_EQ(statuses[0], 200);
  EXPECT_EQ(over->status, 503);
  EXPECT_EQ(reason_of(*over), "max_connections");
  EXPECT_EQ(over->header("x-gatedrill-reason"), "max_connections");
}

TEST(ClusterConfigTest, BadEntriesNameTheEntryAndTheField) {
  auto error = [](const std::string& json) {
    auto r = parse_clusters_json(json, ClusterOptions{});
    return r ? std::string("<accepted>") : r.error().message;
  };
  EXPECT_NE(error("{").find("invalid JSON"), std::string::npos) << error("{");
  EXPECT_EQ(error("{}"), "clusters must be a JSON array");
  EXPECT_EQ(error(R"([{"endpoints": ["http://127.0.0.1:1"]}])"), "clusters[0] needs a name");
  EXPECT_EQ(error(R"([{"name": "a"}])"),
            "clusters[0] (a) needs endpoints or a service (discovery)");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": []}])"),
            "clusters[0] (a): endpoints must be a non-empty array of URLs");
  EXPECT_NE(
      error(R"([{"name": "a", "endpoints": ["ftp://x:1"]}])").find("clusters[0] (a): endpoints[0]"),
      std::string::npos);
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1", "https://h:2"]}])"),
            "clusters[0] (a): endpoints[1]: all endpoints must use one scheme");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1/x"]}])"),
            "clusters[0] (a): endpoints[0] must be scheme://host:port without a path");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1"]},
                      {"name": "a", "endpoints": ["http://h:2"]}])"),
            "clusters[1] (a): a cluster of that name exists already");
  EXPECT_EQ(error(R"([{"name": "default", "endpoints": ["http://h:1"]}])"),
            "clusters[0]: the name 'default' is the --upstream cluster (reserved)");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1"], "lb": "random"}])"),
            "clusters[0] (a): lb must be round_robin or least_requests (got 'random')");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1"], "timeout": "0s"}])"),
            "clusters[0] (a): timeout must be > 0");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1"], "max_connections": 0}])"),
            "clusters[0] (a): max_connections must be 1..10000000");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1"], "max_concurrent_streams": 0}])"),
            "clusters[0] (a): max_concurrent_streams must be 1..10000000");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1"], "retries": 3}])"),
            "clusters[0] (a): unknown key 'retries'");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["http://h:1"], "tls": {"ca": "x"}}])"),
            "clusters[0] (a): tls needs https:// endpoints");
  EXPECT_EQ(
      error(
          R"([{"name": "a", "endpoints": ["https://h:1"], "tls": {"ca": "/nonexistent/ca.pem"}}])"),
      "clusters[0] (a): tls.ca: cannot read /nonexistent/ca.pem");
  EXPECT_EQ(error(R"([{"name": "a", "endpoints": ["https://h:1"], "tls": {"pin": "x"}}])"),
            "clusters[0] (a): unknown key tls.pin (ca, sni, cert, key)");
  EXPECT_EQ(error(R"([{"name": "a", "service": "s", "endpoints": ["http://h:1"]}])"),
            "clusters[0] (a): endpoints and service exclude each other (service: from discovery)");
}

TEST(ClusterConfigTest, OmittedFieldsComeFromTheDefaults) {
  ClusterOptions defaults;
  defaults.timeout = milliseconds(1234);
  defaults.max_requests = 7;
  defaults.max_concurrent_streams = 9;
  auto r = parse_clusters_json(
      R"([{"name": "a", "endpoints": ["https://127.0.0.1:8443"], "lb": "least_requests",
           "max_pending": 3, "breaker_failures": 0}])",
      defaults);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  const ClusterOptions& a = r->front();
  EXPECT_EQ(a.timeout, milliseconds(1234));
  EXPECT_EQ(a.max_requests, 7u);
  EXPECT_EQ(a.max_concurrent_streams, 9u);
  EXPECT_EQ(a.max_pending, 3u);
  EXPECT_EQ(a.breaker.consecutive_failures, 0);
  EXPECT_EQ(a.lb, LbPolicy::kLeastRequests);
  ASSERT_TRUE(a.tls.has_value());  // https:// without "tls": the system's trust store
  EXPECT_TRUE(a.tls->ca_file.empty());
  EXPECT_EQ(parse_endpoint_address("127.0.0.1:9000")->authority(), "127.0.0.1:9000");
  EXPECT_EQ(parse_endpoint_address("http://10.0.0.1:80")->host, "10.0.0.1");
  EXPECT_FALSE(parse_endpoint_address("no port here"));
}

}  // namespace
}  // namespace gatedrill::gateway::test

// Routes from the registry (seed 003): the registry's table parsed and checked
// (route_table_from_registry), a bad table refused with the last good one kept (RegistryRoutes
// against a stand-in registry), then real processes: `gatedrill registry` and a gateway routing
// by the published table, a new version taking effect, the registry offline, 50,000 routes.
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "core/http/http_server.hpp"
#include "core/supervisor/free_port.hpp"
#include "core/util/json.hpp"
#include "gateway/routing/registry_routes.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

TEST(RouteTableFromRegistry, PrefixRoutesNamedAfterTheirService) {
  std::string hash;
  auto table = route_table_from_registry(
      R"({"hash":"fnv:1","routes":[{"prefix":"/api/orders","service":"orders","cluster":"c"},
                                   {"prefix":"/","service":"web"}]})",
      &hash);
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_EQ(hash, "fnv:1");
  ASSERT_EQ(table->size(), 2u);
  const Route* r = table->match("/api/orders/7");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->name, "orders");
  EXPECT_EQ(r->service, "orders");
  EXPECT_EQ(r->cluster, "c");
  EXPECT_EQ(table->match("/api/ordersX")->name, "web");
  EXPECT_TRUE(table->match("/api/ordersX")->cluster.empty());
}

TEST(RouteTableFromRegistry, BadTablesAreRefusedNamingTheEntry) {
  std::string hash = "kept";
  for (
      const char* bad : {
          "not json",
          R"({"routes":[]})",                                           // no hash
          R"({"hash":"h","routes":{}})",                                // not a list
          R"({"hash":"h","routes":[{"prefix":"api","service":"a"}]})",  // not '/'
          R"({"hash":"h","routes":[{"prefix":"/a","service":""}]})",    // no service
          R"({"hash":"h","routes":[{"prefix":"/a","service":"a","cluster":5}]})",
          R"({"hash":"h","routes":[{"prefix":"/a","service":"a"},{"prefix":"/a/","service":"b"}]})",
      }) {
    auto table = route_table_from_registry(bad, &hash);
    ASSERT_FALSE(table) << bad;
    EXPECT_EQ(table.error().code, "bad_routes") << bad;
  }
  EXPECT_EQ(hash, "kept");
  auto dup = route_table_from_registry(
      R"({"hash":"h","routes":[{"prefix":"/a","service":"a"},{"prefix":"/a/","service":"b"}]})",
      &hash);
  EXPECT_NE(dup.error().message.find("routes[1]"), std::string::npos) << dup.error().message;
}

std::shared_ptr<const RouteSnapshot> snapshot_of(const std::string& prefix) {
  RouteTable table;
  EXPECT_TRUE(table.add(Route{"r", prefix, true, "s"}));
  return std::make_shared<const RouteSnapshot>(RouteSnapshot{table, {0}, prefix});
}

TEST(CurrentRoutes, EachInstanceGivesItsOwnLatestTableOnEveryThread) {
  CurrentRoutes a, b;
  EXPECT_EQ(a.get(), nullptr);
  a.store(snapshot_of("/a1"));
  b.store(snapshot_of("/b1"));
  // One thread alternating between two gateways' tables gets each one's own.
  EXPECT_EQ(a.get()->version, "/a1");
  EXPECT_EQ(b.get()->version, "/b1");
  EXPECT_EQ(a.get()->version, "/a1");
  a.store(snapshot_of("/a2"));
  EXPECT_EQ(a.get()->version, "/a2");
  // Another thread sees the swap on its next get(); the table it held stays valid meanwhile.
  std::string seen_before, seen_after;
  std::atomic<int> step{0};
  std::thread reader([&] {
    seen_before = a.get()->version;
    step = 1;
    while (step.load() != 2) std::this_thread::yield();
    seen_after = a.get()->version;
  });
  while (step.load() != 1) std::this_thread::yield();
  a.store(snapshot_of("/a3"));
  step = 2;
  reader.join();
  EXPECT_EQ(seen_before, "/a2");
  EXPECT_EQ(seen_after, "/a3");
}

// A stand-in registry serving whatever body the test sets, honouring If-None-Match.
class StandInRegistry {
 public:
  StandInRegistry() {
    HttpServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    server_ = std::make_unique<HttpServer>(o);
    server_->route("GET", "/v1/routes", [this](const HttpRequest& r) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++fetches_;
      HttpResponse resp;
      if (!etag_.empty() && r.header("if-none-match") == etag_)
        resp.status = 304;
      else
        resp.body = body_;
      resp.headers.push_back({"etag", etag_});
      return resp;
    });
    EXPECT_TRUE(server_->start());
  }
  ~StandInRegistry() { server_->stop(); }
  void serve(std::string etag, std::string body) {
    std::lock_guard<std::mutex> lock(mutex_);
    etag_ = std::move(etag);
    body_ = std::move(body);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  std::unique_ptr<HttpServer> server_;
  std::mutex mutex_;
  std::string etag_, body_;
  int fetches_ = 0;
};

TEST(RegistryRoutes, ABadTableIsRefusedCountedAndTheLastGoodStays) {
  StandInRegistry registry;
  std::shared_ptr<const RouteSnapshot> applied;
  int applies = 0;
  std::string refused_why;
  RegistryRoutesOptions o;
  o.registry_url = registry.url();
  o.apply = [&](std::shared_ptr<const RouteSnapshot> next) {
    applied = std::move(next);
    ++applies;
  };
  o.on_refused = [&](const std::string& why) { refused_why = why; };
  RegistryRoutes routes(o);

  registry.serve("h1", R"({"hash":"h1","routes":[{"prefix":"/a","service":"a"}]})");
  ASSERT_TRUE(routes.poll_once());
  ASSERT_EQ(applies, 1);
  EXPECT_EQ(applied->version, "h1");
  EXPECT_EQ(routes.version(), "h1");
  ASSERT_EQ(applied->clusters.size(), 1u);
  // Unchanged: a 304, nothing rebuilt.
  ASSERT_TRUE(routes.poll_once());
  EXPECT_EQ(applies, 1);

  registry.serve("h2", R"({"hash":"h2","routes":[{"prefix":"nope","service":"a"}]})");
  ASSERT_TRUE(routes.poll_once());
  EXPECT_EQ(applies, 1);
  EXPECT_EQ(routes.refused(), 1);
  EXPECT_NE(refused_why.find("must start with '/'"), std::string::npos) << refused_why;
  EXPECT_EQ(routes.version(), "h1");
  EXPECT_NE(applied->table.match("/a/x"), nullptr);
  // The refused table is not fetched and counted again until another one is published.
  ASSERT_TRUE(routes.poll_once());
  EXPECT_EQ(routes.refused(), 1);

  // A table the gateway's clusters cannot resolve is refused the same way.
  o.resolve_clusters = [](const RouteTable&) -> Result<std::vector<size_t>> {
    return make_error("bad_clusters", "no such cluster");
  };
  RegistryRoutes strict(o);
  registry.serve("h3", R"({"hash":"h3","routes":[{"prefix":"/b","service":"b"}]})");
  ASSERT_TRUE(strict.poll_once());
  EXPECT_EQ(strict.refused(), 1);
  EXPECT_EQ(strict.version(), "");
  EXPECT_EQ(applies, 1);
}

TEST(RegistryRoutes, UnreachableRegistryIsAFailureAndNoTable) {
  auto port = allocate_port();  // reserved, nobody listens on it: connection refused
  ASSERT_TRUE(port);
  RegistryRoutesOptions o;
  o.registry_url = "http://127.0.0.1:" + std::to_string(*port);
  RegistryRoutes routes(o);
  EXPECT_FALSE(routes.poll_once());
  EXPECT_EQ(routes.failures(), 1);
  EXPECT_EQ(routes.version(), "");
}

// The gateway's /admin/routes.
struct RoutesStatus {
  std::string version;
  int64_t routes = -1;
};
RoutesStatus routes_status(int64_t admin_port) {
  auto r = http_get("http://127.0.0.1:" + std::to_string(admin_port) + "/admin/routes", quick());
  if (!r || r->status != 200) return {};
  auto doc = parse_json_object(r->body);
  if (!doc) return {};
  auto version = json_string(*doc, "version");
  auto routes = json_int(*doc, "routes");
  return {version && *version ? **version : "", routes && *routes ? **routes : -1};
}

// `gatedrill registry` (with a policy allowing GET) and a `gatedrill gateway` polling it, both
// child processes on free ports, stopped by PID (SIGTERM: each must exit 0).
class RegistryRoutesProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<Child>(std::vector<std::string>{"registry", "--port", "0"});
    const int64_t port = ready_field(registry_->read_line(), "port");
    ASSERT_GT(port, 0);
    registry_url_ = "http://127.0.0.1:" + std::to_string(port);
    send(
        "PUT", "/v1/policies",
        R"({"modules":{"authz.rego":"package gatedrill.authz\ndefault allow = false\nallow { input.method == \"GET\" }\n"},"author":"t"})");
  }
  void TearDown() override {
    for (Child* c : {gw_.get(), registry_.get()}) {
      if (!c) continue;
      ASSERT_EQ(::kill(c->pid(), SIGTERM), 0);
      EXPECT_EQ(c->wait_exit(std::chrono::seconds(10)), 0);
    }
  }

  // A call to the registry that must answer 200; the answer's "hash" (empty when none).
  std::string send(const char* method, const std::string& path, const std::string& body) {
    auto r = http_request(method, registry_url_ + path, {}, body, quick(std::chrono::seconds(10)));
    EXPECT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : r.error().message);
    if (!r) return std::string();
    auto doc = parse_json_object(r->body);
    if (!doc) return std::string();
    auto hash = json_string(*doc, "hash");
    return hash && *hash ? **hash : std::string();
  }

  // The gateway named `name` polling the registry every 100 ms, plus `extra` flags.
  void start_gateway(const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args{
        "gateway",       "--name",        name,          "--plaintext",     "--listen",
        "127.0.0.1:0",   "--admin-port",  "0",           "--issuer",        idp_.issuer(),
        "--jwks-uri",    idp_.jwks_uri(), "--audience",  "gatedrill",       "--upstream",
        upstream_.url(), "--registry",    registry_url_, "--registry-poll", "100ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    gw_ = std::make_unique<Child>(std::move(args));
    const std::string ready = gw_->read_line();
    gw_port_ = ready_field(ready, "port");
    admin_port_ = ready_field(ready, "admin_port");
    ASSERT_GT(gw_port_, 0) << ready;
    ASSERT_GT(admin_port_, 0) << ready;
    token_ = idp_.token(time_.wall_seconds());
  }

  // A GET through the gateway with a valid token: "200", or the status and the reason.
  std::string status_of(const std::string& path) {
    auto r = http_request("GET", "http://127.0.0.1:" + std::to_string(gw_port_) + path,
                          {{"Authorization", "Bearer " + token_}}, {}, quick());
    if (!r) return "error";
    return std::to_string(r->status) + (r->status == 200 ? "" : " " + reason_of(*r));
  }
  RoutesStatus routes() const { return routes_status(admin_port_); }
  double gw_metric(const std::string& sample) const {
    return metric(static_cast<uint16_t>(admin_port_), sample);
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::unique_ptr<Child> registry_, gw_;
  std::string registry_url_, token_;
  int64_t gw_port_ = 0, admin_port_ = 0;
};

TEST_F(RegistryRoutesProcess, GatewayRoutesByThePublishedTableThroughChangesAndOutages) {
  TestDir dir("registry-routes");
  dir.write("routes.json", R"([{"name": "file", "prefix": "/file"}])");
  start_gateway("gw-routes", {"--routes", dir.path("routes.json")});
  if (HasFatalFailure()) return;

  // Before the registry has routes, the --routes file routes.
  EXPECT_TRUE(eventually([&] { return status_of("/file/x") == "200"; })) << status_of("/file/x");
  EXPECT_EQ(status_of("/api/a"), "404 no_route");
  EXPECT_EQ(routes().version, "file");

  // Published: the registry's table wins over the file.
  const std::string v1 =
      send("PUT", "/v1/routes", R"({"routes":[{"prefix":"/api/a","service":"a"}]})");
  ASSERT_FALSE(v1.empty());
  EXPECT_TRUE(eventually([&] { return routes().version == v1; }));
  EXPECT_EQ(status_of("/api/a/1"), "200");
  EXPECT_EQ(status_of("/file/x"), "404 no_route");
  EXPECT_EQ(status_of("/api/b"), "404 no_route");
  EXPECT_EQ(gw_metric("gatedrill_gateway_routes_info{version=\"" + v1 + "\"}"), 1);
  // The registry hears which table this node enforces.
  EXPECT_TRUE(eventually([&] {
    auto r = http_get(registry_url_ + "/v1/nodes", quick());
    auto doc = r ? parse_json_object(r->body) : Result<boost::json::object>(r.error());
    if (!doc) return false;
    const auto* enforced = doc->if_contains("routes_enforced");
    const auto* mine = enforced && enforced->is_object()
                           ? enforced->as_object().if_contains("gw-routes")
                           : nullptr;
    return mine && mine->is_string() && mine->as_string() == v1 &&
           doc->at("routes_lagging").as_array().empty();
  }));

  // A new version takes effect and is reported, while a request routed by the old one is in
  // flight (the upstream holds it): that request completes, and its keep-alive connection
  // carries the next request, routed by the new table.
  RawConnection conn(static_cast<uint16_t>(gw_port_));
  ASSERT_TRUE(conn.connected());
  auto request = [&](const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + token_ + "\r\n\r\n";
  };
  constexpr int64_t kHoldMs = 3000;
  upstream_.set_delay(std::chrono::milliseconds(kHoldMs));
  const int64_t sent_ms = time_.monotonic_ms();
  ASSERT_TRUE(conn.send_all(request("/api/a/in-flight")));
  ASSERT_TRUE(eventually([&] {
    auto seen = upstream_.seen();
    return !seen.empty() && seen.back().path == "/api/a/in-flight";
  }));
  const std::string v2 =
      send("PUT", "/v1/routes", R"({"routes":[{"prefix":"/api/b","service":"b"}]})");
  ASSERT_NE(v2, v1);
  EXPECT_TRUE(eventually([&] { return routes().version == v2; }));
  EXPECT_LT(time_.monotonic_ms() - sent_ms, kHoldMs) << "the swap came after the request ended";
  auto held = conn.read_responses(1);
  upstream_.set_delay(std::chrono::milliseconds(0));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].rfind("HTTP/1.1 200", 0), 0u) << held[0];
  ASSERT_TRUE(conn.send_all(request("/api/b/same-connection")));
  auto next = conn.read_responses(1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].rfind("HTTP/1.1 200", 0), 0u) << next[0];
  EXPECT_EQ(status_of("/api/b"), "200");
  EXPECT_EQ(status_of("/api/a/1"), "404 no_route");

  // Registry offline: polls fail, the last good table still routes.
  auto offline =
      http_request("POST", registry_url_ + "/admin/fault", {}, R"({"mode":"offline"})", quick());
  ASSERT_TRUE(offline && offline->status == 200);
  EXPECT_TRUE(eventually(
      [&] { return gw_metric("gatedrill_gateway_registry_routes_poll_failures") >= 2; }));
  EXPECT_EQ(status_of("/api/b/2"), "200");
  EXPECT_EQ(routes().version, v2);
  auto back =
      http_request("POST", registry_url_ + "/admin/fault", {}, R"({"mode":"none"})", quick());
  ASSERT_TRUE(back && back->status == 200);

  // 50,000 routes: applied within the test's bound.
  std::string big = R"({"routes":[)";
  for (int i = 0; i < 50000; ++i) {
    if (i) big += ',';
    big += R"({"prefix":"/r/)" + std::to_string(i) + R"(","service":"s)" + std::to_string(i % 100) +
           "\"}";
  }
  big += "]}";
  const int64_t publish_ms = time_.monotonic_ms();
  const std::string v3 = send("PUT", "/v1/routes", big);
  ASSERT_FALSE(v3.empty());
  EXPECT_TRUE(eventually(
      [&] {
        auto s = routes();
        return s.version == v3 && s.routes == 50000;
      },
      std::chrono::seconds(15)));
  // For the README's figure: PUT to the registry until the node enforces the table.
  std::printf("50,000 routes published and enforced in %lld ms\n",
              static_cast<long long>(time_.monotonic_ms() - publish_ms));
  EXPECT_EQ(status_of("/r/49999/x"), "200");
  EXPECT_EQ(status_of("/r/50000"), "404 no_route");
}

// With --discovery, the services of the registry's table are watched from the moment it routes:
// a route of a registered service the --routes file never named is served, not refused as not
// live; one of an unregistered service is 503 service_not_found.
TEST_F(RegistryRoutesProcess, DiscoveryFollowsTheServicesOfTheRegistryTable) {
  TestDir dir("registry-routes-discovery");
  dir.write("routes.json", R"([{"name": "file", "prefix": "/file"}])");
  send("POST", "/v1/discovery/fresh", R"({"address":"127.0.0.1:1","ttl_ms":600000})");
  start_gateway("gw-disc", {"--routes", dir.path("routes.json"), "--discovery", "registry",
                            "--discovery-poll", "5s"});
  if (HasFatalFailure()) return;

  send(
      "PUT", "/v1/routes",
      R"({"routes":[{"prefix":"/api/fresh","service":"fresh"},{"prefix":"/api/gone","service":"gone"}]})");
  ASSERT_TRUE(eventually([&] { return routes().routes == 2; }));
  // The discovery interval is long: only the swap's own round can have asked for "fresh".
  EXPECT_EQ(status_of("/api/fresh/1"), "200");
  EXPECT_EQ(status_of("/api/gone"), "503 service_not_found");
  EXPECT_EQ(status_of("/file"), "404 no_route");
}

// A registry route names the node's --clusters entry; a table naming a cluster the node does
// not have is refused (logged, counted) and the last good table keeps routing.
TEST_F(RegistryRoutesProcess, RoutesPickClustersAndAnUnknownClusterIsRefused) {
  FakeUpstream alt;
  TestDir dir("registry-routes-clusters");
  dir.write("clusters.json", R"([{"name": "alt", "endpoints": [")" + alt.url() + R"("]}])");
  send("PUT", "/v1/routes", R"({"routes":[{"prefix":"/alt","service":"a","cluster":"alt"},
                                         {"prefix":"/main","service":"m"}]})");
  start_gateway("gw-clusters", {"--clusters", dir.path("clusters.json")});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(eventually([&] { return routes().routes == 2; }));
  const std::string good = routes().version;

  EXPECT_EQ(status_of("/alt/1"), "200");
  EXPECT_EQ(status_of("/main/1"), "200");
  auto paths = [](const FakeUpstream& u) {
    std::string all;
    for (const auto& r : u.seen()) all += r.path + " ";
    return all;
  };
  EXPECT_EQ(paths(alt), "/alt/1 ");
  EXPECT_EQ(paths(upstream_), "/main/1 ");

  send("PUT", "/v1/routes",
       R"({"routes":[{"prefix":"/other","service":"o","cluster":"nowhere"}]})");
  EXPECT_TRUE(eventually(
      [&] { return gw_metric("gatedrill_gateway_registry_routes_refused_total") == 1; }));
  EXPECT_EQ(routes().version, good);
  EXPECT_EQ(status_of("/alt/2"), "200");
  EXPECT_EQ(status_of("/other"), "404 no_route");
}

// --discovery without a --routes file: the registry's table is the only one. Before it arrives
// nothing is routed (503 routes_not_loaded, not the default route) and /healthz says not ready;
// once published, its routes are served and gated by discovery as with a file.
TEST_F(RegistryRoutesProcess, DiscoveryWithoutARoutesFileWaitsForTheRegistryTable) {
  start_gateway("gw-no-file", {"--discovery", "registry", "--discovery-poll", "100ms"});
  if (HasFatalFailure()) return;
  const std::string healthz = "http://127.0.0.1:" + std::to_string(admin_port_) + "/healthz";
  auto health = [&] {
    auto r = http_get(healthz, quick());
    return r ? r->status : 0;
  };

  EXPECT_EQ(status_of("/api/a/1"), "503 routes_not_loaded");
  EXPECT_EQ(status_of("/"), "503 routes_not_loaded");
  EXPECT_EQ(health(), 503);
  EXPECT_EQ(routes().version, "none");

  send("POST", "/v1/discovery/a", R"({"address":"127.0.0.1:1","ttl_ms":600000})");
  const std::string v1 =
      send("PUT", "/v1/routes",
           R"({"routes":[{"prefix":"/api/a","service":"a"},{"prefix":"/api/b","service":"b"}]})");
  ASSERT_FALSE(v1.empty());
  EXPECT_TRUE(eventually([&] { return routes().version == v1; }));
  EXPECT_EQ(health(), 200);
  EXPECT_EQ(status_of("/api/a/1"), "200");
  // Routed by the table now: an unregistered service and an unrouted path answer as usual.
  EXPECT_EQ(status_of("/api/b"), "503 service_not_found");
  EXPECT_EQ(status_of("/elsewhere"), "404 no_route");
}

}  // namespace
}  // namespace gatedrill::gateway::test

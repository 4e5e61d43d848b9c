#include "gateway/gateway_flags.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

Result<GatewayConfig> parse(std::vector<std::string> words) {
  GatewayFlags flags;
  ArgParser args("gateway", "test");
  flags.register_with(args);
  words.insert(words.begin(), "gateway");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto parsed = args.parse(static_cast<int>(argv.size()), argv.data());
  if (!parsed) return parsed.error();
  return flags.to_config();
}

const std::vector<std::string> kRequired = {"--issuer",   "http://127.0.0.1:9/",
                                            "--jwks-uri", "http://127.0.0.1:9/jwks.json",
                                            "--upstream", "http://127.0.0.1:8080"};

std::vector<std::string> with(std::vector<std::string> extra) {
  auto all = kRequired;
  all.insert(all.end(), extra.begin(), extra.end());
  return all;
}

TEST(GatewayFlags, TheRunnersCommandLineParses) {
  auto c = parse(with({"--name",     "gw-2",       "--listen", "127.0.0.1:8443",     "--admin-port",
                       "9091",       "--tls-cert", "c.pem",    "--tls-key",          "k.pem",
                       "--audience", "gatedrill",  "--algs",   "RS256,ES256",        "--leeway",
                       "30000ms",    "--threads",  "2",        "--upstream-timeout", "250ms"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->name, "gw-2");
  EXPECT_EQ(c->data.port, 8443);
  EXPECT_EQ(c->admin_port, 9091);
  ASSERT_TRUE(c->data.tls);
  EXPECT_EQ(c->data.tls->cert_chain_file, "c.pem");
  EXPECT_EQ(c->audiences, std::vector<std::string>{"gatedrill"});
  EXPECT_EQ(c->algs, (std::vector<JwsAlg>{JwsAlg::kRS256, JwsAlg::kES256}));
  EXPECT_EQ(c->leeway, std::chrono::seconds(30));
  EXPECT_EQ(c->data.threads, 2);
  EXPECT_EQ(c->data.upstream_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c->data.upstream.port, 8080);
}

TEST(GatewayFlags, Http2AndGrpcUpstream) {
  auto defaults = parse(with({"--plaintext"}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_TRUE(defaults->data.http2);
  EXPECT_FALSE(defaults->data.grpc_upstream);
  auto c = parse(with({"--plaintext", "--no-http2", "--h2-max-streams", "32", "--h2-max-resets",
                       "20", "--grpc-upstream", "http://127.0.0.1:9001"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->data.http2);
  EXPECT_EQ(c->data.h2_max_concurrent_streams, 32u);
  EXPECT_EQ(c->data.h2_max_resets_per_second, 20);
  ASSERT_TRUE(c->data.grpc_upstream);
  EXPECT_EQ(c->data.grpc_upstream->port, 9001);
  EXPECT_EQ(defaults->data.upstream_max_streams, 100u);
  auto streams = parse(with({"--plaintext", "--upstream-max-streams", "8"}));
  ASSERT_TRUE(streams) << streams.error().message;
  EXPECT_EQ(streams->data.upstream_max_streams, 8u);
  auto no_streams = parse(with({"--plaintext", "--upstream-max-streams", "0"}));
  ASSERT_FALSE(no_streams);
  EXPECT_NE(no_streams.error().message.find("--upstream-max-streams"), std::string::npos);
  auto zero = parse(with({"--plaintext", "--h2-max-streams", "0"}));
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("--h2-max-streams"), std::string::npos);
  auto tls = parse(with({"--plaintext", "--grpc-upstream", "https://127.0.0.1:9001"}));
  ASSERT_TRUE(tls) << tls.error().message;
  EXPECT_EQ(tls->data.grpc_upstream->scheme, "https");
  auto other = parse(with({"--plaintext", "--grpc-upstream", "ftp://127.0.0.1:9001"}));
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("--grpc-upstream"), std::string::npos);
}

TEST(GatewayFlags, HandshakeCap) {
  auto defaults = parse(with({"--plaintext"}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->data.max_handshakes_in_flight, 256u);
  auto c = parse(with({"--plaintext", "--max-handshakes-in-flight", "0"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->data.max_handshakes_in_flight, 0u);
  auto bad = parse(with({"--plaintext", "--max-handshakes-in-flight", "-1"}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--max-handshakes-in-flight"), std::string::npos);
}

// The verified-token cache: on by default; 0 turns it off (every request verifies its token
// with the JWKS keys, as the idp-unreachable drill needs).
TEST(GatewayFlags, TokenCacheEntries) {
  auto defaults = parse(with({"--plaintext"}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->token_cache_entries, 10000u);
  auto off = parse(with({"--plaintext", "--token-cache-entries", "0"}));
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->token_cache_entries, 0u);
  for (const char* bad : {"-1", "10000001"}) {
    auto r = parse(with({"--plaintext", "--token-cache-entries", bad}));
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("--token-cache-entries"), std::string::npos)
        << r.error().message;
  }
}

TEST(GatewayFlags, IdleTimeouts) {
  auto defaults = parse(with({"--plaintext"}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->data.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(defaults->data.stream_idle_timeout, std::chrono::seconds(300));
  auto c = parse(with({"--plaintext", "--idle-timeout", "300ms", "--stream-idle-timeout", "2s"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->data.idle_timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(c->data.stream_idle_timeout, std::chrono::seconds(2));
  auto off = parse(with({"--plaintext", "--stream-idle-timeout", "0"}));
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->data.stream_idle_timeout, std::chrono::milliseconds(0));
}

TEST(GatewayFlags, WriteTimeout) {
  auto defaults = parse(with({"--plaintext"}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->data.write_timeout, std::chrono::seconds(10));
  auto c = parse(with({"--plaintext", "--write-timeout", "750ms"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->data.write_timeout, std::chrono::milliseconds(750));
}

TEST(GatewayFlags, MtlsListener) {
  auto c = parse(with({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--mtls-listen",
                       "127.0.0.1:8444", "--client-ca", "ca.pem", "--crl", "ca.crl",
                       "--trust-domain", "td", "--subject-header", "X-User"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->data.mtls);
  EXPECT_EQ(c->data.mtls->port, 8444);
  EXPECT_EQ(c->data.mtls->client_ca_file, "ca.pem");
  EXPECT_EQ(c->data.mtls->crl_file, "ca.crl");
  EXPECT_EQ(c->data.mtls->trust_domain, "td");
  EXPECT_TRUE(c->data.mtls->strict);
  EXPECT_EQ(c->data.mtls->cert_chain_file, "c.pem");
  EXPECT_EQ(c->subject_header, "x-user");
}

TEST(GatewayFlags, TlsRecords) {
  auto own = parse(with({"--tls-cert", "c.pem", "--tls-key", "k.pem"}));
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_TRUE(own->data.own_tls_records);  // the default
  auto openssl =
      parse(with({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-records", "openssl"}));
  ASSERT_TRUE(openssl) << openssl.error().message;
  EXPECT_FALSE(openssl->data.own_tls_records);
  auto bad = parse(with({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-records", "ktls"}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--tls-records must be own or openssl"), std::string::npos)
      << bad.error().message;
}

TEST(GatewayFlags, RateLimits) {
  auto c =
      parse(with({"--plaintext", "--rate-limit", "500", "--burst", "1000", "--rate-limit-override",
                  "payment-gateway=2000", "--rate-limit-override", "spiffe://td/x=1:3"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->rate_limit.defaults.requests_per_second, 500);
  EXPECT_EQ(c->rate_limit.defaults.burst_capacity, 1000);
  EXPECT_EQ(c->rate_limit.overrides.at("payment-gateway").requests_per_second, 2000);
  EXPECT_EQ(c->rate_limit.overrides.at("payment-gateway").burst_capacity, 2000);
  EXPECT_EQ(c->rate_limit.overrides.at("spiffe://td/x").burst_capacity, 3);
}

TEST(GatewayFlags, PlaintextNeedsNoCertificates) {
  auto c = parse(with({"--plaintext"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->data.tls);
}

TEST(GatewayFlags, RedisRegistryAndSiem) {
  auto c = parse(with({"--plaintext",
                       "--redis",
                       "redis://127.0.0.1:6390",
                       "--revocation-fail",
                       "open",
                       "--revocation-cache-ttl",
                       "0s",
                       "--global-rate-limit",
                       "100",
                       "--global-window",
                       "2s",
                       "--redis-timeout",
                       "100ms",
                       "--registry",
                       "http://127.0.0.1:8282/",
                       "--registry-poll",
                       "200ms",
                       "--siem-url",
                       "udp://127.0.0.1:5140",
                       "--siem-queue",
                       "50"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->redis);
  EXPECT_EQ(c->redis->host, "127.0.0.1");
  EXPECT_EQ(c->redis->port, 6390);
  EXPECT_EQ(c->redis->timeout, std::chrono::milliseconds(100));
  EXPECT_TRUE(c->revocation.fail_open);
  EXPECT_EQ(c->revocation.cache_ttl, std::chrono::milliseconds(0));
  EXPECT_EQ(c->global_rate_limit.requests_per_window, 100);
  EXPECT_EQ(c->global_rate_limit.window, std::chrono::milliseconds(2000));
  EXPECT_EQ(c->registry_url, "http://127.0.0.1:8282");
  EXPECT_EQ(c->registry_poll, std::chrono::milliseconds(200));
  ASSERT_TRUE(c->siem);
  EXPECT_EQ(c->siem->queue_capacity, 50u);
  auto routes = std::filesystem::temp_directory_path() / "gatedrill-flags-routes.json";
  std::ofstream(routes) << R"([{"name": "items", "prefix": "/api/items"}])";
  auto via = parse(with({"--plaintext", "--registry", "http://127.0.0.1:8282", "--discovery",
                         "registry", "--routes", routes.string()}));
  std::filesystem::remove(routes);
  ASSERT_TRUE(via) << via.error().message;
  EXPECT_EQ(via->discovery_url, "http://127.0.0.1:8282");
  // Without a routes file the registry's table gives the services (none routed until it comes).
  auto registry_routes = parse(
      with({"--plaintext", "--registry", "http://127.0.0.1:8282", "--discovery", "registry"}));
  ASSERT_TRUE(registry_routes) << registry_routes.error().message;
  EXPECT_FALSE(registry_routes->routes);
  EXPECT_EQ(registry_routes->discovery_url, "http://127.0.0.1:8282");
  auto closed = parse(with({"--plaintext", "--redis", "redis://localhost"}));
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_FALSE(closed->revocation.fail_open);  // fail closed by default
  EXPECT_EQ(closed->redis->port, 6379);
}

TEST(GatewayFlags, RefusalsNameTheFlag) {
  struct Case {
    std::vector<std::string> words;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--plaintext", "--upstream", "http://127.0.0.1:1"}, "--issuer"},
      {with({}), "--tls-cert"},
      {with({"--plaintext", "--tls-cert", "c"}), "--plaintext"},
      {with({"--plaintext", "--algs", "HS256"}), "--algs"},
      {with({"--plaintext", "--algs", "none"}), "--algs"},
      {with({"--plaintext", "--leeway", "soon"}), "--leeway"},
      {with({"--plaintext", "--listen", "127.0.0.1:99999"}), "--listen"},
      {with({"--plaintext", "--listen", "nohost"}), "--listen"},
      {with({"--plaintext", "--threads", "0"}), "--threads"},
      {with({"--plaintext", "--upstream", "ftp://127.0.0.1:1"}), "--upstream"},
      {with({"--plaintext", "--upstream", "https://127.0.0.1:1", "--upstream-ca",
             "/nonexistent/ca"}),
       "--upstream-ca: cannot read"},
      {with({"--plaintext", "--upstream-ca", "ca.pem"}), "need an https:// --upstream"},
      {with({"--plaintext", "--clusters", "/nonexistent/clusters.json"}), "--clusters"},
      {with({"--plaintext", "--max-upstream-pending", "-1"}), "--max-upstream-pending"},
      {with({"--plaintext", "--max-body", "0"}), "--max-body"},
      {with({"--plaintext", "--upstream-timeout", "-1s"}), "--upstream-timeout"},
      {with({"--plaintext", "--idle-timeout", "0s"}), "--idle-timeout"},
      {with({"--plaintext", "--stream-idle-timeout", "-1s"}), "--stream-idle-timeout"},
      {with({"--plaintext", "--write-timeout", "0s"}), "--write-timeout"},
      {with({"--plaintext", "--stream-idle-timeout", "soon"}), "--stream-idle-timeout"},
      {with({"--plaintext", "--subject-header", "Connection"}), "--subject-header"},
      {with({"--plaintext", "--subject-header", "x user"}), "--subject-header"},
      {with({"--plaintext", "--spiffe-header", "authorization"}), "--spiffe-header"},
      {with({"--plaintext", "--client-ca", "ca.pem"}), "--mtls-listen"},
      {with({"--plaintext", "--rate-limit", "-1"}), "--rate-limit"},
      {with({"--plaintext", "--jwks-unavailable-status", "503"}), "--jwks-unavailable-status"},
      {with({"--plaintext", "--allow", "alice"}), "--allow"},
      {with({"--plaintext", "--allow", "a@b", "--policy", "p.rego"}), "--allow"},
      {with({"--plaintext", "--policy", "p.rego", "--policy-timeout", "0ms"}), "--policy-timeout"},
      {with({"--plaintext", "--rate-limit-override", "alice"}), "--rate-limit-override"},
      {with({"--plaintext", "--rate-limit-override", "alice=fast"}), "--rate-limit-override"},
      {with({"--plaintext", "--rate-limit-override", "alice=5:x"}), "--rate-limit-override"},
      {with({"--plaintext", "--routes", "/nonexistent/routes.json"}), "--routes"},
      {with({"--plaintext", "--mtls-listen", "127.0.0.1:0"}), "--client-ca"},
      {with({"--plaintext", "--mtls-listen", "0.0.0.0:0", "--client-ca", "c"}), "--mtls-listen"},
      {with({"--plaintext", "--redis", "http://127.0.0.1:6379"}), "--redis"},
      {with({"--plaintext", "--redis", "redis://127.0.0.1:0"}), "--redis"},
      {with({"--plaintext", "--redis", "redis://u:p@127.0.0.1:1"}), "--redis"},
      {with({"--plaintext", "--revocation-fail", "maybe"}), "--revocation-fail"},
      {with({"--plaintext", "--revocation-cache-ttl", "-1s"}), "--revocation-cache-ttl"},
      {with({"--plaintext", "--global-rate-limit", "10"}), "--global-rate-limit needs --redis"},
      {with({"--plaintext", "--global-rate-limit", "-1"}), "--global-rate-limit"},
      {with({"--plaintext", "--redis", "redis://127.0.0.1:1", "--global-window", "0s"}),
       "--global-window"},
      {with({"--plaintext", "--registry", "ftp://x"}), "--registry"},
      {with({"--plaintext", "--registry", "http://127.0.0.1:1", "--policy", "p.rego"}),
       "--registry"},
      {with({"--plaintext", "--registry", "http://127.0.0.1:1", "--registry-poll", "0s"}),
       "--registry-poll"},
      {with({"--plaintext", "--discovery", "http://127.0.0.1:1"}), "--discovery needs --routes"},
      {with({"--plaintext", "--discovery", "registry"}), "--discovery registry needs --registry"},
      {with({"--plaintext", "--discovery", "consul"}), "--discovery"},
      {with({"--plaintext", "--siem-url", "tcp://127.0.0.1:1"}), "--siem-url"},
      {with({"--plaintext", "--siem-url", "udp://127.0.0.1:x"}), "--siem-url"},
      {with({"--plaintext", "--siem-url", "udp://127.0.0.1:1", "--siem-queue", "0"}),
       "--siem-queue"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.words);
    ASSERT_FALSE(r) << c.expect;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
}

TEST(GatewayFlags, ClustersFileAndRoutesThatNameClusters) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("gw-flags-clusters-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = [&](const std::string& name, const std::string& text) {
    std::ofstream((dir / name).string()) << text;
    return (dir / name).string();
  };
  const auto clusters = file("clusters.json", R"([{"name": "catalog",
      "endpoints": ["http://127.0.0.1:9001", "http://127.0.0.1:9002"], "lb": "least_requests"}])");
  const auto routes = file("routes.json", R"([{"name": "items", "prefix": "/items",
      "cluster": "catalog"}, {"name": "rest", "prefix": "/"}])");
  auto c = parse(with(
      {"--plaintext", "--clusters", clusters, "--routes", routes, "--upstream-timeout", "750ms"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->data.clusters.size(), 1u);
  EXPECT_EQ(c->data.clusters[0].endpoints.size(), 2u);
  EXPECT_EQ(c->data.clusters[0].timeout, std::chrono::milliseconds(750));  // from the flags
  EXPECT_EQ(c->routes->routes()[0].cluster, "catalog");

  const auto unknown =
      file("unknown.json", R"([{"name": "x", "prefix": "/x", "cluster": "nope"}])");
  auto bad = parse(with({"--plaintext", "--clusters", clusters, "--routes", unknown}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("route x names cluster 'nope', which is not in --clusters"),
            std::string::npos)
      << bad.error().message;
  const auto broken = file("broken.json", R"([{"name": "catalog", "endpoints": ["http://h:1"],
      "max_requests": "many"}])");
  bad = parse(with({"--plaintext", "--clusters", broken}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("clusters[0] (catalog)"), std::string::npos)
      << bad.error().message;
  const auto discovered = file("discovered.json", R"([{"name": "orders", "service": "orders"}])");
  bad = parse(with({"--plaintext", "--clusters", discovered}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("needs --discovery"), std::string::npos)
      << bad.error().message;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gatedrill::gateway

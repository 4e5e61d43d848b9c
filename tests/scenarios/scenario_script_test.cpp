// The scenario language: what a valid script yields, and that every kind of mistake is caught
// before anything starts, with the file and line of the mistake.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "scenarios/fault_catalog.hpp"
#include "scenarios/scenario_script.hpp"

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

class ScenarioScriptTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    path_ = ::testing::TempDir() + "scenario_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".lua";
    std::ofstream(path_) << text;
    return path_;
  }
  void TearDown() override {
    if (!path_.empty()) unlink(path_.c_str());
  }
  Result<std::unique_ptr<ScenarioScript>> load(const std::string& text,
                                               std::map<std::string, std::string> params = {}) {
    return ScenarioScript::load(write(text), std::move(params));
  }
  std::string error_of(const std::string& text, std::map<std::string, std::string> params = {}) {
    auto script = load(text, std::move(params));
    return script ? std::string("(loaded)") : script.error().message;
  }
  std::string path_;
};

constexpr const char* kMinimal = R"(
load { { name = "steady", rate = 100, duration = "2s" } }
)";

TEST_F(ScenarioScriptTest, QuickstartShippedWithTheRepositoryIsValid) {
  auto script = ScenarioScript::load(GATEDRILL_SOURCE_DIR "/scenarios/quickstart.lua", {});
  ASSERT_TRUE(script) << script.error().message;
  const Scenario& s = (*script)->scenario();
  EXPECT_EQ(s.name, "quickstart");
  ASSERT_EQ(s.phases.size(), 2u);
  ASSERT_EQ(s.timeline.size(), 1u);
  ASSERT_EQ(s.timeline[0].actions.size(), 1u);
  EXPECT_EQ(s.timeline[0].actions[0].type, "clock_skew");
  EXPECT_EQ(s.expectations.size(), 2u);
}

TEST_F(ScenarioScriptTest, FullScenarioIsReadIntoTheModel) {
  auto script = load(R"(
scenario { name = "demo", description = "d", seeds = { "000" } }
topology { gateways = 2, tls = "plain", jwt = { leeway = "30s", algs = { "RS256", "ES256" } },
           upstream = { latency = "1ms", body = 64 } }
load {
  { name = "warmup", rate = 50, duration = "1s" },
  { name = "ramp", rate = 100, rate_to = 300, duration = "2s", tokens = 7 },
  { name = "flat", rate = "max", duration = 3 },
}
at("1500ms", function() fault.clock_skew { node = "gw-2", offset = "-5m", duration = "1s" } end)
thresholds { ["flat.p99{node=gw-1}"] = "< 10ms", ["error_rate"] = { "< 1%", abort_on_fail = true } }
expect { during("clock_skew", { node = "gw-2", status_401_share = "> 90%" }) }
)");
  ASSERT_TRUE(script) << script.error().message;
  const Scenario& s = (*script)->scenario();
  EXPECT_EQ(s.name, "demo");
  EXPECT_EQ(s.topology.gateways, 2);
  EXPECT_EQ(s.topology.tls, "plain");
  EXPECT_EQ(s.topology.leeway, std::chrono::seconds(30));
  EXPECT_EQ(s.topology.algs, (std::vector<std::string>{"RS256", "ES256"}));
  EXPECT_EQ(s.topology.upstream.latency, std::chrono::milliseconds(1));
  ASSERT_EQ(s.phases.size(), 3u);
  EXPECT_EQ(s.phases[1].rate_to, 300);
  EXPECT_EQ(s.phases[1].tokens, 7);
  EXPECT_EQ(s.phases[2].rate, 0) << "max is the closed loop";
  EXPECT_EQ(s.phases[2].duration, std::chrono::seconds(3));
  EXPECT_EQ(s.total_duration(), std::chrono::seconds(6));
  ASSERT_EQ(s.timeline.size(), 1u);
  EXPECT_EQ(s.timeline[0].at, std::chrono::milliseconds(1500));
  EXPECT_EQ(s.timeline[0].actions[0].node, "gw-2");
  EXPECT_EQ(s.timeline[0].actions[0].params.at("offset"), "-5m");
  ASSERT_EQ(s.thresholds.size(), 2u);
  EXPECT_EQ(s.thresholds[0].metric, "error_rate");
  EXPECT_TRUE(s.thresholds[0].abort_on_fail);
  EXPECT_EQ(s.thresholds[1].node, "gw-1");
  EXPECT_EQ(s.thresholds[1].phase, "flat");
}

TEST_F(ScenarioScriptTest, ParametersOverrideDefaultsWithTheDefaultsType) {
  auto script =
      load(R"(load { { name = "s", rate = param("RATE", 100), duration = param("D", "2s") } })",
           {{"RATE", "2500"}, {"D", "4s"}});
  ASSERT_TRUE(script) << script.error().message;
  EXPECT_EQ((*script)->scenario().phases[0].rate, 2500);
  EXPECT_EQ((*script)->scenario().phases[0].duration, std::chrono::seconds(4));
  EXPECT_THAT(error_of(R"(load { { name = "s", rate = param("RATE", 100), duration = "1s" } })",
                       {{"RATE", "fast"}}),
              HasSubstr("RATE=fast must be a number"));
}

TEST_F(ScenarioScriptTest, PickGivesTheShortValueOnlyInShortMode) {
  const std::string text = "load { { name = 's', rate = 100, duration = pick('30s', '2s') } }";
  auto normal = load(text);
  ASSERT_TRUE(normal) << normal.error().message;
  EXPECT_EQ((*normal)->scenario().phases[0].duration, std::chrono::seconds(30));
  auto short_run = load(text, {{"SHORT", "1"}});
  ASSERT_TRUE(short_run) << short_run.error().message;
  EXPECT_EQ((*short_run)->scenario().phases[0].duration, std::chrono::seconds(2));
  EXPECT_THAT(error_of(text, {{"SHORT", "yes"}}), HasSubstr("SHORT=yes must be 0 or 1"));
  EXPECT_THAT(error_of("load { { name = 's', rate = pick(1), duration = 1 } }"),
              HasSubstr("pick takes"));
}

TEST_F(ScenarioScriptTest, AnUnusedParameterIsAnError) {
  EXPECT_THAT(error_of(kMinimal, {{"RAET", "5"}}), HasSubstr("parameter RAET is not used"));
}

TEST_F(ScenarioScriptTest, SyntaxErrorsNameFileAndLine) {
  std::string error = error_of("load {\n  { name = 'x' rate = 1 }\n}\n");
  EXPECT_THAT(error, HasSubstr(path_ + ":2:"));
}

TEST_F(ScenarioScriptTest, LongPathsAreNamedInFullInEveryKindOfError) {
  // Lua cuts chunk names past 60 characters to "...tail"; the user must see the whole path.
  const std::string dir = ::testing::TempDir() +
                          "a_directory_name_long_enough_to_be_shortened_by_lua_" +
                          std::to_string(getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string file = dir + "/scenario.lua";
  auto error_in = [&](const std::string& text) {
    std::ofstream(file) << text;
    auto script = ScenarioScript::load(file, {});
    return script ? std::string("(loaded)") : script.error().message;
  };
  EXPECT_THAT(error_in("load {\n  { name = 'x' rate = 1 }\n}\n"), HasSubstr(file + ":2:"));
  EXPECT_THAT(error_in("local x = nil\nlocal y = x.field\n"), HasSubstr(file + ":2:"));
  EXPECT_THAT(
      error_in(std::string(kMinimal) + "at('1s', function() fault.kill { node = 'nope' } end)"),
      HasSubstr(file + ":3:"));
  unlink(file.c_str());
  rmdir(dir.c_str());
}

TEST_F(ScenarioScriptTest, UnknownKeysAreErrorsWithTheirLine) {
  std::string error = error_of("\n\ntopology { gatways = 2 }\n" + std::string(kMinimal));
  EXPECT_THAT(error, HasSubstr(path_ + ":3:"));
  EXPECT_THAT(error, HasSubstr("unknown key 'gatways'"));
}

TEST_F(ScenarioScriptTest, WrongTypesAndImpossibleValuesAreErrors) {
  EXPECT_THAT(error_of("topology { gateways = 'two' }\n" + std::string(kMinimal)),
              HasSubstr("gateways must be a number"));
  EXPECT_THAT(error_of("topology { gateways = 0 }\n" + std::string(kMinimal)),
              HasSubstr("from 1 to 16"));
  EXPECT_THAT(error_of(R"(load { { name = "s", rate = -5, duration = "1s" } })"),
              HasSubstr("rate must be between"));
  EXPECT_THAT(error_of(R"(load { { name = "s", rate = 5 } })"), HasSubstr("needs duration"));
  EXPECT_THAT(error_of(R"(load { { name = "s", rate = 5, duration = "1 fortnight" } })"),
              HasSubstr("unknown unit"));
  EXPECT_THAT(error_of("topology { jwt = { algs = { 'HS256' } } }\n" + std::string(kMinimal)),
              HasSubstr("unknown alg 'HS256'"));
  EXPECT_THAT(
      error_of(
          R"(load { { name = "a", rate = 5, duration = 1 }, { name = "a", rate = 5, duration = 1 } })"),
      HasSubstr("used twice"));
  EXPECT_THAT(error_of(""), HasSubstr("no load"));
}

TEST_F(ScenarioScriptTest, FaultCallsAreValidatedByADryRunBeforeAnythingStarts) {
  std::string base = std::string(kMinimal);
  EXPECT_THAT(
      error_of(base +
               "at('1s', function() fault.clock_skew { node = 'gw-9', offset = '+1m' } end)"),
      HasSubstr("unknown node 'gw-9'"));
  EXPECT_THAT(error_of(base + "at('1s', function() fault.clock_skew { node = 'gw-1' } end)"),
              HasSubstr("needs offset"));
  EXPECT_THAT(error_of(base + "at('1s', function() fault.latency { latency = '-5ms' } end)"),
              HasSubstr("must be >= 0"));
  EXPECT_THAT(error_of(base + "at('1s', function() fault.error { probability = 2 } end)"),
              HasSubstr("probability must be 0..1"));
  EXPECT_THAT(error_of(base + "at('1s', function() fault.pause { node = 'gw-1' } end)"),
              HasSubstr("needs duration"));
  EXPECT_THAT(error_of(base + "at('1s', function() fault.clock_skew { node = 'gw-1', offset = "
                              "'1m', colour = 'red' } end)"),
              HasSubstr("unknown parameter 'colour'"));
  // The error points at the line of the fault call inside the callback.
  std::string error = error_of(base + "at('1s', function()\n  fault.kill { node = 'nope' }\nend)");
  EXPECT_THAT(error, HasSubstr(path_ + ":4:"));
}

TEST_F(ScenarioScriptTest, TimelineMustFitInsideTheLoad) {
  EXPECT_THAT(
      error_of(std::string(kMinimal) + "at('5s', function() fault.kill { node = 'gw-1' } end)"),
      HasSubstr("after the load ends"));
}

TEST_F(ScenarioScriptTest, FaultOutsideACallbackIsAnError) {
  EXPECT_THAT(error_of("fault.kill { node = 'gw-1' }\n" + std::string(kMinimal)),
              HasSubstr("inside an at(...) callback"));
}

TEST_F(ScenarioScriptTest, ThresholdsAndExpectationsAreChecked) {
  std::string base = std::string(kMinimal);
  EXPECT_THAT(error_of(base + "thresholds { ['steady.p98'] = '< 1ms' }"),
              HasSubstr("unknown metric 'p98'"));
  EXPECT_THAT(error_of(base + "thresholds { ['nophase.p99'] = '< 1ms' }"),
              HasSubstr("no phase named 'nophase'"));
  EXPECT_THAT(error_of(base + "thresholds { ['p99'] = '10ms' }"), HasSubstr("needs an operator"));
  EXPECT_THAT(error_of(base + "thresholds { ['error_rate'] = '< 150%' }"),
              HasSubstr("outside 0%..100%"));
  EXPECT_THAT(error_of(base + "expect { during('clock_skew', { status_401_share = '> 90%' }) }"),
              HasSubstr("never injects 'clock_skew'"));
  EXPECT_THAT(error_of(base + "expect { during('clock_skw', { status_401_share = '> 90%' }) }"),
              HasSubstr("unknown fault 'clock_skw'"));
}

// token@idp (the token client's stream) and the load_surge window exist only when declared.
TEST_F(ScenarioScriptTest, TokenClientStreamAndLoadSurgeAreCheckedAgainstTheTopology) {
  const std::string base = std::string(kMinimal);
  const std::string expect =
      "at('1s', function() fault.idp_down { duration = '1s' } end)\n"
      "expect { during('idp_down', { node = 'token@idp', error_rate = '> 90%' }) }\n";
  EXPECT_THAT(error_of(base + expect), HasSubstr("unknown node 'token@idp'"));
  EXPECT_THAT(error_of(base + "thresholds { ['error_rate{node=token@idp}'] = '< 1%' }"),
              HasSubstr("token@idp (token_client)"));
  auto script = load("topology { token_client = 5 }\n" + base + expect);
  ASSERT_TRUE(script) << script.error().message;
  EXPECT_EQ((*script)->scenario().topology.token_client, 5);
  EXPECT_THAT(error_of("topology { token_client = 0 }\n" + base), HasSubstr("token_client"));

  const std::string surge =
      "at('1s', function() fault.load_surge { identity = 'hot', duration = '1s' } end)\n";
  EXPECT_THAT(error_of(base + surge), HasSubstr("not one of topology.identities"));
  EXPECT_THAT(error_of("topology { identities = { 'hot' } }\n" + base +
                       "at('1s', function() fault.load_surge { identity = 'hot' } end)\n"),
              HasSubstr("needs duration"));
  auto surged = load("topology { identities = { 'hot' } }\n" + base + surge);
  ASSERT_TRUE(surged) << surged.error().message;
  EXPECT_EQ((*surged)->scenario().timeline.front().actions.front().node, "load");
}

// Further registry services: declared with discovery, streams named after them, and the only
// other services the deregister fault may silence.
TEST_F(ScenarioScriptTest, RegistryServicesNeedDiscoveryAndNameTheirStreams) {
  // The registry publishes a policy read next to the scenario.
  const std::string policy = "services_test_" + std::to_string(getpid()) + ".rego";
  std::ofstream(::testing::TempDir() + policy) << "package gatedrill.authz\ndefault allow = true\n";
  auto topology = [&](const std::string& registry) {
    return "topology { registry = " + registry + ", policy = '" + policy + "' }\n" +
           std::string(kMinimal);
  };
  EXPECT_THAT(error_of(topology("{ services = { 'catalog' } }")), HasSubstr("needs discovery"));
  EXPECT_THAT(error_of(topology("{ publish_routes = true }")),
              HasSubstr("publish_routes needs discovery = true"));
  // Upstream clusters register their own service: deregister may silence one of them.
  auto clustered =
      load("topology { registry = { discovery = true }, policy = '" + policy +
           "', upstreams = { billing = {} }, routes = { ['/b'] = 'billing' } }\n" +
           std::string(kMinimal) +
           "at('1s', function() fault.deregister { service = 'billing', duration = '1s' } end)\n");
  ASSERT_TRUE(clustered) << clustered.error().message;
  auto published = load(topology("{ discovery = true, publish_routes = true }"));
  ASSERT_TRUE(published) << published.error().message;
  EXPECT_TRUE((*published)->scenario().topology.registry.publish_routes);
  EXPECT_THAT(error_of(topology("{ discovery = true, services = { 'app' } }")),
              HasSubstr("not app"));
  const std::string ok = topology("{ discovery = true, services = { 'catalog' } }");
  auto script =
      load(ok +
           "at('1s', function() fault.deregister { service = 'app', duration = '1s' } end)\n"
           "expect { during('deregister', { node = 'catalog@gw-1', error_rate = '< 1%' }) }\n");
  ASSERT_TRUE(script) << script.error().message;
  EXPECT_EQ((*script)->scenario().topology.registry.services.size(), 1u);
  EXPECT_THAT(error_of(ok + "at('1s', function() fault.deregister { service = 'shop' } end)\n"),
              HasSubstr("one of topology.registry.services"));
}

// Upstream clusters: one upstream peer (node) each, routes to them checked against the
// declared clusters, each its own stream; faults may name a cluster's node.
TEST_F(ScenarioScriptTest, UpstreamClustersAndTheirRoutesAreReadAndChecked) {
  const std::string base = std::string(kMinimal);
  auto script = load(R"(topology {
  upstreams = {
    catalog = { latency = "1ms" },
    billing = { body = 64, timeout = "150ms", max_requests = 8, breaker_failures = 5 },
  },
  routes = { ["/api/catalog"] = "catalog", ["/api/billing/v2"] = "billing",
             ["/api/billing"] = "billing", ["/legacy"] = "app" },
}
)" + base + R"(
at("1s", function() fault.latency { node = "billing", latency = "200ms", duration = "1s" } end)
thresholds { ["p99{node=catalog@gw-1}"] = "< 10ms" }
expect { during("latency", { node = "billing@gw-1", status_503_share = "> 50%" }) }
)");
  ASSERT_TRUE(script) << script.error().message;
  const Scenario& s = (*script)->scenario();
  ASSERT_EQ(s.topology.upstreams.size(), 2u);
  EXPECT_EQ(s.topology.upstreams[0].name, "billing") << "sorted by name";
  EXPECT_EQ(s.topology.upstreams[0].upstream.body_bytes, 64);
  EXPECT_EQ(s.topology.upstreams[0].timeout, std::chrono::milliseconds(150));
  EXPECT_EQ(s.topology.upstreams[0].max_requests, 8);
  EXPECT_EQ(s.topology.upstreams[1].upstream.latency, std::chrono::milliseconds(1));
  ASSERT_EQ(s.topology.routes.size(), 4u);
  EXPECT_EQ(s.first_route("billing"), "/api/billing");
  EXPECT_EQ(node_kind(s, "billing"), "app");
  EXPECT_TRUE(s.is_stream("catalog@gw-1"));
  EXPECT_FALSE(s.is_stream("catalog@gw-2"));

  auto topology = [&](const std::string& body) { return "\ntopology { " + body + " }\n" + base; };
  std::string error =
      error_of(topology("upstreams = { catalog = {} }, routes = { ['/api/catalog'] = 'catalgo' }"));
  EXPECT_THAT(error, HasSubstr(path_ + ":2:"));
  EXPECT_THAT(error, HasSubstr("unknown cluster 'catalgo'"));
  EXPECT_THAT(error_of(topology("upstreams = { catalog = {} }")),
              HasSubstr("topology.upstreams.catalog has no route"));
  EXPECT_THAT(error_of(topology("routes = { ['/a'] = 'app' }")),
              HasSubstr("topology.routes needs topology.upstreams"));
  EXPECT_THAT(error_of(topology("upstreams = { catalog = {} }, routes = { ['api'] = 'catalog' }")),
              HasSubstr("'api' must start with /"));
  EXPECT_THAT(error_of(topology("upstreams = { app = {} }, routes = { ['/a'] = 'app' }")),
              HasSubstr("'app' must be 1-32 lowercase"));
  EXPECT_THAT(error_of(topology("upstreams = { ['gw-2'] = {} }")), HasSubstr("'gw-2' must be"));
  EXPECT_THAT(
      error_of(topology("upstreams = { c = { latecy = '1ms' } }, routes = { ['/c'] = 'c' }")),
      HasSubstr("topology.upstreams.c: unknown key 'latecy'"));
  EXPECT_THAT(
      error_of(topology("upstreams = { c = { timeout = '0s' } }, routes = { ['/c'] = 'c' }")),
      HasSubstr("topology.upstreams.c.timeout must be >= 1ms"));
  EXPECT_THAT(error_of(topology("upstreams = { 'c' }")), HasSubstr("entries are name = {"));
  // A cluster and an identity (or an issuer) of the same name would share a stream.
  EXPECT_THAT(error_of(topology("upstreams = { hot = {} }, routes = { ['/h'] = 'hot' }, "
                                "identities = { 'hot' }")),
              HasSubstr("'hot' is declared twice (topology.upstreams and topology.identities)"));
  EXPECT_THAT(error_of(topology("upstreams = { a = {} }, routes = { ['/a'] = 'a' }, "
                                "jwt = { issuers = { 'a' } }")),
              HasSubstr("'a' is declared twice"));
  // A fault on a cluster's node, but not on one the topology does not have.
  const std::string two = topology("upstreams = { c = {} }, routes = { ['/c'] = 'c' }");
  EXPECT_THAT(
      error_of(two + "at('1s', function() fault.stall { node = 'd', duration = '1s' } end)"),
      HasSubstr("unknown node 'd' (this topology has gw-1, idp, app, c)"));
  EXPECT_THAT(error_of(two + "thresholds { ['p99{node=d@gw-1}'] = '< 1s' }"),
              HasSubstr("node must be a gateway"));
  // A cluster (or an issuer) may sit behind the fault proxy, so toxics apply to it alone.
  auto proxied = load(topology("upstreams = { c = {} }, routes = { ['/c'] = 'c' }, "
                               "jwt = { issuers = { 'i' } }, proxies = { 'c', 'i' }") +
                      "at('1s', function() fault.toxic { node = 'c', type = 'latency', "
                      "latency = '50ms' } end)");
  ASSERT_TRUE(proxied) << proxied.error().message;
  EXPECT_EQ((*proxied)->scenario().topology.proxies, (std::vector<std::string>{"c", "i"}));
  EXPECT_THAT(error_of(two + "at('1s', function() fault.toxic { node = 'c', type = 'latency', "
                             "latency = '50ms' } end)"),
              HasSubstr("no fault proxy in front of 'c'"));
  EXPECT_THAT(error_of(topology("upstreams = { c = {} }, routes = { ['/c'] = 'c' }, "
                                "proxies = { 'd' }")),
              HasSubstr("cannot put a proxy in front of 'd'"));
}

// A phase may give a cluster's or issuer's stream its own rate instead of a quarter of its own.
TEST_F(ScenarioScriptTest, PhasesMayGiveStreamsTheirOwnRate) {
  const std::string topology =
      "topology { upstreams = { billing = {} }, routes = { ['/b'] = 'billing' },\n"
      "           jwt = { issuers = { 'tenant-a' } } }\n";
  auto script = load(topology + R"(
load { { name = "s", rate = 100, duration = "2s", streams = { billing = 300, ["tenant-a"] = 5 } } }
)");
  ASSERT_TRUE(script) << script.error().message;
  const auto& rates = (*script)->scenario().phases[0].stream_rates;
  EXPECT_EQ(rates.at("billing"), 300);
  EXPECT_EQ(rates.at("tenant-a"), 5);

  std::string error = error_of(
      topology + "load {\n  { name = 's', rate = 1, duration = 1, streams = { hot = 3 } },\n}");
  EXPECT_THAT(error, HasSubstr(path_ + ":3:"));  // the load { } declaring the phase
  EXPECT_THAT(error, HasSubstr("stream 'hot' is not an upstream cluster, issuer or registry"));
  EXPECT_THAT(error_of(topology + "load { { name = 's', rate = 1, duration = 1, streams = { "
                                  "billing = 0 } } }"),
              HasSubstr("streams: entries are stream = requests/s (> 0)"));
  EXPECT_THAT(error_of(topology + "load { { name = 's', rate = 1, duration = 1, streams = 3 } }"),
              HasSubstr("streams must be a table"));
}

// Further JWT issuers: an IdP node each (faults may name it), their streams, and mistakes.
TEST_F(ScenarioScriptTest, IssuersAreIdpNodesWithStreamsOfTheirOwn) {
  const std::string base = std::string(kMinimal);
  const std::string issuers = "topology { jwt = { issuers = { 'tenant-a', 'tenant-b' } } }\n";
  auto script = load(issuers + base + R"(
at("1s", function() fault.jwks_down { node = "tenant-a", duration = "1s" } end)
thresholds { ["error_rate{node=tenant-b@gw-1}"] = "< 1%" }
expect { during("jwks_down", { node = "tenant-a@gw-1", status_401_share = "> 90%" }) }
)");
  ASSERT_TRUE(script) << script.error().message;
  const Scenario& s = (*script)->scenario();
  EXPECT_EQ(s.topology.issuers, (std::vector<std::string>{"tenant-a", "tenant-b"}));
  EXPECT_EQ(node_kind(s, "tenant-b"), "idp");

  std::string error = error_of(
      issuers + base + "at('1s', function()\n  fault.idp_down { node = 'tenant-c' }\nend)\n");
  EXPECT_THAT(error, HasSubstr(":5:"));
  EXPECT_THAT(error, HasSubstr("idp_down: unknown node 'tenant-c'"));
  EXPECT_THAT(
      error_of(issuers + base + "at('1s', function() fault.stall { node = 'tenant-a' } end)"),
      HasSubstr("stall does not apply to tenant-a"));
  EXPECT_THAT(error_of("topology { jwt = { issuers = { 'a', 'a' } } }\n" + base),
              HasSubstr("'a' is listed twice"));
  EXPECT_THAT(error_of("topology { jwt = { issuers = { 'idp' } } }\n" + base),
              HasSubstr("topology.jwt.issuers: 'idp' must be"));
  EXPECT_THAT(error_of("topology { jwt = { issuers = {} } }\n" + base),
              HasSubstr("must not be empty"));

  // An issuer may sign and be accepted differently from the run's IdP.
  auto own = load(R"(topology { jwt = { algs = { "RS256" }, issuers = { "tenant-a",
  ["tenant-b"] = { idp_alg = "ES256", algs = { "ES256" }, leeway = "0s" } } } }
)" + base);
  ASSERT_TRUE(own) << own.error().message;
  const TopologySpec& t = (*own)->scenario().topology;
  EXPECT_EQ(t.issuers, (std::vector<std::string>{"tenant-a", "tenant-b"}));
  ASSERT_EQ(t.issuer_settings.count("tenant-b"), 1u);
  EXPECT_EQ(t.issuer_settings.at("tenant-b").idp_alg, "ES256");
  EXPECT_EQ(t.issuer_settings.at("tenant-b").algs, (std::vector<std::string>{"ES256"}));
  EXPECT_EQ(t.issuer_settings.at("tenant-b").leeway, std::chrono::seconds(0));
  EXPECT_EQ(t.issuer_settings.count("tenant-a"), 0u);
  EXPECT_THAT(error_of("topology { jwt = { issuers = { b = { idp_alg = 'HS256' } } } }\n" + base),
              HasSubstr("topology.jwt.issuers.b.idp_alg: unknown alg 'HS256'"));
  EXPECT_THAT(error_of("topology { jwt = { issuers = { b = { leewy = '1s' } } } }\n" + base),
              HasSubstr("topology.jwt.issuers.b: unknown key 'leewy'"));
  EXPECT_THAT(error_of("topology { jwt = { issuers = { 'b', b = {} } } }\n" + base),
              HasSubstr("'b' is listed twice"));
  EXPECT_THAT(error_of("topology { jwt = { issuers = 'b' } }\n" + base),
              HasSubstr("topology.jwt.issuers must be a list"));
}

TEST_F(ScenarioScriptTest, TheSandboxHasNoFileOrProcessAccess) {
  EXPECT_THAT(error_of("os.execute('true')\n" + std::string(kMinimal)), HasSubstr("os"));
  EXPECT_THAT(error_of("io.open('/etc/passwd')\n" + std::string(kMinimal)), HasSubstr("io"));
  EXPECT_THAT(error_of("dofile('x.lua')\n" + std::string(kMinimal)), HasSubstr("dofile"));
  EXPECT_THAT(error_of("require('socket')\n" + std::string(kMinimal)), HasSubstr("require"));
}

TEST_F(ScenarioScriptTest, AnEndlessLoopIsStoppedWithAClearError) {
  EXPECT_THAT(error_of("while true do end\n"), HasSubstr("ran too long"));
}

class RecordingSink final : public FaultSink {
 public:
  Result<void> apply(const FaultAction& action) override {
    applied.push_back(action);
    return {};
  }
  std::vector<FaultAction> applied;
};

TEST_F(ScenarioScriptTest, TimelineCallbacksReplayAgainstTheLiveSink) {
  auto script =
      load(std::string(kMinimal) +
           "at('1s', function() fault.latency { latency = '50ms', duration = '500ms' } end)");
  ASSERT_TRUE(script) << script.error().message;
  RecordingSink sink;
  const auto& entry = (*script)->scenario().timeline[0];
  ASSERT_TRUE((*script)->run_timeline_entry(entry, sink));
  ASSERT_EQ(sink.applied.size(), 1u);
  EXPECT_EQ(sink.applied[0].type, "latency");
  EXPECT_EQ(sink.applied[0].node, "app") << "latency defaults to the upstream";
  EXPECT_EQ(sink.applied[0].duration, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace gatedrill

// PolicyEngine: loading files, the authz decision and its reasons, the TimeSource behind
// time.now_ns (clock drills), the evaluation time limit, thread-safety, versions, opa-test style
// runs, and the lint rules on the seed policies.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/lint.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace gatedrill {
namespace {

namespace fs = std::filesystem;

const char* kAdminToken =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.c2ln";
const char* kViewerToken =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsInJvbGUiOiJ2aWV3ZXIifQ.c2ln";

fs::path seeds_dir() {
  return fs::path(GATEDRILL_SOURCE_DIR) / "tests/policy/seeds";
}

boost::json::value json(const char* text) {
  return *parse_json(text);
}

TEST(PolicyEngine, LoadsSeedFilesAndDecides) {
  auto e = PolicyEngine::load({(seeds_dir() / "seed000_api_authz.rego").string()});
  ASSERT_TRUE(e.ok()) << e.error().message;
  boost::json::object in{{"method", "POST"},
                         {"path", boost::json::array{"v1", "x"}},
                         {"http_auth_header", kAdminToken}};
  std::string reason;
  EXPECT_TRUE(e->allowed("data.api.authz.allow", in, &reason)) << reason;
  in["http_auth_header"] = std::string("Bearer ") + kAdminToken;
  EXPECT_FALSE(e->allowed("data.api.authz.allow", in, &reason));
  EXPECT_EQ(reason, "denied by policy");
  in["http_auth_header"] = kViewerToken;
  EXPECT_FALSE(e->allowed("data.api.authz.allow", in, &reason));
}

TEST(PolicyEngine, SeedDirectoryConflictsAndSeed003TypeErrorCarryFileAndLine) {
  // Seeds 000 and 002 share package api.authz: two defaults for one rule, as OPA reports.
  auto dir = PolicyEngine::load({seeds_dir().string()});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("seed002_envoy_authz.rego:4: multiple default rules"),
            std::string::npos)
      << dir.error().message;
  auto e = PolicyEngine::load({(seeds_dir() / "seed003_registry_authz.rego").string()});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "rego_type_error");
  EXPECT_NE(e.error().message.find("seed003_registry_authz.rego:15"), std::string::npos)
      << e.error().message;
}

TEST(PolicyEngine, MissingFileIsAnIoError) {
  auto e = PolicyEngine::load({(seeds_dir() / "nope.rego").string()});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "io_error");
}

TEST(PolicyEngine, UndefinedDecisionDeniesAndExplainsTheBuiltinError) {
  auto e = PolicyEngine::from_sources(
      {{"p.rego", "package p\nallow { io.jwt.decode(input.h)[1].role == \"admin\" }"}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  std::string reason;
  EXPECT_FALSE(e->allowed("data.p.allow", json(R"({"h":"Bearer x"})"), &reason));
  EXPECT_NE(reason.find("undefined"), std::string::npos) << reason;
  EXPECT_NE(reason.find("p.rego:2: io.jwt.decode"), std::string::npos) << reason;
  boost::json::object ok{{"h", kAdminToken}};
  EXPECT_TRUE(e->allowed("data.p.allow", ok, &reason)) << reason;
}

TEST(PolicyEngine, NonBooleanAndConflictsDeny) {
  auto e = PolicyEngine::from_sources(
      {{"p.rego", "package p\nallow = \"yes\" { true }\nboth = 1 { true }\nboth = 2 { true }"}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  std::string reason;
  EXPECT_FALSE(e->allowed("data.p.allow", boost::json::object(), &reason));
  EXPECT_NE(reason.find("not a boolean"), std::string::npos) << reason;
  EXPECT_FALSE(e->allowed("data.p.both", boost::json::object(), &reason));
  EXPECT_NE(reason.find("eval_conflict_error"), std::string::npos) << reason;
}

TEST(PolicyEngine, TimeNowFollowsTheSkewableTimeSource) {
  ManualTimeSource clock;  // 2026-01-01T00:00:00Z
  PolicyOptions opts;
  opts.time = &clock;
  auto e = PolicyEngine::from_sources(
      {{"t.rego", "package t\nfresh { input.exp * 1000000000 > time.now_ns() }"}},
      boost::json::object(), opts);
  ASSERT_TRUE(e.ok()) << e.error().message;
  boost::json::object in{{"exp", 1767225600 + 60}};
  EXPECT_TRUE(e->allowed("data.t.fresh", in));
  clock.set_skew(std::chrono::minutes(2));  // a clock drill on this node
  EXPECT_FALSE(e->allowed("data.t.fresh", in));
  clock.set_skew(std::chrono::minutes(0));
  clock.advance(std::chrono::seconds(59));
  EXPECT_TRUE(e->allowed("data.t.fresh", in));
}

policy::InputUse use_of(const std::string& rego, const char* query = "data.p.allow") {
  auto e = PolicyEngine::from_sources({{"p.rego", rego}});
  if (!e) throw std::runtime_error(e.error().message);
  auto use = e->input_use(query);
  if (!use) throw std::runtime_error(use.error().message);
  return *use;
}

TEST(PolicyEngine, InputUseNamesTheTopLevelKeysAPolicyReads) {
  auto rbac = use_of(R"(package p
import input.attributes as attrs
roles := {"bob": "reader"}
reader(who) { roles[who] == "reader" }
allow { reader(input.subject); input.path[0] == "api"; attrs.request.http.method == "GET" }
)");
  EXPECT_FALSE(rbac.whole);
  EXPECT_EQ(rbac.keys, (std::vector<std::string>{"attributes", "path", "subject"}));
  EXPECT_TRUE(rbac.pure);
  EXPECT_TRUE(rbac.reads("subject"));
  EXPECT_FALSE(rbac.reads("headers"));
  // The query's own reads count too.
  EXPECT_EQ(use_of("package p\nallow { true }", "input.route == \"x\"").keys,
            (std::vector<std::string>{"route"}));
  // Reads the policy cannot name beforehand: the whole document.
  EXPECT_TRUE(use_of("package p\nallow { x := input; x.a == 1 }").whole);
  EXPECT_TRUE(use_of("package p\nallow { some k; input[k] == 1 }").whole);
  EXPECT_TRUE(use_of("package p\nf(x) { x.a == 1 }\nallow { f(input) }").whole);
  EXPECT_TRUE(use_of("package p\nq { input.a == 1 }\nallow { q with input.a as 1 }").whole);
  // The clock makes a decision more than a function of its input.
  EXPECT_FALSE(use_of("package p\nallow { input.exp > time.now_ns() }").pure);
  EXPECT_FALSE(
      use_of("package p\nallow { io.jwt.decode_verify(input.t, {\"secret\": \"s\"})[0] }").pure);
}

TEST(PolicyEngine, RememberedDecisionsAreTheInputsOwn) {
  auto e = PolicyEngine::from_sources(
      {{"p.rego",
        "package p\ndefault allow = false\nallow { input.who == \"alice\" }\n"
        "role { io.jwt.decode(input.h)[1].role == \"admin\" }"}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  std::string reason;
  for (int round = 0; round < 3; ++round) {  // the first round evaluates, the others remember
    EXPECT_TRUE(e->allowed("data.p.allow", json(R"({"who":"alice"})"), &reason)) << reason;
    EXPECT_EQ(reason, "");
    EXPECT_FALSE(e->allowed("data.p.allow", json(R"({"who":"bob"})"), &reason));
    EXPECT_EQ(reason, "denied by policy");
    EXPECT_FALSE(e->allowed("data.p.allow", json(R"({"who":["alice"]})"), &reason));
    EXPECT_FALSE(e->allowed("data.p.role", json(R"({"h":"Bearer x"})"), &reason));
    EXPECT_NE(reason.find("p.rego:4: io.jwt.decode"), std::string::npos) << reason;
    EXPECT_TRUE(e->allowed("data.p.role", boost::json::object{{"h", kAdminToken}}, &reason));
  }
}

TEST(PolicyEngine, APreparedQueryDecidesAsItsText) {
  auto e = PolicyEngine::from_sources(
      {{"p.rego", "package p\ndefault allow = false\nallow { input.who == \"alice\" }\n"}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  auto q = e->prepare("data.p.allow");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_TRUE(q->use().reads("who"));
  EXPECT_FALSE(q->use().reads("path"));
  auto decide = [&](const char* who, std::string* reason) {
    return e->allowed(
        *q, who, [&](const policy::InputUse&) { return policy::Value::from_json(json(who)); },
        reason);
  };
  std::string reason;
  for (int round = 0; round < 2; ++round) {  // evaluated, then remembered
    EXPECT_TRUE(decide(R"({"who":"alice"})", &reason)) << reason;
    EXPECT_FALSE(decide(R"({"who":"bob"})", &reason));
    EXPECT_EQ(reason, "denied by policy");
  }
  auto bad = e->prepare("data.p.allow ==");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, e->input_use("data.p.allow ==").error().code);
}

TEST(PolicyEngine, TimeoutStopsEvaluationAndDenies) {
  SystemTimeSource clock;
  PolicyOptions opts;
  opts.time = &clock;
  opts.timeout = std::chrono::milliseconds(5);
  boost::json::array xs;
  for (int i = 0; i < 150; ++i) xs.push_back(i);
  auto e = PolicyEngine::from_sources(
      {{"slow.rego",
        "package s\nallow { some i, j, k; data.xs[i] + data.xs[j] + data.xs[k] < 0 }"}},
      boost::json::object{{"xs", xs}}, opts);
  ASSERT_TRUE(e.ok()) << e.error().message;
  int64_t start = clock.monotonic_ns();
  auto d = e->evaluate("data.s.allow", boost::json::object());
  int64_t took = clock.monotonic_ns() - start;
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "eval_timeout");
  EXPECT_LT(took, 2'000'000'000);
  std::string reason;
  EXPECT_FALSE(e->allowed("data.s.allow", boost::json::object(), &reason));
  EXPECT_NE(reason.find("eval_timeout"), std::string::npos);
}

TEST(PolicyEngine, ConcurrentEvaluationsAgree) {
  auto e = PolicyEngine::load({(seeds_dir() / "seed000_api_authz.rego").string()});
  ASSERT_TRUE(e.ok());
  const PolicyEngine& engine = *e;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        bool admin = (i + t) % 2 == 0;
        boost::json::object in{{"method", "POST"},
                               {"path", boost::json::array{"v1"}},
                               {"http_auth_header", admin ? kAdminToken : kViewerToken}};
        if (engine.allowed("data.api.authz.allow", in) != admin) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Objects are sorted vectors: one built member by member in reverse key order (a lookup table
// from data, as policies build per decision) must come out whole, ordered and conflict-checked.
TEST(PolicyEngine, LargeObjectsBuiltInAnyOrder) {
  boost::json::array names;
  for (int i = 4999; i >= 0; --i) names.push_back(boost::json::string("n" + std::to_string(i)));
  auto e = PolicyEngine::from_sources(
      {{"m.rego",
        "package m\nimport rego.v1\nlookup := {n: i | some i, n in data.names}\n"
        "by_rule[n] := i if { some i, n in data.names }\n"
        "count_ok if count(lookup) == 5000\nfirst := [k | some k, _ in lookup][0]\n"
        "conflict := {\"k\": n | some n in data.names}\n"}},
      boost::json::object{{"names", names}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->allowed("data.m.count_ok", boost::json::object{}));
  auto first = e->evaluate("data.m.first", boost::json::object{});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->value, boost::json::value("n0"));  // key order, not insertion order
  auto v = e->evaluate("data.m.lookup.n123", boost::json::object{});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->value, boost::json::value(4999 - 123));
  auto r = e->evaluate("data.m.by_rule.n4999", boost::json::object{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, boost::json::value(0));
  auto c = e->evaluate("data.m.conflict", boost::json::object{});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "eval_conflict_error");
}

TEST(PolicyEngine, LargeLiteralsAreFoldedAndHugeBodiesRejected) {
  std::string ips = "package net\nallowed := {";
  for (int i = 0; i < 20000; ++i)
    ips += (i ? ", \"10.0." : "\"10.0.") + std::to_string(i / 256) + "." + std::to_string(i % 256) +
           "\"";
  ips += "}\nallow { input.ip in allowed }\n";
  auto e = PolicyEngine::from_sources({{"net.rego", ips}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->allowed("data.net.allow", boost::json::object{{"ip", "10.0.78.31"}}));
  EXPECT_FALSE(e->allowed("data.net.allow", boost::json::object{{"ip", "10.1.0.1"}}));

  std::string body = "package big\np {\n";
  for (int i = 0; i < 1001; ++i) body += "  input.x == 1\n";
  body += "}\n";
  auto big = PolicyEngine::from_sources({{"big.rego", body}});
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("more than 1000 expressions"), std::string::npos)
      << big.error().message;
}

TEST(PolicyEngine, VersionIsAContentHash) {
  auto a = PolicyEngine::from_sources({{"a.rego", "package a\np = 1 { true }"}});
  auto b = PolicyEngine::from_sources({{"a.rego", "package a\np = 1 { true }"}});
  auto c = PolicyEngine::from_sources({{"a.rego", "package a\np = 2 { true }"}});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->version(), b->version());
  EXPECT_NE(a->version(), c->version());
}

TEST(PolicyEngine, RunTestsReportsPassFailAndErrors) {
  auto e = PolicyEngine::from_sources(
      {{"t.rego",
        "package t\nallow { input.role == \"admin\" }\n"
        "test_admin { allow with input as {\"role\": \"admin\"} }\n"
        "test_guest_denied { not allow with input as {\"role\": \"guest\"} }\n"
        "test_wrong { allow with input as {\"role\": \"guest\"} }\n"
        "test_conflict = x { x := [1, 2][_] }\n"}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  auto results = e->run_tests();
  ASSERT_EQ(results.size(), 4u);
  std::map<std::string, const PolicyTestResult*> by_name;
  for (const auto& r : results) by_name[r.name] = &r;
  EXPECT_TRUE(by_name.at("data.t.test_admin")->passed);
  EXPECT_TRUE(by_name.at("data.t.test_guest_denied")->passed);
  EXPECT_FALSE(by_name.at("data.t.test_wrong")->passed);
  EXPECT_TRUE(by_name.at("data.t.test_wrong")->error.empty());
  EXPECT_FALSE(by_name.at("data.t.test_conflict")->passed);
  EXPECT_NE(by_name.at("data.t.test_conflict")->error.find("eval_conflict_error"),
            std::string::npos);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> lint_rules(const std::string& file) {
  auto r = policy::lint_module(slurp(seeds_dir() / file), file);
  EXPECT_TRUE(r.ok()) << r.error().message;
  std::set<std::string> out;
  if (r.ok()) {
    for (const auto& f : *r) out.insert(f.rule + "@" + std::to_string(f.line));
  }
  return out;
}

TEST(PolicyLint, FlagsTheSeedTraps) {
  EXPECT_EQ(lint_rules("seed000_api_authz.rego"),
            (std::set<std::string>{"jwt-bearer-header@16", "jwt-decode-unverified@16"}));
  EXPECT_EQ(lint_rules("seed002_envoy_authz.rego"),
            (std::set<std::string>{"jwt-bearer-header@13", "jwt-decode-unverified@13"}));
  EXPECT_EQ(lint_rules("seed003_registry_authz.rego"),
            (std::set<std::string>{"jwt-decode-order@13", "jwt-decode-unverified@13"}));
}

TEST(PolicyLint, FlagsDefaultAllowTrueAndPassesACleanPolicy) {
  auto bad = policy::lint_module("package p\ndefault allow = true\n", "p.rego");
  ASSERT_TRUE(bad.ok());
  ASSERT_EQ(bad->size(), 1u);
  EXPECT_EQ((*bad)[0].rule, "default-allow-true");
  EXPECT_EQ((*bad)[0].line, 2);
  auto clean = policy::lint_module(
      "package p\nimport rego.v1\ndefault allow := false\n"
      "allow if {\n  [valid, _, payload] := "
      "io.jwt.decode_verify(trim_prefix(input.headers.authorization, \"Bearer \"), "
      "{\"cert\": data.jwks})\n  valid\n  payload.role == \"admin\"\n}\n",
      "p.rego");
  ASSERT_TRUE(clean.ok()) << clean.error().message;
  EXPECT_TRUE(clean->empty()) << (*clean)[0].rule;
}

}  // namespace
}  // namespace gatedrill

// Decision latency of the Rego engine: each seed policy and a 1,000-rule RBAC policy (rule
// indexing on input.role). Reports the mean (Google Benchmark) and p50/p99 per decision as
// counters; Seed002_DistinctTokens is seed 002 with a new token on every request. Target:
// p99 < 5 us per decision for the seed policies (Release build).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include "core/crypto/base64url.hpp"
#include "core/time/time_source.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace {

using gatedrill::PolicyEngine;

const char* kAdmin =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.c2ln";
const char* kAnalyst =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJyb2xlIjoiYW5hbHlzdCJ9.c2ln";

std::string seed(const char* name) {
  std::ifstream in(std::filesystem::path(GATEDRILL_SOURCE_DIR) / "tests/policy/seeds" / name);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

gatedrill::SystemTimeSource& clock_source() {
  static gatedrill::SystemTimeSource clock;
  return clock;
}

// Decisions over `inputs` in turn; one input is the common case of a client repeating itself.
void run_inputs(benchmark::State& state, const PolicyEngine& engine, const char* query,
                const std::vector<boost::json::value>& inputs, bool want) {
  std::vector<int64_t> samples;
  samples.reserve(1 << 16);
  auto& clock = clock_source();
  engine.allowed(query, inputs[0]);  // compiles and caches the query outside the measurement
  size_t next = 0;
  for (auto _ : state) {
    const boost::json::value& input = inputs[next];
    next = next + 1 == inputs.size() ? 0 : next + 1;
    int64_t t0 = clock.monotonic_ns();
    bool ok = engine.allowed(query, input);
    int64_t t1 = clock.monotonic_ns();
    if (ok != want) state.SkipWithError("unexpected decision");
    if (samples.size() < (1u << 16)) samples.push_back(t1 - t0);
  }
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  state.counters["p50_us"] = static_cast<double>(samples[samples.size() / 2]) / 1e3;
  state.counters["p99_us"] = static_cast<double>(samples[samples.size() * 99 / 100]) / 1e3;
}

void run(benchmark::State& state, const PolicyEngine& engine, const char* query,
         const boost::json::value& input, bool want) {
  run_inputs(state, engine, query, {input}, want);
}

// POLICY_BENCH_ITERATIONS=N fixes the iteration count, so an instruction count under
// callgrind (--toggle-collect='gatedrill::PolicyEngine::allowed*') divides into per-decision cost.
void configure(benchmark::internal::Benchmark* b) {
  if (const char* n = std::getenv("POLICY_BENCH_ITERATIONS")) b->Iterations(std::atoll(n));
}

// Decisions are evaluated every time (the engine would otherwise remember a pure policy's
// decision for a repeated input; BM_Seed002_Remembered measures that).
PolicyEngine load(const std::string& name, const std::string& text, size_t remembered = 0) {
  gatedrill::PolicyOptions opts;
  opts.time = &clock_source();
  opts.remembered_decisions = remembered;
  auto e = PolicyEngine::from_sources({{name, text}}, boost::json::object(), opts);
  if (!e) std::abort();
  return std::move(*e);
}

void BM_Seed000_AdminToken(benchmark::State& state) {
  static const PolicyEngine engine = load("seed000.rego", seed("seed000_api_authz.rego"));
  boost::json::value in = boost::json::object{{"method", "POST"},
                                              {"path", boost::json::array{"v1", "admin"}},
                                              {"http_auth_header", kAdmin}};
  run(state, engine, "data.api.authz.allow", in, true);
}
BENCHMARK(BM_Seed000_AdminToken)->Apply(configure);

void BM_Seed000_PublicPath(benchmark::State& state) {
  static const PolicyEngine engine = load("seed000.rego", seed("seed000_api_authz.rego"));
  boost::json::value in =
      boost::json::object{{"method", "GET"}, {"path", boost::json::array{"v1", "public"}}};
  run(state, engine, "data.api.authz.allow", in, true);
}
BENCHMARK(BM_Seed000_PublicPath)->Apply(configure);

boost::json::value seed002_analyst_input() {
  return boost::json::object{{"attributes",
                              {{"request",
                                {{"http",
                                  {{"method", "GET"},
                                   {"path", "/v1/data"},
                                   {"headers", {{"authorization", kAnalyst}}}}}}}}}};
}

void BM_Seed002_EnvoyAnalyst(benchmark::State& state) {
  static const PolicyEngine engine = load("seed002.rego", seed("seed002_envoy_authz.rego"));
  run(state, engine, "data.api.authz.allow", seed002_analyst_input(), true);
}
BENCHMARK(BM_Seed002_EnvoyAnalyst)->Apply(configure);

// The same with the engine's default: the repeated input's decision is remembered (the input
// is still converted from JSON and looked up).
void BM_Seed002_Remembered(benchmark::State& state) {
  static const PolicyEngine engine = load("seed002.rego", seed("seed002_envoy_authz.rego"),
                                          gatedrill::PolicyOptions{}.remembered_decisions);
  run(state, engine, "data.api.authz.allow", seed002_analyst_input(), true);
}
BENCHMARK(BM_Seed002_Remembered)->Apply(configure);

// As above, but every request carries a different token (1,024 analysts), so io.jwt.decode's
// per-thread cache never hits: the cost of a first sight of a token.
void BM_Seed002_DistinctTokens(benchmark::State& state) {
  static const PolicyEngine engine = load("seed002.rego", seed("seed002_envoy_authz.rego"));
  std::vector<boost::json::value> inputs;
  const std::string header = gatedrill::base64url_encode(R"({"alg":"RS256","typ":"JWT"})");
  for (int i = 0; i < 1024; ++i) {
    std::string payload = gatedrill::base64url_encode(R"({"sub":"user)" + std::to_string(i) +
                                                      R"(","role":"analyst"})");
    std::string token = header + "." + payload + ".c2ln";
    inputs.push_back(boost::json::object{{"attributes",
                                          {{"request",
                                            {{"http",
                                              {{"method", "GET"},
                                               {"path", "/v1/data"},
                                               {"headers", {{"authorization", token}}}}}}}}}});
  }
  run_inputs(state, engine, "data.api.authz.allow", inputs, true);
}
BENCHMARK(BM_Seed002_DistinctTokens)->Apply(configure);

// Seed 003 does not compile as printed (OPA's type error); this is its evident intent.
void BM_Seed003_Intended(benchmark::State& state) {
  static const PolicyEngine engine =
      load("seed003.rego",
           "package api.security.authz\ndefault allow = false\n"
           "allow {\ninput.protocol == \"https\"\n"
           "input.headers[\"X-Internal-Dept\"] == \"Engineering\"\nvalid_token\n}\n"
           "valid_token {\n[_, payload, _] := io.jwt.decode(input.token)\n"
           "payload.exp * 1000000000 > time.now_ns()\n}\n");
  const char* token =  // {"exp": 4102444800} (2100-01-01)
      "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2ln";
  boost::json::value in = boost::json::object{
      {"protocol", "https"}, {"headers", {{"X-Internal-Dept", "Engineering"}}}, {"token", token}};
  run(state, engine, "data.api.security.authz.allow", in, true);
}
BENCHMARK(BM_Seed003_Intended)->Apply(configure);

void BM_Rbac1000Rules(benchmark::State& state) {
  static const PolicyEngine engine = [] {
    std::string text = "package rbac\ndefault allow = false\n";
    for (int i = 0; i < 1000; ++i) {
      text += "allow { input.role == \"role" + std::to_string(i) + "\"; input.action == \"" +
              (i % 2 ? "read" : "write") + "\" }\n";
    }
    return load("rbac.rego", text);
  }();
  boost::json::value in = boost::json::object{{"role", "role777"}, {"action", "read"}};
  run(state, engine, "data.rbac.allow", in, true);
}
BENCHMARK(BM_Rbac1000Rules)->Apply(configure);

}  // namespace

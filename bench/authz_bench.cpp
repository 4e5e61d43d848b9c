// The authz call as the gateway makes it per request (gateway/authz): build the input document
// from the request (authz_input_value: only the keys the policy reads) and evaluate the drills'
// RBAC policy through the RegoAuthorizer, once for one request over and over (the engine
// remembers a pure policy's decision per input) and once with a new path each time (always
// evaluated); next to it the allow-list authorizer. policy_bench.cpp measures the engine alone
// on prebuilt inputs. Release build for numbers.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/http/http_message.hpp"
#include "core/time/time_source.hpp"
#include "gateway/authz/authorizer.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace {

using namespace gatedrill;
using namespace gatedrill::gateway;

std::string read_policy() {
  std::ifstream in(std::filesystem::path(GATEDRILL_SOURCE_DIR) /
                   "scenarios/drills/policies/rbac.rego");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What a loadgen request carries through the gateway.
struct Request {
  HeaderList headers{{"Host", "127.0.0.1:8443"},
                     {"User-Agent", "gatedrill-loadgen"},
                     {"Accept", "*/*"},
                     {"Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln"}};
  AuthzRequest request() const {
    AuthzRequest r;
    r.method = "GET";
    r.path = "/api/orders/42";
    r.route = "orders";
    r.protocol = "https";
    r.authorization = headers[3].second;
    r.subject = "gatedrill-loadgen";
    r.headers = &headers;
    return r;
  }
};

// The RBAC policy behind a RegoAuthorizer, or null after telling `state` why not.
std::unique_ptr<RegoAuthorizer> rbac_authorizer(benchmark::State& state) {
  static SystemTimeSource clock;
  PolicyOptions options;
  options.time = &clock;
  options.timeout = std::chrono::milliseconds(50);  // the gateway's --policy-timeout default
  auto engine =
      PolicyEngine::from_sources({{"rbac.rego", read_policy()}}, boost::json::object(), options);
  if (!engine) {
    state.SkipWithError("policy does not compile");
    return nullptr;
  }
  return std::make_unique<RegoAuthorizer>(std::make_shared<const PolicyEngine>(std::move(*engine)),
                                          "data.gatedrill.authz.allow");
}

// The same request each time: after the first, the remembered decision.
void BM_Authz_RegoRbac(benchmark::State& state) {
  auto authz = rbac_authorizer(state);
  if (!authz) return;
  Request req;
  const AuthzRequest r = req.request();
  for (auto _ : state) {
    auto d = authz->check(r);
    if (!d.allowed) state.SkipWithError("denied");
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_RegoRbac);

// A path not seen among the last 10,000 each time: every call evaluates the policy.
void BM_Authz_RegoRbacEvaluated(benchmark::State& state) {
  auto authz = rbac_authorizer(state);
  if (!authz) return;
  Request req;
  AuthzRequest r = req.request();
  std::vector<std::string> paths;
  for (int i = 0; i < 25000; ++i) paths.push_back("/api/orders/" + std::to_string(i));
  size_t next = 0;
  for (auto _ : state) {
    r.path = paths[next];
    next = (next + 1) % paths.size();
    auto d = authz->check(r);
    if (!d.allowed) state.SkipWithError("denied");
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_RegoRbacEvaluated);

// The whole input document (a policy reading `input` as a whole): the share of the call that
// is not the policy.
void BM_Authz_InputDocument(benchmark::State& state) {
  Request req;
  const AuthzRequest r = req.request();
  const policy::InputUse whole;
  for (auto _ : state) {
    auto input = authz_input_value(r, whole);
    benchmark::DoNotOptimize(input);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_InputDocument);

// Only what the RBAC policy reads (method, path, subject).
void BM_Authz_InputDocumentRbac(benchmark::State& state) {
  Request req;
  const AuthzRequest r = req.request();
  policy::InputUse rbac;
  rbac.whole = false;
  rbac.keys = {"method", "path", "subject"};
  for (auto _ : state) {
    auto input = authz_input_value(r, rbac);
    benchmark::DoNotOptimize(input);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_InputDocumentRbac);

void BM_Authz_AllowList(benchmark::State& state) {
  AllowListAuthorizer authz({*AllowRule::parse("alice@admin"), *AllowRule::parse("*@orders:GET")});
  Request req;
  const AuthzRequest r = req.request();
  for (auto _ : state) {
    auto d = authz.check(r);
    if (!d.allowed) state.SkipWithError("denied");
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_AllowList);

}  // namespace

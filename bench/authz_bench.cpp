// The authz call as the gateway makes it per request (gateway/authz): build the input document
// from the request (authz_input: path segments, headers twice, the token) and evaluate the
// drills' RBAC policy through the RegoAuthorizer; next to it the allow-list authorizer.
// policy_bench.cpp measures the engine alone on prebuilt inputs. Release build for numbers.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>
#include <boost/json/monotonic_resource.hpp>

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

void BM_Authz_RegoRbac(benchmark::State& state) {
  static SystemTimeSource clock;
  PolicyOptions options;
  options.time = &clock;
  options.timeout = std::chrono::milliseconds(50);  // the gateway's --policy-timeout default
  auto engine =
      PolicyEngine::from_sources({{"rbac.rego", read_policy()}}, boost::json::object(), options);
  if (!engine) {
    state.SkipWithError("policy does not compile");
    return;
  }
  RegoAuthorizer authz(std::make_shared<const PolicyEngine>(std::move(*engine)),
                       "data.gatedrill.authz.allow");
  Request req;
  const AuthzRequest r = req.request();
  for (auto _ : state) {
    auto d = authz.check(r);
    if (!d.allowed) state.SkipWithError("denied");
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_RegoRbac);

// The input document alone: the share of the call that is not the policy.
void BM_Authz_InputDocument(benchmark::State& state) {
  Request req;
  const AuthzRequest r = req.request();
  for (auto _ : state) {
    auto input = authz_input(r);
    benchmark::DoNotOptimize(input);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_InputDocument);

// The same in a stack arena, as RegoAuthorizer::check builds it.
void BM_Authz_InputDocumentArena(benchmark::State& state) {
  Request req;
  const AuthzRequest r = req.request();
  for (auto _ : state) {
    unsigned char arena[8192];
    boost::json::monotonic_resource resource(arena, sizeof(arena));
    auto input = authz_input(r, boost::json::storage_ptr(&resource));
    benchmark::DoNotOptimize(input);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authz_InputDocumentArena);

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

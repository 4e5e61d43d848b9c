// Rego policies and queries from outside (policy bundles, `gatedrill policy eval`): lexer,
// parser, compiler, lint, and evaluation of what compiles, with a small time budget.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/time/time_source.hpp"
#include "gateway/policy/lint.hpp"
#include "gateway/policy/policy_engine.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // "module\n%%\nquery": the query part is optional.
  std::string module(text), query = "data";
  if (auto sep = text.find("\n%%\n"); sep != std::string_view::npos) {
    module = std::string(text.substr(0, sep));
    query = std::string(text.substr(sep + 4));
  }
  (void)gatedrill::policy::lint_module(module, "fuzz.rego");
  gatedrill::SystemTimeSource clock;  // real time so the evaluation limit applies
  gatedrill::PolicyOptions opts;
  opts.time = &clock;
  opts.timeout = std::chrono::milliseconds(200);
  auto engine =
      gatedrill::PolicyEngine::from_sources({{"fuzz.rego", module}}, boost::json::object(), opts);
  if (!engine) return 0;
  (void)engine->eval_json(query, nullptr);
  return 0;
}

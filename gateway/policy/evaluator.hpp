#pragma once
// Top-down evaluation of a compiled query against the compiled modules, with OPA's semantics:
// undefined is not false, complete-rule conflicts are errors, sets and objects as documents.
// One Evaluator per query evaluation; the Compiled plan is shared read-only across threads.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "gateway/policy/compiler.hpp"

namespace gatedrill {
class TimeSource;
}

namespace gatedrill::policy {

struct EvalOptions {
  const TimeSource* time = nullptr;
  int64_t timeout_ns = 0;  // 0: no limit
};

struct Solution {
  std::vector<Value> expressions;                       // one per query expression
  std::vector<std::pair<std::string, Value>> bindings;  // named query variables
};

// Errors: "eval_conflict_error", "eval_timeout", "eval_unsafe_var", "eval_recursion".
Result<std::vector<Solution>> evaluate_query(const Compiled& compiled, const CompiledQuery& query,
                                             const std::optional<Value>& input,
                                             const EvalOptions& options,
                                             std::vector<std::string>* builtin_errors = nullptr);

}  // namespace gatedrill::policy

#pragma once
// The built-in functions a policy may call. A builtin that fails (wrong operand type, bad
// input) sets an error and yields no value: the expression is undefined, as in OPA by default.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/policy/value.hpp"

namespace gatedrill {
class TimeSource;
}

namespace gatedrill::policy {

struct BuiltinContext {
  const TimeSource* time = nullptr;
  int64_t now_ns = 0;  // read once per evaluation, so time.now_ns is stable within a query
  bool now_read = false;
  std::string error;
};

using BuiltinFn = std::optional<Value> (*)(const std::vector<Value>& args, BuiltinContext& ctx);

struct Builtin {
  const char* name;
  size_t arity;
  BuiltinFn fn;
  // False for a builtin whose answer depends on more than its arguments (the clock): a policy
  // calling one cannot have its decisions remembered per input.
  bool pure = true;
};

// Null when the name is not a builtin.
const Builtin* find_builtin(std::string_view name);

}  // namespace gatedrill::policy

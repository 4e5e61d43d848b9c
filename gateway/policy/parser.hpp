#pragma once
// Rego v0 and v1 syntax -> syntax tree. Anything outside the supported subset is rejected with
// "file:line: message" rather than parsed approximately.
#include <string_view>

#include "core/util/result.hpp"
#include "gateway/policy/ast.hpp"

namespace gatedrill::policy {

// Errors: "rego_parse_error".
Result<Module> parse_module(std::string_view source, std::string_view file);
// A query is a body: "data.x.allow", "x := data.a; x > 1". Errors: "rego_parse_error".
Result<Body> parse_query(std::string_view source);

}  // namespace gatedrill::policy

#pragma once
// Checks for the authorization traps the seed policies fall into. Findings are advice: the
// policy still loads, but it does not do what its author thinks.
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill::policy {

struct LintFinding {
  std::string file;
  int line = 0;
  std::string rule;  // "jwt-decode-unverified", "jwt-decode-order", "jwt-bearer-header",
                     // "default-allow-true"
  std::string message;
};

// Errors: "rego_parse_error" when the module does not parse.
Result<std::vector<LintFinding>> lint_module(std::string_view source, std::string_view file);

}  // namespace gatedrill::policy

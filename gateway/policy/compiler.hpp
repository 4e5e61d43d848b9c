#pragma once
// Turns parsed modules into one immutable plan: names resolved (rule names and imports become
// data references, calls bind to builtins or user functions), variables numbered into frame
// slots, body expressions ordered so every variable is bound before it is read (OPA's safety
// reordering), and rules grouped by path into a tree that mirrors the data document.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "gateway/policy/ast.hpp"

namespace gatedrill::policy {

struct DataTree {
  std::map<std::string, DataTree> children;
  const RuleSet* rules = nullptr;
};

struct Compiled {
  std::vector<Module> modules;
  std::map<std::vector<std::string>, std::unique_ptr<RuleSet>> rule_sets;
  DataTree tree;
  Value data;  // base documents (JSON data files)
};

// Errors: "rego_compile_error" ("file:line: message"), "rego_type_error".
Result<std::shared_ptr<Compiled>> compile_modules(std::vector<Module> modules, Value data);

// A compiled query: its body resolved against `compiled`, plus the slot of each named variable.
struct CompiledQuery {
  Rule rule;  // package-less pseudo rule holding the body and slot table
};
// Errors: "rego_parse_error", "rego_compile_error".
Result<CompiledQuery> compile_query(const Compiled& compiled, std::string_view query);

}  // namespace gatedrill::policy

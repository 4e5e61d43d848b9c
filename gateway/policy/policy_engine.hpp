#pragma once
// The Rego policy engine the gateway's authz filter and the `gatedrill policy` tools call.
// Modules are parsed and compiled once at load; evaluate() is const and thread-safe; each call
// allocates only its own frames. time.now_ns reads the TimeSource given at load, so a clock
// drill that skews a node's TimeSource moves its policies' notion of "now" too.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/util/result.hpp"
#include "core/util/shared_string.hpp"
#include "gateway/policy/function_ref.hpp"
#include "gateway/policy/input_use.hpp"
#include "gateway/policy/value.hpp"

namespace gatedrill {

class TimeSource;

namespace policy {
struct Compiled;
}

struct PolicyModule {
  std::string name;  // file name used in errors ("authz.rego:12: ...")
  std::string text;
};

struct PolicyOptions {
  const TimeSource* time = nullptr;     // null: time.now_ns is an error (undefined)
  std::chrono::nanoseconds timeout{0};  // 0: no limit; over it -> "eval_timeout"
  // allowed()'s decisions a pure policy remembers per query and input (then it forgets them
  // all and starts over); 0: evaluate every time (benchmarks of the evaluator).
  size_t remembered_decisions = 10000;
};

struct PolicyDecision {
  bool defined = false;  // undefined is not false: OPA returns no result at all
  boost::json::value value;
  std::vector<std::string> builtin_errors;  // "file:line: io.jwt.decode: ..." (made it undefined)
};

struct PolicyTestResult {
  std::string name;  // data.pkg.test_x
  std::string location;
  bool passed = false;
  std::string error;  // evaluation error, if any
  std::chrono::nanoseconds duration{0};
};

class PolicyEngine {
 public:
  // Files ending .rego are modules, .json are data (merged at the root; a data.json inside a
  // directory is placed under that directory's path, as OPA does). Directories are walked.
  // Errors: "io_error", "rego_parse_error", "rego_compile_error" (messages carry file:line),
  // "bad_json".
  static Result<PolicyEngine> load(const std::vector<std::string>& paths,
                                   PolicyOptions options = {});
  static Result<PolicyEngine> from_sources(const std::vector<PolicyModule>& modules,
                                           const boost::json::value& data = boost::json::object(),
                                           PolicyOptions options = {});

  // The value of a query such as "data.api.authz.allow" (or any body; the first expression's
  // value). Errors: "rego_parse_error", "rego_compile_error", "eval_conflict_error",
  // "eval_timeout", "eval_recursion", "eval_unsafe_var".
  Result<PolicyDecision> evaluate(std::string_view query, const boost::json::value& input) const;

  // The authz decision: true only for a defined boolean true. Undefined, non-boolean and errors
  // deny; *reason says why (for the decision log). Stable reason forms callers may branch on:
  //   ""                         allowed
  //   "denied by policy"         the decision is false
  //   "undefined decision[ (file:line: builtin error)]"
  //   "decision is not a boolean: <json>"
  //   "<error code>: <message>"  e.g. "eval_timeout: ...", "eval_conflict_error: ..."
  bool allowed(std::string_view query, const boost::json::value& input,
               std::string* reason = nullptr) const;

  // allowed() with the input in the engine's own value type, built by `make_input` for what
  // the query and the modules read of it (keys nobody reads may be left out; no JSON on the
  // way). When no builtin reads the clock, a decision is a function of the input alone: it is
  // remembered per query and `input_key` (bounded, dropped with the engine, so a new policy
  // version starts empty) and a repeated key is answered without building the input or
  // evaluating. The caller's contract: equal keys mean equal inputs for this query (e.g. the
  // raw fields the input is built from, length-prefixed). Errors and timeouts are never
  // remembered.
  bool allowed(std::string_view query, std::string_view input_key,
               policy::FunctionRef<policy::Value(const policy::InputUse&)> make_input,
               std::string* reason = nullptr) const;

  // A query compiled once and held by the caller, so a per-request allowed() does not look its
  // text up (under a lock) every time. Valid with the engine that prepared it only.
 private:
  struct QueryEntry;

 public:
  class Query {
   public:
    const policy::InputUse& use() const;

   private:
    friend class PolicyEngine;
    std::shared_ptr<QueryEntry> entry_;
  };
  // Errors as evaluate()'s for a query that does not compile.
  Result<Query> prepare(std::string_view query) const;
  // allowed() above with a prepared query.
  bool allowed(const Query& query, std::string_view input_key,
               policy::FunctionRef<policy::Value(const policy::InputUse&)> make_input,
               std::string* reason = nullptr) const;

  // What `query` and the modules read of the input, and whether they read the clock. Errors as
  // evaluate()'s for a query that does not compile.
  Result<policy::InputUse> input_use(std::string_view query) const;

  // `opa eval --format json`: {"result":[{"expressions":[{"value":..,"text":..,"location":..}],
  // "bindings":{..}}]} or {} when undefined. input may be null (no input document).
  Result<boost::json::value> eval_json(std::string_view query,
                                       const boost::json::value* input) const;

  // Every rule named test_* (like `opa test`): pass when defined and not false.
  std::vector<PolicyTestResult> run_tests() const;

  // A content hash of the modules and data ("sha:..."), stable across loads of the same text.
  const std::string& version() const { return version_.str(); }
  // The same, shared: stamping it on a decision costs no allocation.
  const SharedString& shared_version() const { return version_; }

 private:
  struct QueryCache;
  // The compiled query (cached by its text) with what it reads and its remembered decisions.
  Result<std::shared_ptr<QueryEntry>> query_entry(std::string_view query) const;
  std::shared_ptr<const policy::Compiled> compiled_;
  std::shared_ptr<QueryCache> queries_;
  PolicyOptions options_;
  SharedString version_;
};

}  // namespace gatedrill

#include "gateway/policy/policy_engine.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/compiler.hpp"
#include "gateway/policy/evaluator.hpp"
#include "gateway/policy/parser.hpp"

namespace gatedrill {

using policy::CompiledQuery;
using policy::Value;

struct PolicyEngine::QueryEntry {
  explicit QueryEntry(const policy::Compiled& compiled, CompiledQuery q)
      : query(std::move(q)), use(policy::input_use(compiled, &query.rule)) {}
  const CompiledQuery query;
  const policy::InputUse use;

  // allowed()'s answers by the caller's key for the input, for a pure policy. Keyed by a
  // string looked up as a string_view: a repeated input costs no allocation.
  struct Answer {
    bool ok;
    std::string why;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex memo_mutex;
  std::unordered_map<std::string, Answer, Hash, std::equal_to<>> memo;
};

struct PolicyEngine::QueryCache {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<QueryEntry>, std::less<>> queries;
};

namespace {

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Places `v` at `path` inside `root`, merging objects.
Value merge_at(const Value& root, const std::vector<std::string>& path, size_t i, const Value& v) {
  if (i == path.size()) {
    if (!root.is_object() || !v.is_object()) return v;
    policy::Object o = root.as_object();
    for (const auto& [k, x] : v.as_object()) {
      auto it = o.find(k);
      o[k] = it == o.end() ? x : merge_at(it->second, {}, 0, x);
    }
    return Value::object(std::move(o));
  }
  policy::Object o = root.is_object() ? root.as_object() : policy::Object{};
  Value key = Value::string(path[i]);
  auto it = o.find(key);
  o[key] = merge_at(it == o.end() ? Value() : it->second, path, i + 1, v);
  return Value::object(std::move(o));
}

Result<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error("io_error", "cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<PolicyEngine> PolicyEngine::load(const std::vector<std::string>& paths,
                                        PolicyOptions options) {
  namespace fs = std::filesystem;
  std::vector<PolicyModule> modules;
  Value data = Value::object({});
  auto add_file = [&](const fs::path& file,
                      const std::vector<std::string>& data_path) -> Result<void> {
    auto text = read_file(file);
    if (!text) return text.error();
    if (file.extension() == ".rego") {
      modules.push_back({file.string(), std::move(*text)});
    } else if (file.extension() == ".json") {
      auto j = parse_json(*text);
      if (!j) return make_error("bad_json", file.string() + ": " + j.error().message);
      data = merge_at(data, data_path, 0, Value::from_json(*j));
    }
    return {};
  };
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(p, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file()) files.push_back(it->path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        std::vector<std::string> data_path;
        for (const auto& part : fs::relative(f.parent_path(), p)) {
          if (part != ".") data_path.push_back(part.string());
        }
        if (f.extension() == ".json" && f.filename() != "data.json")
          continue;  // OPA: only data.json in dirs
        if (auto r = add_file(f, data_path); !r) return r.error();
      }
    } else if (fs::exists(p, ec)) {
      if (auto r = add_file(p, {}); !r) return r.error();
      if (fs::path(p).extension() != ".rego" && fs::path(p).extension() != ".json") {
        return make_error("io_error", p + ": expected a .rego or .json file");
      }
    } else {
      return make_error("io_error", p + ": no such file or directory");
    }
  }
  return from_sources(modules, data.to_json(), options);
}

Result<PolicyEngine> PolicyEngine::from_sources(const std::vector<PolicyModule>& modules,
                                                const boost::json::value& data,
                                                PolicyOptions options) {
  std::vector<policy::Module> parsed;
  uint64_t h = 1469598103934665603ULL;
  for (const auto& m : modules) {
    auto mod = policy::parse_module(m.text, m.name);
    if (!mod) return mod.error();
    parsed.push_back(std::move(*mod));
    h = fnv1a(fnv1a(h, m.name), m.text);
  }
  h = fnv1a(h, to_json(data));
  auto compiled = policy::compile_modules(std::move(parsed), Value::from_json(data));
  if (!compiled) return compiled.error();
  PolicyEngine e;
  e.compiled_ = std::move(*compiled);
  e.queries_ = std::make_shared<QueryCache>();
  e.options_ = options;
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv:%016llx", static_cast<unsigned long long>(h));
  e.version_ = SharedString(std::string(buf));
  return e;
}

namespace {

Result<std::vector<policy::Solution>> run(const policy::Compiled& c, const CompiledQuery& q,
                                          const std::optional<Value>& input, const PolicyOptions& o,
                                          std::vector<std::string>* errors) {
  policy::EvalOptions eo;
  eo.time = o.time;
  eo.timeout_ns = o.timeout.count();
  return policy::evaluate_query(c, q, input, eo, errors);
}

std::optional<Value> value_of(const boost::json::value* input) {
  if (!input) return std::nullopt;
  return Value::from_json(*input);
}

}  // namespace

Result<std::shared_ptr<PolicyEngine::QueryEntry>> PolicyEngine::query_entry(
    std::string_view query) const {
  {
    std::lock_guard<std::mutex> lock(queries_->mutex);
    auto it = queries_->queries.find(query);
    if (it != queries_->queries.end()) return it->second;
  }
  auto compiled = policy::compile_query(*compiled_, query);
  if (!compiled) return compiled.error();
  auto entry = std::make_shared<QueryEntry>(*compiled_, std::move(*compiled));
  std::lock_guard<std::mutex> lock(queries_->mutex);
  if (queries_->queries.size() < 1024) queries_->queries.emplace(std::string(query), entry);
  return entry;
}

Result<policy::InputUse> PolicyEngine::input_use(std::string_view query) const {
  auto entry = query_entry(query);
  if (!entry) return entry.error();
  return (*entry)->use;
}

Result<PolicyDecision> PolicyEngine::evaluate(std::string_view query,
                                              const boost::json::value& input) const {
  auto entry = query_entry(query);
  if (!entry) return entry.error();
  PolicyDecision d;
  auto sols = run(*compiled_, (*entry)->query, value_of(&input), options_, &d.builtin_errors);
  if (!sols) return sols.error();
  if (!sols->empty() && !(*sols)[0].expressions.empty()) {
    d.defined = true;
    d.value = (*sols)[0].expressions[0].to_json();
  }
  return d;
}

bool PolicyEngine::allowed(std::string_view query, const boost::json::value& input,
                           std::string* reason) const {
  // The serialized document is an exact key: two inputs that differ serialize differently.
  const std::string key = to_json(input);
  return allowed(
      query, key, [&](const policy::InputUse&) { return Value::from_json(input); }, reason);
}

const policy::InputUse& PolicyEngine::Query::use() const {
  return entry_->use;
}

Result<PolicyEngine::Query> PolicyEngine::prepare(std::string_view query) const {
  auto entry = query_entry(query);
  if (!entry) return entry.error();
  Query q;
  q.entry_ = std::move(*entry);
  return q;
}

bool PolicyEngine::allowed(std::string_view query, std::string_view input_key,
                           policy::FunctionRef<Value(const policy::InputUse&)> make_input,
                           std::string* reason) const {
  auto prepared = prepare(query);
  if (!prepared) {
    if (reason) *reason = prepared.error().code + ": " + prepared.error().message;
    return false;
  }
  return allowed(*prepared, input_key, make_input, reason);
}

bool PolicyEngine::allowed(const Query& query, std::string_view input_key,
                           policy::FunctionRef<Value(const policy::InputUse&)> make_input,
                           std::string* reason) const {
  QueryEntry& e = *query.entry_;
  const bool remember = e.use.pure && options_.remembered_decisions > 0;
  if (remember) {
    std::lock_guard<std::mutex> lock(e.memo_mutex);
    if (auto it = e.memo.find(input_key); it != e.memo.end()) {
      if (reason) *reason = it->second.why;
      return it->second.ok;
    }
  }
  std::optional<Value> input = make_input(e.use);
  std::vector<std::string> builtin_errors;
  auto sols = run(*compiled_, e.query, input, options_, &builtin_errors);
  std::string why;
  bool ok = false;
  if (!sols) {
    why = sols.error().code + ": " + sols.error().message;
  } else if (sols->empty() || (*sols)[0].expressions.empty()) {
    why = "undefined decision";
    if (!builtin_errors.empty()) why += " (" + builtin_errors.front() + ")";
  } else if (const Value& v = (*sols)[0].expressions[0]; !v.is_bool()) {
    why = "decision is not a boolean: " + to_json(v.to_json());
  } else {
    ok = v.as_bool();
    if (!ok) why = "denied by policy";
  }
  if (remember && sols) {
    std::lock_guard<std::mutex> lock(e.memo_mutex);
    if (e.memo.size() >= options_.remembered_decisions) e.memo.clear();
    e.memo.emplace(std::string(input_key), QueryEntry::Answer{ok, why});
  }
  if (reason) *reason = std::move(why);
  return ok;
}

Result<boost::json::value> PolicyEngine::eval_json(std::string_view query,
                                                   const boost::json::value* input) const {
  auto q = policy::compile_query(*compiled_, query);
  if (!q) return q.error();
  auto sols = run(*compiled_, *q, value_of(input), options_, nullptr);
  if (!sols) return sols.error();
  boost::json::object out;
  if (sols->empty()) return boost::json::value(std::move(out));
  // The source text of each expression: from its start to the next expression's start.
  std::vector<size_t> line_starts{0};
  for (size_t i = 0; i < query.size(); ++i) {
    if (query[i] == '\n') line_starts.push_back(i + 1);
  }
  const auto& body = q->rule.body;
  std::vector<size_t> starts;
  for (const auto& e : body)
    starts.push_back(line_starts[static_cast<size_t>(e.loc.line - 1)] +
                     static_cast<size_t>(e.loc.col - 1));
  boost::json::array results;
  for (const auto& s : *sols) {
    boost::json::array exprs;
    for (size_t i = 0; i < body.size(); ++i) {
      size_t end = query.size();
      for (size_t st : starts) {
        if (st > starts[i] && st < end) end = st;
      }
      std::string text(query.substr(starts[i], end - starts[i]));
      while (!text.empty() &&
             (std::isspace(static_cast<unsigned char>(text.back())) || text.back() == ';'))
        text.pop_back();
      boost::json::object e;
      e["value"] = s.expressions[i].to_json();
      e["text"] = text;
      e["location"] = boost::json::object{{"row", body[i].loc.line}, {"col", body[i].loc.col}};
      exprs.push_back(std::move(e));
    }
    boost::json::object r;
    r["expressions"] = std::move(exprs);
    if (!s.bindings.empty()) {
      boost::json::object b;
      for (const auto& [name, v] : s.bindings) b[name] = v.to_json();
      r["bindings"] = std::move(b);
    }
    results.push_back(std::move(r));
  }
  out["result"] = std::move(results);
  return boost::json::value(std::move(out));
}

std::vector<PolicyTestResult> PolicyEngine::run_tests() const {
  std::vector<PolicyTestResult> out;
  for (const auto& [path, rs] : compiled_->rule_sets) {
    if (path.back().rfind("test_", 0) != 0 || rs->kind != policy::RuleKind::kComplete) continue;
    PolicyTestResult t;
    t.name = "data";
    for (const auto& p : path) t.name += "." + p;
    if (!rs->rules.empty()) t.location = rs->rules[0]->loc.str();
    int64_t start = options_.time ? options_.time->monotonic_ns() : 0;
    auto q = policy::compile_query(*compiled_, t.name);
    if (!q) {
      t.error = q.error().message;
    } else {
      auto sols = run(*compiled_, *q, std::nullopt, options_, nullptr);
      if (!sols) {
        t.error = sols.error().code + ": " + sols.error().message;
      } else {
        t.passed = !sols->empty() && !(*sols)[0].expressions[0].is_false();
      }
    }
    if (options_.time) t.duration = std::chrono::nanoseconds(options_.time->monotonic_ns() - start);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace gatedrill

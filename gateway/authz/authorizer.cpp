#include "gateway/authz/authorizer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <utility>

#include "core/util/strings.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace gatedrill::gateway {

Result<AllowRule> AllowRule::parse(std::string_view text) {
  AllowRule rule;
  auto at = text.find('@');
  if (at == std::string_view::npos || at == 0)
    return make_error("bad_rule", "allow rule must be IDENTITY@ROUTE[:METHODS] (got '" +
                                      std::string(text) + "')");
  rule.identity = std::string(text.substr(0, at));
  std::string_view rest = text.substr(at + 1);
  // A SPIFFE ID contains ':', so the methods separator is the last ':' after the '@'.
  auto colon = rest.rfind(':');
  rule.route = std::string(rest.substr(0, colon));
  if (rule.route.empty()) return make_error("bad_rule", "allow rule without a route (use '*')");
  if (colon != std::string_view::npos) {
    for (auto m : split(rest.substr(colon + 1), ',')) {
      m = trim(m);
      if (m.empty())
        return make_error("bad_rule", "empty method in allow rule '" + std::string(text) + "'");
      std::string upper(m);
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      rule.methods.push_back(upper);
    }
  }
  return rule;
}

AllowListAuthorizer::AllowListAuthorizer(std::vector<AllowRule> rules) : rules_(std::move(rules)) {
  version_ = "allow-list:" + std::to_string(rules_.size());
}

AuthzDecision AllowListAuthorizer::check(const AuthzRequest& request) const {
  std::string_view identity = request.spiffe_id.empty() ? request.subject : request.spiffe_id;
  for (const auto& rule : rules_) {
    if (rule.identity != "*" && rule.identity != identity && rule.identity != request.subject)
      continue;
    if (rule.route != "*" && rule.route != request.route) continue;
    if (!rule.methods.empty() &&
        std::find(rule.methods.begin(), rule.methods.end(), request.method) == rule.methods.end())
      continue;
    return AuthzDecision{true, "allowed", "", version_};
  }
  return AuthzDecision{false, "no_matching_rule",
                       "no allow rule matches this identity, route and method", version_};
}

namespace {

using policy::Value;

Value text(std::string_view s) {
  return Value::short_string(s);
}

// A JSON-like object from members in any order; of two with one key, the later one wins (as
// assigning them in turn would).
Value object_of(std::vector<std::pair<Value, Value>> members) {
  // Insertion sort: stable, no scratch buffer, and these objects are small.
  for (size_t i = 1; i < members.size(); ++i)
    for (size_t j = i; j > 0 && members[j].first < members[j - 1].first; --j)
      std::swap(members[j], members[j - 1]);
  size_t kept = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    if (kept > 0 && members[kept - 1].first == members[i].first)
      members[kept - 1].second = std::move(members[i].second);
    else if (kept++ != i)
      members[kept - 1] = std::move(members[i]);
  }
  members.erase(members.begin() + static_cast<std::ptrdiff_t>(kept), members.end());
  return Value::object(policy::Object::from_unique(std::move(members)));
}

Value headers_of(const HeaderList* headers, bool lowercase) {
  std::vector<std::pair<Value, Value>> members;
  if (headers) {
    members.reserve(headers->size());
    std::string lower;
    for (const auto& [name, value] : *headers) {
      if (lowercase) {
        lower.assign(name);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      members.emplace_back(text(lowercase ? std::string_view(lower) : std::string_view(name)),
                           text(value));
    }
  }
  return object_of(std::move(members));
}

}  // namespace

Value authz_input_value(const AuthzRequest& r, const policy::InputUse& use) {
  std::vector<std::pair<Value, Value>> input;
  input.reserve(10);
  auto add = [&](std::string_view key, auto&& make) {
    if (use.reads(key)) input.emplace_back(text(key), make());
  };
  add("method", [&] { return text(r.method); });
  add("path", [&] {
    policy::Array segments;
    segments.reserve(static_cast<size_t>(std::count(r.path.begin(), r.path.end(), '/')));
    for (size_t at = 0; at < r.path.size();) {
      size_t end = std::min(r.path.find('/', at), r.path.size());
      if (end > at) segments.push_back(text(r.path.substr(at, end - at)));
      at = end + 1;
    }
    return Value::array(std::move(segments));
  });
  add("http_auth_header", [&] { return text(r.authorization); });
  add("protocol", [&] { return text(r.protocol); });
  add("headers", [&] { return headers_of(r.headers, false); });
  add("token", [&] {
    std::string_view token = trim(r.authorization);
    if (token.size() > 7 && iequals(token.substr(0, 7), "bearer ")) token = trim(token.substr(7));
    return text(token);
  });
  add("subject", [&] { return text(r.subject); });
  add("spiffe_id", [&] { return text(r.spiffe_id); });
  add("route", [&] { return text(r.route); });
  add("attributes", [&] {
    Value http = object_of({{text("method"), text(r.method)},
                            {text("path"), text(r.path)},
                            {text("query"), text(r.query)},
                            {text("headers"), headers_of(r.headers, true)}});
    Value request = object_of({{text("http"), std::move(http)}});
    Value source = object_of({{text("principal"), text(r.spiffe_id)}});
    return object_of({{text("request"), std::move(request)}, {text("source"), std::move(source)}});
  });
  return object_of(std::move(input));
}

boost::json::value authz_input(const AuthzRequest& request) {
  return authz_input_value(request, policy::InputUse{}).to_json();
}

namespace {

enum : unsigned {
  kAuthzMethod = 1u << 0,
  kAuthzPath = 1u << 1,
  kAuthzQuery = 1u << 2,
  kAuthzRoute = 1u << 3,
  kAuthzProtocol = 1u << 4,
  kAuthzAuthorization = 1u << 5,
  kAuthzSubject = 1u << 6,
  kAuthzSpiffeId = 1u << 7,
  kAuthzHeaders = 1u << 8,
};

void append_field(std::string& out, std::string_view field) {
  const auto size = static_cast<uint32_t>(field.size());
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out.append(field);
}

}  // namespace

unsigned authz_fields_read(const policy::InputUse& use) {
  // Mirrors authz_input_value: each input key and the request fields it is made of.
  static constexpr std::pair<std::string_view, unsigned> kSources[] = {
      {"method", kAuthzMethod},
      {"path", kAuthzPath},
      {"http_auth_header", kAuthzAuthorization},
      {"protocol", kAuthzProtocol},
      {"headers", kAuthzHeaders},
      {"token", kAuthzAuthorization},
      {"subject", kAuthzSubject},
      {"spiffe_id", kAuthzSpiffeId},
      {"route", kAuthzRoute},
      {"attributes", kAuthzMethod | kAuthzPath | kAuthzQuery | kAuthzHeaders | kAuthzSpiffeId},
  };
  unsigned fields = 0;
  for (const auto& [key, source] : kSources)
    if (use.reads(key)) fields |= source;
  return fields;
}

void authz_input_key(const AuthzRequest& r, unsigned fields, std::string& out) {
  out.clear();
  const std::pair<unsigned, std::string_view> scalars[] = {
      {kAuthzMethod, r.method},     {kAuthzPath, r.path},
      {kAuthzQuery, r.query},       {kAuthzRoute, r.route},
      {kAuthzProtocol, r.protocol}, {kAuthzAuthorization, r.authorization},
      {kAuthzSubject, r.subject},   {kAuthzSpiffeId, r.spiffe_id},
  };
  for (const auto& [bit, field] : scalars)
    if (fields & bit) append_field(out, field);
  if (fields & kAuthzHeaders) {
    const auto count = static_cast<uint32_t>(r.headers ? r.headers->size() : 0);
    out.append(reinterpret_cast<const char*>(&count), sizeof count);
    if (r.headers)
      for (const auto& [name, value] : *r.headers) {
        append_field(out, name);
        append_field(out, value);
      }
  }
}

RegoAuthorizer::RegoAuthorizer(std::shared_ptr<const PolicyEngine> engine, std::string query)
    : engine_(std::move(engine)), query_(engine_->prepare(query)) {
  // A query that does not compile reads "everything": check() then reports its error.
  fields_ = authz_fields_read(query_ ? query_->use() : policy::InputUse{});
}

SharedString RegoAuthorizer::version() const {
  return engine_->shared_version();
}

bool RegoAuthorizer::reads_headers() const {
  return !query_ || query_->use().reads("headers") || query_->use().reads("attributes");
}

AuthzDecision RegoAuthorizer::check(const AuthzRequest& request) const {
  // One key buffer per thread: after its first requests, building a key allocates nothing.
  thread_local std::string key;
  authz_input_key(request, fields_, key);
  std::string why;
  bool allowed = false;
  if (!query_)
    why = query_.error().code + ": " + query_.error().message;
  else
    allowed = engine_->allowed(
        *query_, key, [&](const policy::InputUse& use) { return authz_input_value(request, use); },
        &why);
  AuthzDecision d;
  d.allowed = allowed;
  d.message = why;
  // Errors, timeouts and undefined results all deny (BAD-INPUTS.md); the code says which.
  if (allowed)
    d.reason = "allowed";
  else if (why.rfind("eval_timeout", 0) == 0)
    d.reason = "eval_timeout";
  else if (why.rfind("undefined", 0) == 0)
    d.reason = "policy_undefined";
  else if (why == "denied by policy")
    d.reason = "policy_denied";
  else
    d.reason = "policy_error";
  d.policy_version = engine_->shared_version();
  return d;
}

}  // namespace gatedrill::gateway

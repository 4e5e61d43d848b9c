#include "gateway/authz/authorizer.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>

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

boost::json::value authz_input(const AuthzRequest& r, boost::json::storage_ptr storage) {
  const boost::json::storage_ptr& sp = storage;
  boost::json::array segments(sp);
  for (auto s : split(r.path, '/'))
    if (!s.empty()) segments.emplace_back(s);
  boost::json::object headers_as_sent(sp), headers_lower(sp);
  if (r.headers) {
    std::string lower;
    for (const auto& [name, value] : *r.headers) {
      headers_as_sent[name] = value;
      lower.assign(name);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers_lower[lower] = value;
    }
  }
  std::string_view token = trim(r.authorization);
  if (token.size() > 7 && iequals(token.substr(0, 7), "bearer ")) token = trim(token.substr(7));
  boost::json::object http(sp);
  http["method"] = r.method;
  http["path"] = r.path;
  http["query"] = r.query;
  http["headers"] = std::move(headers_lower);
  boost::json::object request(sp), source(sp), attributes(sp);
  request["http"] = std::move(http);
  source["principal"] = r.spiffe_id;
  attributes["request"] = std::move(request);
  attributes["source"] = std::move(source);
  boost::json::object input(sp);
  input.reserve(10);
  input["method"] = r.method;
  input["path"] = std::move(segments);
  input["http_auth_header"] = r.authorization;
  input["protocol"] = r.protocol;
  input["headers"] = std::move(headers_as_sent);
  input["token"] = token;
  input["subject"] = r.subject;
  input["spiffe_id"] = r.spiffe_id;
  input["route"] = r.route;
  input["attributes"] = std::move(attributes);
  return boost::json::value(std::move(input));
}

RegoAuthorizer::RegoAuthorizer(std::shared_ptr<const PolicyEngine> engine, std::string query)
    : engine_(std::move(engine)), query_(std::move(query)) {}

std::string RegoAuthorizer::version() const {
  return engine_->version();
}

AuthzDecision RegoAuthorizer::check(const AuthzRequest& request) const {
  std::string why;
  // The input document is built in a stack arena and dropped after the decision.
  unsigned char arena[8192];
  boost::json::monotonic_resource resource(arena, sizeof(arena));
  const bool allowed =
      engine_->allowed(query_, authz_input(request, boost::json::storage_ptr(&resource)), &why);
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
  d.policy_version = engine_->version();
  return d;
}

}  // namespace gatedrill::gateway

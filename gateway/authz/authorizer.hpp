#pragma once
// The authz filter's engine, behind an interface (Envoy ext_authz style): the filter builds an
// AuthzRequest, the engine answers allow/deny with a reason and the policy version it used.
// Engines: an allow-list (no policy language) and the Rego engine (gateway/policy). Tests and
// future remote PDPs plug in the same way. Implementations must be thread-safe.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/http/http_message.hpp"
#include "core/util/result.hpp"
#include "core/util/shared_string.hpp"
#include "gateway/policy/input_use.hpp"
#include "gateway/policy/policy_engine.hpp"
#include "gateway/policy/value.hpp"

namespace gatedrill::gateway {

struct AuthzRequest {
  std::string_view method;
  std::string_view path;  // without the query
  std::string_view query;
  std::string_view route;               // matched route name ("default" without a route table)
  std::string_view protocol;            // "http" | "https"
  std::string_view authorization;       // the raw Authorization header
  std::string_view subject;             // verified sub
  std::string_view spiffe_id;           // mTLS peer, else empty
  const HeaderList* headers = nullptr;  // the client's request headers
};

struct AuthzDecision {
  bool allowed = false;
  std::string reason;           // a code: "policy_denied", "policy_undefined", "policy_error",
                                // "eval_timeout", "no_matching_rule"
  std::string message;          // for people and the audit log
  SharedString policy_version;  // shared with the engine: no copy per request
  int status = 403;             // a denial's status: 503 when there is no policy to decide with yet
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual AuthzDecision check(const AuthzRequest& request) const = 0;
  virtual SharedString version() const = 0;
  // Whether check() looks at AuthzRequest::headers: when no one does, the data plane does not
  // copy every request's headers for it.
  virtual bool reads_headers() const { return true; }
};

// One allow rule: identity (sub or SPIFFE ID) and route, '*' for any; methods empty: any.
struct AllowRule {
  std::string identity = "*";
  std::string route = "*";
  std::vector<std::string> methods;

  // "IDENTITY@ROUTE[:GET,POST]" ("*@items:GET", "alice@*"). Errors: "bad_rule".
  static Result<AllowRule> parse(std::string_view text);
};

class AllowListAuthorizer final : public Authorizer {
 public:
  explicit AllowListAuthorizer(std::vector<AllowRule> rules);
  AuthzDecision check(const AuthzRequest& request) const override;
  SharedString version() const override { return version_; }
  bool reads_headers() const override { return false; }

 private:
  std::vector<AllowRule> rules_;
  SharedString version_;
};

// The input document the policies see, shaped for every seed policy at once:
//   {"method", "path": ["v1","data"], "http_auth_header", "protocol", "headers": {...}, "token",
//    "subject", "spiffe_id", "route",
//    "attributes": {"request": {"http": {"method", "path", "query", "headers": {lowercase...}}},
//                   "source": {"principal": spiffe_id}}}
// (a header sent twice: the last one). Built directly in the policy engine's value type, and
// only the top-level keys `use` says the policy reads (dozens of header strings per request
// otherwise, for a policy that reads three keys).
policy::Value authz_input_value(const AuthzRequest& request, const policy::InputUse& use);
// The whole document as JSON (`gatedrill policy eval -i` shape, tests).
boost::json::value authz_input(const AuthzRequest& request);

// Which raw fields of an AuthzRequest the input keys in `use` are built from (a bit set of
// kAuthz* below).
unsigned authz_fields_read(const policy::InputUse& use);
// The remembered-decision key: the fields in `fields`, each length-prefixed, written into
// `out` (cleared first). Equal keys mean equal input documents for that `use`, so the engine
// answers a repeated request without building its input.
void authz_input_key(const AuthzRequest& request, unsigned fields, std::string& out);

// Rego: allowed iff `query` (e.g. "data.gatedrill.authz.allow") is defined and true. Errors,
// timeouts and undefined deny.
class RegoAuthorizer final : public Authorizer {
 public:
  RegoAuthorizer(std::shared_ptr<const PolicyEngine> engine, std::string query);
  AuthzDecision check(const AuthzRequest& request) const override;
  SharedString version() const override;
  bool reads_headers() const override;  // the policy reads input.headers or input.attributes

 private:
  std::shared_ptr<const PolicyEngine> engine_;
  // Compiled and looked up once (an error is reported by every check()).
  Result<PolicyEngine::Query> query_;
  unsigned fields_;  // authz_fields_read() of what the query reads, worked out once
};

}  // namespace gatedrill::gateway

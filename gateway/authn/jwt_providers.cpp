#include "gateway/authn/jwt_providers.hpp"

#include <set>
#include <utility>

#include <boost/json/array.hpp>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"

namespace gatedrill::gateway {

namespace {

Error bad(const std::string& message) {
  return make_error("bad_providers", message);
}

// ["a", "b"] (or one string) into `out`; an error names the field.
Result<void> string_list(const boost::json::value& v, const std::string& where, const char* key,
                         std::vector<std::string>& out) {
  if (v.is_string()) {
    out.emplace_back(v.as_string());
    return {};
  }
  if (!v.is_array()) return bad(where + ": " + key + " must be an array of strings");
  for (const auto& item : v.as_array()) {
    if (!item.is_string() || item.as_string().empty())
      return bad(where + ": " + key + " must be an array of non-empty strings");
    out.emplace_back(item.as_string());
  }
  return {};
}

Result<JwtProviderConfig> parse_provider(const boost::json::value& value, size_t index) {
  std::string where = "provider " + std::to_string(index);
  if (!value.is_object()) return bad(where + " must be an object");
  const auto& o = value.as_object();
  JwtProviderConfig p;
  if (auto iss = o.find("issuer"); iss != o.end() && iss->value().is_string())
    p.issuer = std::string(iss->value().as_string());
  if (p.issuer.empty()) return bad(where + ": issuer is missing or not a non-empty string");
  where += " (issuer " + p.issuer + ")";
  for (const auto& [key, v] : o) {
    (void)v;
    if (key != "issuer" && key != "jwks_uri" && key != "audiences" && key != "algs" &&
        key != "leeway")
      return bad(where + ": unknown key " + std::string(key) +
                 " (issuer, jwks_uri, audiences, algs, leeway)");
  }
  auto jwks_uri = json_string(o, "jwks_uri");
  if (!jwks_uri) return bad(where + ": " + jwks_uri.error().message);
  if (!*jwks_uri || (*jwks_uri)->empty()) return bad(where + ": jwks_uri is missing");
  auto url = Url::parse(**jwks_uri);
  if (!url) return bad(where + ": jwks_uri: " + url.error().message);
  p.jwks_uri = **jwks_uri;
  if (auto it = o.find("audiences"); it != o.end())
    if (auto r = string_list(it->value(), where, "audiences", p.audiences); !r) return r.error();
  if (auto it = o.find("algs"); it != o.end()) {
    std::vector<std::string> names;
    if (auto r = string_list(it->value(), where, "algs", names); !r) return r.error();
    if (names.empty()) return bad(where + ": algs must name at least one algorithm");
    for (const auto& name : names) {
      auto alg = parse_jws_alg(name);
      if (!alg) return bad(where + ": alg '" + name + "' is not one of RS256, ES256, PS256, EdDSA");
      p.algs.push_back(*alg);
    }
  } else {
    p.algs = {JwsAlg::kRS256, JwsAlg::kES256, JwsAlg::kPS256, JwsAlg::kEdDSA};
  }
  auto leeway = json_string(o, "leeway");
  if (!leeway) return bad(where + ": " + leeway.error().message);
  if (*leeway) {
    auto d = parse_duration(**leeway);
    if (!d) return bad(where + ": leeway: " + d.error().message);
    if (d->count() < 0) return bad(where + ": leeway must be >= 0");
    p.leeway = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  return p;
}

}  // namespace

Result<std::vector<JwtProviderConfig>> parse_providers_json(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc) return bad(doc.error().message);
  if (!doc->is_array() || doc->as_array().empty())
    return bad("the providers file must be a non-empty JSON array of providers");
  std::vector<JwtProviderConfig> providers;
  std::set<std::string, std::less<>> issuers;
  size_t index = 0;
  for (const auto& value : doc->as_array()) {
    auto p = parse_provider(value, index);
    if (!p) return p.error();
    if (!issuers.insert(p->issuer).second)
      return bad("provider " + std::to_string(index) + ": duplicate issuer " + p->issuer);
    providers.push_back(std::move(*p));
    ++index;
  }
  return providers;
}

}  // namespace gatedrill::gateway

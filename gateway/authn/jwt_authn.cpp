#include "gateway/authn/jwt_authn.hpp"

#include <algorithm>
#include <utility>

#include "core/util/strings.hpp"

namespace gatedrill::gateway {

namespace {

AuthnResult deny(int status, std::string reason, std::string description) {
  AuthnResult r;
  r.status = status;
  r.reason = std::move(reason);
  r.description = std::move(description);
  return r;
}

}  // namespace

std::string authn_reason(std::string_view code) {
  if (code == "expired") return "token_expired";
  if (code == "not_yet_valid") return "token_not_yet_valid";
  if (code == "missing_exp") return "token_missing_exp";
  return std::string(code);
}

JwtAuthn::JwtAuthn(JwtAuthnConfig config, JwksCache& jwks, const TimeSource& time)
    : JwtAuthn(config, {JwtProvider{config.claims, config.algs, &jwks}}, time) {}

JwtAuthn::JwtAuthn(JwtAuthnConfig config, std::vector<JwtProvider> providers,
                   const TimeSource& time)
    : config_(std::move(config)),
      providers_(std::move(providers)),
      time_(time),
      cache_(config_.token_cache_entries) {}

const JwtProvider* JwtAuthn::select(const JoseValue* iss) const {
  // One provider with no issuer set accepts any iss (in-process tests and benchmarks).
  if (providers_.size() == 1 && providers_[0].claims.issuer.empty()) return &providers_[0];
  if (iss == nullptr || !iss->is_string()) return nullptr;
  const std::string_view name = iss->as_string();
  // A linear scan: a handful of issuers compare faster than a hash of the string.
  for (const auto& p : providers_)
    if (p.claims.issuer == name) return &p;
  return nullptr;
}

AuthnResult JwtAuthn::check(std::string_view authorization) {
  authorization = trim(authorization);
  if (authorization.empty())
    return deny(401, "missing_token", "no Bearer token in the Authorization header");
  if (iequals(authorization, "bearer")) return deny(401, "missing_token", "empty Bearer token");
  if (authorization.size() < 7 || !iequals(authorization.substr(0, 7), "bearer "))
    return deny(401, "malformed", "the Authorization header is not a Bearer token");
  std::string_view token = trim(authorization.substr(7));
  if (token.empty()) return deny(401, "missing_token", "empty Bearer token");

  if (auto hit = cache_.find(token)) {
    // Validity is a function of time: recheck exp/nbf against the current skewed wall clock.
    const int64_t now = time_.wall_seconds();
    const int64_t leeway = providers_[hit->provider].claims.leeway.count();
    if (hit->exp && now - leeway >= *hit->exp) {
      cache_.erase(token);
      return deny(401, "token_expired",
                  "token expired " + std::to_string(now - *hit->exp) + " s ago");
    }
    if ((hit->nbf && now + leeway < *hit->nbf) || (hit->iat && now + leeway < *hit->iat))
      return deny(401, "token_not_yet_valid", "token not valid yet");
    AuthnResult r;
    r.outcome = AuthnResult::Outcome::kAllow;
    r.status = 200;
    r.subject = std::move(hit->subject);  // the hit is our copy: move, do not copy again
    r.jti = std::move(hit->jti);
    r.exp = hit->exp;
    r.cache_hit = true;
    return r;
  }
  return verify_uncached(token);
}

AuthnResult JwtAuthn::verify_uncached(std::string_view token) {
  // The token's structure and the members the checks read, without its JSON trees; the view's
  // buffers are reused by this thread's next token.
  thread_local JwtView parsed;
  if (auto structure = parsed.parse(token); !structure)
    return deny(401, authn_reason(structure.error().code), structure.error().message);
  const JoseClaims& claims = parsed.claims();
  const JwtProvider* provider = select(claims.iss);
  if (!provider) {
    if (claims.iss == nullptr || !claims.iss->is_string())
      return deny(401, "bad_issuer", "the token has no string iss claim");
    // The name is the client's: echo at most 128 bytes of it into the challenge header.
    std::string_view name = claims.iss->as_string();
    std::string shown(name.substr(0, 128));
    if (name.size() > 128) shown += "...";
    return deny(401, "bad_issuer", "unknown issuer \"" + shown + "\"");
  }
  if (!provider->algs.empty() &&
      std::find(provider->algs.begin(), provider->algs.end(), parsed.alg()) == provider->algs.end())
    return deny(401, "bad_alg",
                std::string("alg ") + std::string(jws_alg_name(parsed.alg())) + " is not allowed" +
                    (providers_.size() > 1 ? " for issuer " + provider->claims.issuer : ""));

  JwksCache& jwks = *provider->jwks;
  auto keys = jwks.keys();
  if (!keys)
    return deny(config_.jwks_unavailable_status, "jwks_unavailable",
                "the issuer's signing keys are not available");
  const Jwks::Entry* entry = keys->find(parsed.kid());
  if (!entry) {
    jwks.request_refetch(parsed.kid());
    return deny(401, "unknown_kid", "no signing key matches the token's kid");
  }
  if (entry->alg && *entry->alg != parsed.alg())
    return deny(401, "bad_alg", "the token's alg does not match the key's alg");
  if (!jws_alg_fits_key(parsed.alg(), entry->key))
    return deny(401, "bad_alg", "the token's alg does not fit the key type");
  if (!jws_verify(parsed.alg(), entry->key, parsed.signing_input(), parsed.signature()))
    return deny(401, "bad_signature", "signature verification failed");

  auto times = check_jwt_claims(claims, provider->claims, time_.wall_seconds());
  if (!times) {
    const auto& code = times.error().code;
    return deny(code == "bad_audience" ? 403 : 401, authn_reason(code), times.error().message);
  }

  VerifiedToken verified;
  if (claims.sub != nullptr && claims.sub->is_string())
    verified.subject = SharedString(std::string_view(claims.sub->as_string()));
  if (claims.jti != nullptr && claims.jti->is_string())
    verified.jti = SharedString(std::string_view(claims.jti->as_string()));
  // As the checks read them: an integral double exp is kept too, so a cached hit still expires.
  verified.exp = times->exp;
  verified.nbf = times->nbf;
  verified.iat = times->iat;
  verified.provider = static_cast<uint32_t>(provider - providers_.data());
  cache_.insert(token, verified);  // copied into a reused slot: no allocation once warm
  AuthnResult r;
  r.outcome = AuthnResult::Outcome::kAllow;
  r.status = 200;
  r.subject = std::move(verified.subject);
  r.jti = std::move(verified.jti);
  r.exp = verified.exp;
  return r;
}

}  // namespace gatedrill::gateway

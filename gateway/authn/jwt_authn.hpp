#pragma once
// The JWT authn filter (Envoy jwt_authn in spirit): Bearer token -> structure -> provider by the
// unverified iss -> key by kid from that provider's JWKS cache (alg allowed for the provider,
// fitting the key and the JWK's alg) -> signature -> claims at the TimeSource's (skewable) wall
// time. Synchronous: the key sets are already in memory, and an unknown kid only asks the
// provider's cache for a background refetch. An iss no provider has is refused before any key
// is looked at, so a flood of made-up issuers costs no JWKS fetch.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/jwt.hpp"
#include "core/time/time_source.hpp"
#include "gateway/authn/jwks_cache.hpp"
#include "gateway/authn/token_cache.hpp"

namespace gatedrill::gateway {

// One trusted issuer: its claims policy, its alg allow-list and its key cache (not owned).
struct JwtProvider {
  ClaimPolicy claims;        // issuer (empty: any, single provider only), audiences, leeway
  std::vector<JwsAlg> algs;  // allow-list; empty: all four
  JwksCache* jwks = nullptr;
};

struct JwtAuthnConfig {
  ClaimPolicy claims;        // the single provider's issuer, audiences, leeway
  std::vector<JwsAlg> algs;  // its allow-list; empty: all four
  size_t token_cache_entries = 10000;
  // No key set fetched yet (IdP down since start): 401 by default, 500 when configured (seed 000).
  int jwks_unavailable_status = 401;
};

struct AuthnResult {
  enum class Outcome { kAllow, kDeny };
  Outcome outcome = Outcome::kDeny;
  int status = 401;            // 401 authn failure, 403 audience mismatch
  std::string reason;          // "token_expired", "bad_signature", "missing_token", ...
  std::string description;     // for error_description
  SharedString subject;        // "sub" when allowed (shared with the token cache's entry)
  SharedString jti;            // "jti" when allowed and present (revocation key)
  std::optional<int64_t> exp;  // "exp" when allowed and present (unix seconds)
  bool cache_hit = false;

  bool allowed() const { return outcome == Outcome::kAllow; }
};

class JwtAuthn {
 public:
  // One provider: config.claims and config.algs with `jwks`.
  JwtAuthn(JwtAuthnConfig config, JwksCache& jwks, const TimeSource& time);
  // Several providers (distinct issuers); config.claims/algs are ignored.
  JwtAuthn(JwtAuthnConfig config, std::vector<JwtProvider> providers, const TimeSource& time);

  // `authorization` is the Authorization header value (empty when absent).
  AuthnResult check(std::string_view authorization);

 private:
  AuthnResult verify_uncached(std::string_view token);
  // The provider whose issuer the (unverified) iss claim names; null when none.
  const JwtProvider* select(const JoseValue* iss) const;

  const JwtAuthnConfig config_;
  const std::vector<JwtProvider> providers_;
  const TimeSource& time_;
  TokenCache cache_;
};

// The crypto error code as the reason a client sees ("expired" -> "token_expired").
std::string authn_reason(std::string_view crypto_code);

}  // namespace gatedrill::gateway

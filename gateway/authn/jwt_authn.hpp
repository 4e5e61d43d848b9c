#pragma once
// The JWT authn filter (Envoy jwt_authn in spirit): Bearer token -> structure -> key by kid
// from the JWKS cache (alg allowed, fitting the key and the JWK's alg) -> signature -> claims at
// the TimeSource's (skewable) wall time. Synchronous: the key set is already in memory, and an
// unknown kid only asks the cache for a background refetch.
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

struct JwtAuthnConfig {
  ClaimPolicy claims;        // issuer, audiences, leeway
  std::vector<JwsAlg> algs;  // allow-list; empty: all four
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
  std::string subject;         // "sub" when allowed
  std::string jti;             // "jti" when allowed and present (revocation key)
  std::optional<int64_t> exp;  // "exp" when allowed and present (unix seconds)
  bool cache_hit = false;

  bool allowed() const { return outcome == Outcome::kAllow; }
};

class JwtAuthn {
 public:
  JwtAuthn(JwtAuthnConfig config, JwksCache& jwks, const TimeSource& time);

  // `authorization` is the Authorization header value (empty when absent).
  AuthnResult check(std::string_view authorization);

 private:
  AuthnResult verify_uncached(std::string_view token);
  bool alg_allowed(JwsAlg alg) const;

  const JwtAuthnConfig config_;
  JwksCache& jwks_;
  const TimeSource& time_;
  TokenCache cache_;
};

// The crypto error code as the reason a client sees ("expired" -> "token_expired").
std::string authn_reason(std::string_view crypto_code);

}  // namespace gatedrill::gateway

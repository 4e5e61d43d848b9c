#pragma once
// The trusted JWT issuers of a gateway (Envoy jwt_authn "providers" in spirit), read from the
// --providers file: [{"issuer", "jwks_uri", "audiences", "algs", "leeway"}, ...]. Each provider
// gets its own JWKS cache and alg allow-list; the token's iss picks the provider.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/jwt.hpp"
#include "core/util/result.hpp"

namespace gatedrill::gateway {

struct JwtProviderConfig {
  std::string issuer;
  std::string jwks_uri;
  std::vector<std::string> audiences;  // one must appear in aud; empty: any
  std::vector<JwsAlg> algs;            // never empty once parsed (default: all four)
  std::chrono::seconds leeway{60};
};

// Errors: "bad_providers" naming the entry (by index and issuer) and the field at fault: not a
// non-empty array, unknown key, missing/empty issuer or jwks_uri, a jwks_uri that is not an
// http(s) URL, duplicate issuer, unknown alg, bad leeway.
Result<std::vector<JwtProviderConfig>> parse_providers_json(std::string_view text);

}  // namespace gatedrill::gateway

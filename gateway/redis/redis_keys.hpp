#pragma once
// The Redis key layout shared by the gateway and the IdP simulator (header-only, so idp-sim
// needs no gateway library): a revoked JTI is the key `gatedrill:revoked:jti:<jti>` (value "1",
// expiring when the token would have expired anyway); a global rate-limit window is
// `gatedrill:rl:<identity>:<route>:<window start ms>`.
#include <cstdint>
#include <string>
#include <string_view>

namespace gatedrill {

inline constexpr std::string_view kRevokedJtiPrefix = "gatedrill:revoked:jti:";
inline constexpr std::string_view kRateLimitPrefix = "gatedrill:rl:";

inline std::string revoked_jti_key(std::string_view jti) {
  std::string key(kRevokedJtiPrefix);
  key += jti;
  return key;
}

inline std::string rate_limit_key(std::string_view identity, std::string_view route,
                                  int64_t window_start_ms) {
  std::string key(kRateLimitPrefix);
  key += identity;
  key += ':';
  key += route;
  key += ':';
  key += std::to_string(window_start_ms);
  return key;
}

}  // namespace gatedrill

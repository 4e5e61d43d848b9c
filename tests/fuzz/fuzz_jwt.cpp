// JWT/JWS parsing and claim checks on arbitrary bytes: never crash, never accept garbage.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/crypto/jwt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  auto parsed = gatedrill::parse_jwt(token);
  if (parsed) {
    gatedrill::ClaimPolicy policy;
    policy.issuer = "https://idp.example";
    policy.audiences = {"gatedrill"};
    (void)gatedrill::check_jwt_claims(parsed->claims, policy, 1767225600);
  }
  std::vector<std::string> warnings;
  (void)gatedrill::Jwks::parse(token, &warnings);
  return 0;
}

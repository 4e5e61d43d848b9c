// JWT/JWS parsing and claim checks on arbitrary bytes: never crash, never accept garbage, and
// the gateway's way of reading a token (JwtView: no JSON trees) answers every claim check as
// the trees do, to the message. The bytes are read as a token, and (so that the JSON reaches
// the parsers without the fuzzer having to find base64url) as a header and a payload JSON text
// separated by a NUL byte, encoded into a token.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/crypto/base64url.hpp"
#include "core/crypto/jwt.hpp"

namespace {

std::string described(const gatedrill::Result<gatedrill::ClaimTimes>& r) {
  if (!r.ok()) return r.error().code + ": " + r.error().message;
  auto time = [](const std::optional<int64_t>& t) { return t ? std::to_string(*t) : "-"; };
  return "ok " + time(r->exp) + " " + time(r->nbf) + " " + time(r->iat);
}

}  // namespace

namespace {

void check_token(std::string_view token) {
  auto parsed = gatedrill::parse_jwt(token);
  static gatedrill::JwtView view;
  auto viewed = view.parse(token);
  if (parsed.ok() != viewed.ok()) std::abort();
  if (parsed) {
    gatedrill::ClaimPolicy policy;
    policy.issuer = "https://idp.example";
    policy.audiences = {"gatedrill"};
    auto tree = gatedrill::check_jwt_claims(parsed->claims, policy, 1767225600);
    auto lean = gatedrill::check_jwt_claims(view.claims(), policy, 1767225600);
    if (described(tree) != described(lean)) std::abort();
    if (parsed->kid != view.kid() || parsed->alg != view.alg() ||
        parsed->signature != view.signature() || parsed->signing_input != view.signing_input())
      std::abort();
  } else if (parsed.error().code != viewed.error().code ||
             parsed.error().message != viewed.error().message) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  check_token(token);
  if (const size_t nul = token.find('\0'); nul != std::string_view::npos) {
    check_token(gatedrill::base64url_encode(token.substr(0, nul)) + "." +
                gatedrill::base64url_encode(token.substr(nul + 1)) + ".c2ln");
  }
  std::vector<std::string> warnings;
  (void)gatedrill::Jwks::parse(token, &warnings);
  return 0;
}

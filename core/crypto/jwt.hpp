#pragma once
// JWS compact serialization and JWT claim checks (RFC 7515/7519), strict about everything
// BAD-INPUTS.md lists: alg "none" in any casing, algorithm confusion, non-raw ECDSA signatures,
// malformed segments, duplicate claim names, non-object header/payload, wrongly typed claims.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/crypto/jose_json.hpp"
#include "core/crypto/keys.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

enum class JwsAlg { kRS256, kPS256, kES256, kEdDSA };

// Exact, case-sensitive names. Errors: "bad_alg" ("none" and HS* are always refused here).
Result<JwsAlg> parse_jws_alg(std::string_view name);
std::string_view jws_alg_name(JwsAlg alg);
// The key can produce/verify this alg (RS256/PS256 need RSA, ES256 P-256, EdDSA Ed25519).
bool jws_alg_fits_key(JwsAlg alg, const Key& key);

// Raw signature bytes (ES256: 64-byte r||s as JWS requires, never DER).
Result<std::string> jws_sign(JwsAlg alg, const Key& key, std::string_view signing_input);
// False for any mismatch, malformed or out-of-range signature (r/s = 0, >= n, wrong length).
bool jws_verify(JwsAlg alg, const Key& key, std::string_view signing_input,
                std::string_view signature);

// header.payload.signature, signed.
Result<std::string> sign_jwt(JwsAlg alg, const Key& key, std::string_view kid,
                             const boost::json::object& claims);

struct ParsedJwt {
  JwsAlg alg = JwsAlg::kRS256;
  std::string kid;  // may be empty
  boost::json::object header;
  boost::json::object claims;
  std::string signing_input;  // "header_b64.payload_b64"
  std::string signature;      // decoded bytes
};

// Structure only (no signature check). Errors (code is the reason the gateway reports):
//   "malformed"  wrong segment count, empty segment, bad base64url, bad JSON, duplicate names,
//                header/payload not an object, oversized (> 16 KiB)
//   "bad_alg"    none/HS*/unknown alg
//   "unsupported_header"  crit with anything, b64:false, embedded jwk/jku/x5u/x5c
Result<ParsedJwt> parse_jwt(std::string_view token);

struct ClaimPolicy {
  std::string issuer;                  // required match when non-empty
  std::vector<std::string> audiences;  // one must appear in aud when non-empty
  std::chrono::seconds leeway{60};
  bool require_exp = true;
};

// The time claims as check_jwt_claims read them (integral seconds; absent: empty), so a caller
// that keeps them does not look them up and convert them a second time.
struct ClaimTimes {
  std::optional<int64_t> exp;
  std::optional<int64_t> nbf;
  std::optional<int64_t> iat;
};

// The registered claims a verifier reads (RFC 7519 4.1), found in one pass over the claims;
// null when absent. Points into what it was read from: a JSON tree (RegisteredClaims) or a
// JwtView (JoseClaims).
template <class Value>
struct BasicRegisteredClaims {
  const Value* iss = nullptr;
  const Value* sub = nullptr;
  const Value* aud = nullptr;
  const Value* exp = nullptr;
  const Value* nbf = nullptr;
  const Value* iat = nullptr;
  const Value* jti = nullptr;
};
using RegisteredClaims = BasicRegisteredClaims<boost::json::value>;
using JoseClaims = BasicRegisteredClaims<JoseValue>;
RegisteredClaims find_registered_claims(const boost::json::object& claims);

// Checks exp/nbf/iat (numbers only, leeway applied), iss and aud at wall time now_s, and returns
// the times it read. Errors:
//   "expired", "not_yet_valid", "bad_issuer", "bad_audience" (an authz failure: 403),
//   "bad_claim" (wrong type/range: string exp, huge, negative), "missing_exp".
Result<ClaimTimes> check_jwt_claims(const boost::json::object& claims, const ClaimPolicy& policy,
                                    int64_t now_s);
// The same on claims already found (a caller that reads sub/jti/iss too looks once); one
// implementation reads both kinds.
Result<ClaimTimes> check_jwt_claims(const RegisteredClaims& claims, const ClaimPolicy& policy,
                                    int64_t now_s);
Result<ClaimTimes> check_jwt_claims(const JoseClaims& claims, const ClaimPolicy& policy,
                                    int64_t now_s);

// parse_jwt's checks, in its order and with its errors, without building the header's and the
// payload's JSON trees (parse_jose_members): what a verifier reads of a token. parse_jwt is
// built on it. Keep one and reuse it (the gateway: one per thread): after warm-up a parse
// allocates nothing. What it returns is valid until its next parse; signing_input() points into
// the token, so while the token lives too.
class JwtView {
 public:
  JwtView() = default;
  JwtView(const JwtView&) = delete;  // its values point into its own buffers
  JwtView& operator=(const JwtView&) = delete;

  Result<void> parse(std::string_view token);

  JwsAlg alg() const { return alg_; }
  std::string_view kid() const { return kid_; }  // empty when absent
  const JoseClaims& claims() const { return claims_; }
  std::string_view signing_input() const { return signing_input_; }  // "header_b64.payload_b64"
  std::string_view signature() const { return signature_; }          // decoded bytes
  // The decoded header and payload JSON text.
  std::string_view header_json() const { return header_json_; }
  std::string_view payload_json() const { return payload_json_; }

 private:
  // Decodes and checks the header segment; sets accepted_alg_ and accepted_kid_.
  Result<void> parse_header(std::string_view segment);

  JwsAlg alg_ = JwsAlg::kRS256;
  std::string_view kid_;
  std::string accepted_header_;  // the last header segment accepted (base64url text)
  JwsAlg accepted_alg_ = JwsAlg::kRS256;
  std::string accepted_kid_;
  JoseClaims claims_;
  std::string_view signing_input_;
  std::string header_json_;
  std::string payload_json_;
  std::string signature_;
  JoseValue header_values_[8];
  JoseValue claim_values_[7];
  JoseBuffers header_buffers_;
  JoseBuffers claim_buffers_;
};

// A JSON Web Key Set with the keys we accept; unusable keys are skipped and explained.
class Jwks {
 public:
  // Errors: "bad_jwks" (not JSON, no "keys" array). Skipped keys go to warnings (RSA < 2048,
  // off-curve EC, duplicate kid: all copies dropped, missing kid, unknown kty).
  static Result<Jwks> parse(std::string_view json, std::vector<std::string>* warnings = nullptr);

  struct Entry {
    std::string kid;
    std::optional<JwsAlg> alg;  // the JWK's "alg" when present: the token's alg must match
    Key key;
  };
  const Entry* find(std::string_view kid) const;
  const std::vector<Entry>& entries() const { return entries_; }
  std::string to_json() const;  // public JWKS document

  void add(std::string kid, std::optional<JwsAlg> alg, Key key);

 private:
  std::vector<Entry> entries_;
};

}  // namespace gatedrill

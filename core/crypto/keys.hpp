#pragma once
// Asymmetric keys (OpenSSL 3 EVP_PKEY) for JWS and TLS: generate, load/save PEM, and convert
// to/from JWK. Parsed once, shared cheaply (a Key is a ref-counted handle), thread-safe to use.
#include <memory>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/util/result.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace gatedrill {

enum class KeyType { kRsa, kEcP256, kEd25519 };

class Key {
 public:
  Key() = default;
  static Result<Key> generate(KeyType type, int rsa_bits = 2048);
  // PKCS#8 / traditional private key or SubjectPublicKeyInfo public key. Errors: "bad_key".
  static Result<Key> from_pem(std::string_view pem);
  // A public JWK (kty RSA / EC P-256 / OKP Ed25519). Rejects RSA < 2048 bits, EC points off the
  // curve, unknown kty/crv, and private members. Errors: "bad_jwk" with the reason.
  static Result<Key> from_jwk(const boost::json::object& jwk);

  bool valid() const { return pkey_ != nullptr; }
  KeyType type() const { return type_; }
  int bits() const;
  bool has_private() const { return has_private_; }

  std::string private_pem() const;  // PKCS#8; empty for a public key
  std::string public_pem() const;
  // {"kty":..., "kid": kid, "alg": alg, "use": "sig", ...public members}
  boost::json::object public_jwk(std::string_view kid, std::string_view alg) const;
  // RFC 7638 JWK thumbprint (SHA-256, base64url): a stable kid.
  std::string thumbprint() const;

  EVP_PKEY* native() const { return pkey_.get(); }

 private:
  std::shared_ptr<EVP_PKEY> pkey_;
  KeyType type_ = KeyType::kRsa;
  bool has_private_ = false;
  friend struct KeyAccess;
};

}  // namespace gatedrill

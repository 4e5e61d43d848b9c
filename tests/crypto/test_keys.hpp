#pragma once
// Keys shared by the crypto tests of one binary: RSA generation is slow, so each is made once.
#include <string>
#include <string_view>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "core/crypto/base64url.hpp"
#include "core/crypto/jwt.hpp"
#include "core/crypto/keys.hpp"

namespace gatedrill::test {

inline const Key& shared_key(KeyType type, int slot = 0) {
  static Key keys[3][2];
  Key& key = keys[static_cast<int>(type)][slot];
  if (!key.valid()) {
    auto generated = Key::generate(type);
    if (!generated) ADD_FAILURE() << generated.error().message;
    else key = *generated;
  }
  return key;
}
inline const Key& rsa_key(int slot = 0) { return shared_key(KeyType::kRsa, slot); }
inline const Key& ec_key(int slot = 0) { return shared_key(KeyType::kEcP256, slot); }
inline const Key& ed_key(int slot = 0) { return shared_key(KeyType::kEd25519, slot); }

inline const Key& key_for(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kES256: return ec_key();
    case JwsAlg::kEdDSA: return ed_key();
    default: return rsa_key();
  }
}

// A token from raw JSON texts, so tests can say exactly what an attacker would send.
inline std::string forge(std::string_view header_json, std::string_view payload_json,
                         std::string_view signature = "sig") {
  return base64url_encode(header_json) + "." + base64url_encode(payload_json) + "." +
         base64url_encode(signature);
}

// As forge, correctly signed with `key` under `alg` (whatever the header claims).
inline std::string forge_signed(std::string_view header_json, std::string_view payload_json,
                                JwsAlg alg, const Key& key) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  auto sig = jws_sign(alg, key, input);
  EXPECT_TRUE(sig.ok());
  return input + "." + base64url_encode(sig.ok() ? *sig : std::string());
}

inline const char* kGoodClaims = R"({"sub":"alice","iss":"https://idp","aud":"gw","exp":1767229200})";

}  // namespace gatedrill::test

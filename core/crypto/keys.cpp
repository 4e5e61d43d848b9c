#include "core/crypto/keys.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <boost/json/serialize.hpp>

#include "core/crypto/base64url.hpp"
#include "core/crypto/openssl_ptr.hpp"

namespace gatedrill {

// Builds Keys from an owned EVP_PKEY; the only way around Key's private members.
struct KeyAccess {
  static Key make(EVP_PKEY* pkey, KeyType type, bool has_private) {
    Key key;
    key.pkey_ = std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
    key.type_ = type;
    key.has_private_ = has_private;
    return key;
  }
};

namespace {

constexpr int kMinRsaBits = 2048;

// Which of our key types this is; nullopt-like false for anything else (DSA, P-384, X25519...).
bool classify(EVP_PKEY* pkey, KeyType* type) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
      *type = KeyType::kRsa;
      return true;
    case EVP_PKEY_ED25519:
      *type = KeyType::kEd25519;
      return true;
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) != 1) return false;
      std::string_view name(group, len);
      if (name != "prime256v1" && name != "P-256") return false;
      *type = KeyType::kEcP256;
      return true;
    }
    default:
      return false;
  }
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

std::string bn_bytes(const BIGNUM* bn, int pad_to = 0) {
  int len = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  std::string out(static_cast<size_t>(len), '\0');
  if (pad_to > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
}

std::string get_bn_param(EVP_PKEY* pkey, const char* name, int pad_to = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) return {};
  BnPtr bn(raw);
  return bn_bytes(bn.get(), pad_to);
}

// Public members of the JWK in RFC 7638 order (lexicographic), as (name, value) pairs.
std::vector<std::pair<std::string, std::string>> public_members(const Key& key) {
  EVP_PKEY* pkey = key.native();
  switch (key.type()) {
    case KeyType::kRsa:
      return {{"e", base64url_encode(get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E))},
              {"kty", "RSA"},
              {"n", base64url_encode(get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N))}};
    case KeyType::kEcP256:
      return {{"crv", "P-256"},
              {"kty", "EC"},
              {"x", base64url_encode(get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
              {"y", base64url_encode(get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
    case KeyType::kEd25519: {
      std::string raw(32, '\0');
      size_t len = raw.size();
      EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(raw.data()), &len);
      raw.resize(len);
      return {{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", base64url_encode(raw)}};
    }
  }
  return {};
}

Error bad_jwk(std::string message) {
  return make_error("bad_jwk", std::move(message));
}

Result<std::string> jwk_member(const boost::json::object& jwk, std::string_view name) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return bad_jwk("JWK has no \"" + std::string(name) + "\"");
  if (!it->value().is_string())
    return bad_jwk("JWK \"" + std::string(name) + "\" must be a string");
  auto decoded = base64url_decode(it->value().as_string());
  if (!decoded) return bad_jwk("JWK \"" + std::string(name) + "\" is not base64url");
  if (decoded->empty()) return bad_jwk("JWK \"" + std::string(name) + "\" is empty");
  return decoded;
}

Result<Key> from_params(const char* type_name, OSSL_PARAM_BLD* bld, KeyType type) {
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return bad_jwk("cannot build key parameters");
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || !pkey) {
    return bad_jwk(std::string("OpenSSL refused the ") + type_name + " public key");
  }
  return KeyAccess::make(pkey, type, false);
}

// The point must be on the curve and not the identity; OpenSSL's full public check does that.
bool public_key_sane(EVP_PKEY* pkey) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
}

Result<Key> rsa_from_jwk(const boost::json::object& jwk) {
  auto n = jwk_member(jwk, "n");
  if (!n) return n.error();
  auto e = jwk_member(jwk, "e");
  if (!e) return e.error();
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                       static_cast<int>(n->size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                       static_cast<int>(e->size()), nullptr));
  if (!bn_n || !bn_e) return bad_jwk("cannot read RSA n/e");
  int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits)
    return bad_jwk("RSA key has " + std::to_string(bits) + " bits; at least 2048 are required");
  if (bits > 16384) return bad_jwk("RSA key larger than 16384 bits");
  if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get()) || BN_num_bits(bn_e.get()) > 64)
    return bad_jwk("RSA exponent e is not a sane public exponent");
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return bad_jwk("cannot build RSA parameters");
  }
  return from_params("RSA", bld.get(), KeyType::kRsa);
}

Result<Key> ec_from_jwk(const boost::json::object& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->value().is_string() || crv->value().as_string() != "P-256")
    return bad_jwk("EC JWK must have crv \"P-256\"");
  auto x = jwk_member(jwk, "x");
  if (!x) return x.error();
  auto y = jwk_member(jwk, "y");
  if (!y) return y.error();
  if (x->size() != 32 || y->size() != 32) return bad_jwk("P-256 x and y must be 32 bytes each");
  std::string point = "\x04" + *x + *y;
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return bad_jwk("cannot build EC parameters");
  }
  auto key = from_params("EC", bld.get(), KeyType::kEcP256);
  if (!key) return bad_jwk("EC point is not on the P-256 curve");
  if (!public_key_sane(key->native())) return bad_jwk("EC point is not on the P-256 curve");
  return key;
}

Result<Key> okp_from_jwk(const boost::json::object& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->value().is_string() || crv->value().as_string() != "Ed25519")
    return bad_jwk("OKP JWK must have crv \"Ed25519\"");
  auto x = jwk_member(jwk, "x");
  if (!x) return x.error();
  if (x->size() != 32) return bad_jwk("Ed25519 x must be 32 bytes");
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
  if (!pkey) return bad_jwk("OpenSSL refused the Ed25519 public key");
  return KeyAccess::make(pkey, KeyType::kEd25519, false);
}

}  // namespace

Result<Key> Key::generate(KeyType type, int rsa_bits) {
  EVP_PKEY* pkey = nullptr;
  switch (type) {
    case KeyType::kRsa:
      if (rsa_bits < kMinRsaBits || rsa_bits > 16384)
        return make_error("bad_key",
                          "RSA keys must have 2048..16384 bits, not " + std::to_string(rsa_bits));
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      break;
    case KeyType::kEcP256:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEd25519:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  if (!pkey) return make_error("bad_key", "key generation failed");
  return KeyAccess::make(pkey, type, true);
}

Result<Key> Key::from_pem(std::string_view pem) {
  if (pem.size() > (1 << 20)) return make_error("bad_key", "PEM larger than 1 MiB");
  bool is_private = pem.find("PRIVATE KEY-----") != std::string_view::npos;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return make_error("bad_key", "cannot read PEM");
  // An empty passphrase callback: encrypted keys fail instead of prompting on the terminal.
  auto no_pass = [](char*, int, int, void*) -> int { return 0; };
  EVP_PKEY* pkey = is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_pass, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, no_pass, nullptr);
  if (!pkey)
    return make_error(
        "bad_key", is_private ? "not a readable PEM private key" : "not a readable PEM public key");
  KeyType type;
  if (!classify(pkey, &type)) {
    EVP_PKEY_free(pkey);
    return make_error("bad_key", "unsupported key type (RSA, EC P-256 and Ed25519 only)");
  }
  Key key = KeyAccess::make(pkey, type, is_private);
  if (type == KeyType::kRsa && key.bits() < kMinRsaBits)
    return make_error("bad_key", "RSA key has " + std::to_string(key.bits()) +
                                     " bits; at least 2048 are required");
  return key;
}

Result<Key> Key::from_jwk(const boost::json::object& jwk) {
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->value().is_string()) return bad_jwk("JWK has no string \"kty\"");
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(member))
      return bad_jwk(std::string("JWK carries private member \"") + member +
                     "\"; public keys only");
  }
  std::string_view type = kty->value().as_string();
  if (type == "RSA") return rsa_from_jwk(jwk);
  if (type == "EC") return ec_from_jwk(jwk);
  if (type == "OKP") return okp_from_jwk(jwk);
  return bad_jwk("unsupported kty \"" + std::string(type) + "\"");
}

int Key::bits() const {
  return pkey_ ? EVP_PKEY_get_bits(pkey_.get()) : 0;
}

std::string Key::private_pem() const {
  if (!pkey_ || !has_private_) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return {};
  return bio_to_string(bio.get());
}

std::string Key::public_pem() const {
  if (!pkey_) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) return {};
  return bio_to_string(bio.get());
}

boost::json::object Key::public_jwk(std::string_view kid, std::string_view alg) const {
  boost::json::object jwk;
  if (!pkey_) return jwk;
  for (auto& [name, value] : public_members(*this)) jwk[name] = value;
  if (!kid.empty()) jwk["kid"] = kid;
  if (!alg.empty()) jwk["alg"] = alg;
  jwk["use"] = "sig";
  return jwk;
}

std::string Key::thumbprint() const {
  if (!pkey_) return {};
  // RFC 7638: required members only, lexicographic order, no whitespace.
  std::string canonical = "{";
  bool first = true;
  for (auto& [name, value] : public_members(*this)) {
    if (!first) canonical += ",";
    first = false;
    canonical += "\"" + name + "\":\"" + value + "\"";
  }
  canonical += "}";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(canonical.data(), canonical.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    return {};
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace gatedrill

#include "core/crypto/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/base64url.hpp"
#include "core/crypto/jose_json.hpp"
#include "core/crypto/openssl_ptr.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"

namespace gatedrill {
namespace {
class TokenArena;
}  // namespace
}  // namespace gatedrill

// Deallocation is a no-op, so values on a TokenArena skip destroying their elements one by one.
template <>
struct boost::json::is_deallocate_trivial<gatedrill::TokenArena> : std::true_type {};

namespace gatedrill {

namespace {

constexpr size_t kMaxTokenBytes = 16 * 1024;
// 9999-12-31T23:59:59Z: a NumericDate beyond it is garbage, not a far future.
constexpr int64_t kMaxNumericDate = 253402300799;
// The order n of the P-256 group (FIPS 186-4, D.1.2.3), big-endian.
constexpr unsigned char kP256Order[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Sets up a digest sign/verify context with the alg's hash and padding.
bool init_ctx(EVP_MD_CTX* ctx, JwsAlg alg, EVP_PKEY* pkey, bool sign) {
  const EVP_MD* md = alg == JwsAlg::kEdDSA ? nullptr : EVP_sha256();
  EVP_PKEY_CTX* pctx = nullptr;
  int rc = sign ? EVP_DigestSignInit(ctx, &pctx, md, nullptr, pkey)
                : EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, pkey);
  if (rc != 1) return false;
  if (alg == JwsAlg::kPS256) {
    // RFC 7518 3.5: MGF1 with SHA-256 and a salt as long as the hash.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return false;
    }
  } else if (alg == JwsAlg::kRS256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  return true;
}

// DER ECDSA-Sig-Value -> JWS raw r||s (32 bytes each).
Result<std::string> der_to_raw(std::string_view der) {
  const unsigned char* p = bytes(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return make_error("sign_failed", "OpenSSL produced an unreadable ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(64, '\0');
  if (BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32) != 32 ||
      BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) != 32) {
    return make_error("sign_failed", "ECDSA signature component too large");
  }
  return raw;
}

// A 32-byte big-endian integer as a DER INTEGER (leading zeros dropped, a 0x00 added when the
// high bit is set); returns the bytes written (at most 35).
size_t der_integer(const unsigned char* value, unsigned char* out) {
  size_t skip = 0;
  while (skip < 31 && value[skip] == 0) ++skip;
  const bool pad = (value[skip] & 0x80) != 0;
  const size_t len = 32 - skip + (pad ? 1 : 0);
  size_t n = 0;
  out[n++] = 0x02;
  out[n++] = static_cast<unsigned char>(len);
  if (pad) out[n++] = 0x00;
  std::memcpy(out + n, value + skip, 32 - skip);
  return n + 32 - skip;
}

// JWS raw r||s -> DER ECDSA-Sig-Value, refusing anything but 64 bytes with 0 < r, s < n. Done
// on bytes (no BIGNUM allocations): it runs once per uncached ES256 token.
bool raw_to_der(std::string_view raw, unsigned char (&der)[72], size_t* der_len) {
  if (raw.size() != 64) return false;
  const unsigned char* r = bytes(raw);
  const unsigned char* s = r + 32;
  auto in_range = [](const unsigned char* v) {
    bool nonzero = false;
    for (int i = 0; i < 32; ++i) nonzero = nonzero || v[i] != 0;
    return nonzero && std::memcmp(v, kP256Order, 32) < 0;
  };
  if (!in_range(r) || !in_range(s)) return false;
  unsigned char body[70];
  size_t body_len = der_integer(r, body);
  body_len += der_integer(s, body + body_len);
  der[0] = 0x30;  // SEQUENCE; at most 70 bytes, so the short length form
  der[1] = static_cast<unsigned char>(body_len);
  std::memcpy(der + 2, body, body_len);
  *der_len = body_len + 2;
  return true;
}

// The DER DigestInfo prefix of a SHA-256 hash (RFC 8017 9.2, note 1).
constexpr unsigned char kSha256DigestInfo[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                 0x01, 0x05, 0x00, 0x04, 0x20};

// An RSA public key prepared for RS256 (RSASSA-PKCS1-v1_5 with SHA-256), verified by encoding
// and comparing as RFC 8017 8.2.2 says: s < n, m = s^e mod n, and m must equal
// 0x00 0x01 FF..FF 0x00 || DigestInfo || H. What this leaves out is what EVP_PKEY_verify adds
// around it on every call: a BN_CTX and buffers allocated and freed, a lock around the key's
// cached Montgomery context, constant-time conversion and unpadding made for private-key
// operations, a DigestInfo built to compare with. All inputs are public, so nothing here needs
// to be constant-time.
class Rs256Key {
 public:
  // Null for a key this cannot take (even modulus, exponent 1, even or over 64 bits); the caller
  // then verifies through EVP.
  static std::unique_ptr<Rs256Key> make(EVP_PKEY* key, BN_CTX* ctx) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
    BnPtr n_owner(n);
    BnPtr e_owner(e);
    if (!n || !e || !BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > 64)
      return nullptr;
    auto rsa = std::unique_ptr<Rs256Key>(new Rs256Key(std::move(n_owner)));
    rsa->e_ = BN_get_word(e);
    rsa->size_ = static_cast<size_t>(BN_num_bytes(n));
    // EM without its last 32 bytes (the hash): 0x00 0x01 PS 0x00 DigestInfo, PS at least 8
    // bytes of 0xFF (RFC 8017 9.2).
    const size_t t = sizeof(kSha256DigestInfo) + SHA256_DIGEST_LENGTH;
    if (rsa->size_ < t + 11 || rsa->size_ > kMaxBytes) return nullptr;
    std::vector<unsigned char> prefix(rsa->size_ - SHA256_DIGEST_LENGTH, 0xFF);
    prefix[0] = 0x00;
    prefix[1] = 0x01;
    prefix[rsa->size_ - t - 1] = 0x00;
    std::memcpy(prefix.data() + rsa->size_ - t, kSha256DigestInfo, sizeof(kSha256DigestInfo));
    rsa->prefix_.reset(BN_bin2bn(prefix.data(), static_cast<int>(prefix.size()), nullptr));
    if (!rsa->prefix_) return nullptr;
    rsa->mont_.reset(BN_MONT_CTX_new());
    if (!rsa->mont_ || BN_MONT_CTX_set(rsa->mont_.get(), n, ctx) != 1) return nullptr;
    return rsa;
  }

  bool verify(std::string_view signature, const unsigned char (&digest)[SHA256_DIGEST_LENGTH],
              BN_CTX* ctx) const {
    if (signature.size() != size_) return false;
    BN_CTX_start(ctx);
    BIGNUM* s = BN_CTX_get(ctx);
    BIGNUM* base = BN_CTX_get(ctx);
    BIGNUM* m = BN_CTX_get(ctx);
    BIGNUM* high = BN_CTX_get(ctx);
    BIGNUM* hash = BN_CTX_get(ctx);
    // m = EM as an integer, so EM = prefix || H holds when m's bits above the hash are the
    // prefix and the low 256 bits are H: two BIGNUM compares instead of writing m out as 256
    // bytes (BN_bn2binpad is constant-time and cost ~2% of the verify). m < n, so EM has
    // exactly size_ bytes and the compare is the byte compare RFC 8017 8.2.2 asks for.
    const bool ok =
        hash != nullptr &&
        BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), static_cast<int>(size_),
                  s) != nullptr &&
        BN_ucmp(s, n_.get()) < 0 && power(s, base, m, ctx) &&
        BN_rshift(high, m, 8 * SHA256_DIGEST_LENGTH) == 1 && BN_cmp(high, prefix_.get()) == 0 &&
        BN_mask_bits(m, 8 * SHA256_DIGEST_LENGTH) == 1 &&
        BN_bin2bn(digest, SHA256_DIGEST_LENGTH, hash) != nullptr && BN_cmp(m, hash) == 0;
    BN_CTX_end(ctx);
    return ok;
  }

 private:
  static constexpr size_t kMaxBytes = 2048;  // 16384-bit keys, the largest a JWKS may carry

  explicit Rs256Key(BnPtr n) : n_(std::move(n)) {}

  // m = s^e mod n by square-and-multiply in Montgomery form. For e = 65537 that is 16 squarings
  // and one multiplication. e is odd, so the last step multiplies by the base; multiplying by s
  // itself instead of its Montgomery form sR leaves that form, (s^(e-1) R)(s) R^-1 = s^e, which
  // saves BN_from_montgomery (~4% of the verify), as BN_mod_exp_mont's extra multiplication by
  // one and reduction of the base were saved before.
  bool power(const BIGNUM* s, BIGNUM* base, BIGNUM* m, BN_CTX* ctx) const {
    BN_MONT_CTX* mont = mont_.get();
    if (BN_to_montgomery(base, s, mont, ctx) != 1 || !BN_copy(m, base)) return false;
    for (int bit = 62 - __builtin_clzll(e_); bit >= 1; --bit) {
      if (BN_mod_mul_montgomery(m, m, m, mont, ctx) != 1) return false;
      if (((e_ >> bit) & 1) != 0 && BN_mod_mul_montgomery(m, m, base, mont, ctx) != 1) return false;
    }
    return BN_mod_mul_montgomery(m, m, m, mont, ctx) == 1 &&
           BN_mod_mul_montgomery(m, m, s, mont, ctx) == 1;
  }

  BnPtr n_;
  uint64_t e_ = 0;
  BnPtr prefix_;  // EM without the hash, as an integer
  BnMontCtxPtr mont_;
  size_t size_ = 0;
};

// OpenSSL 3 fetches the algorithm implementation and builds and configures a fresh context on
// every EVP_DigestVerifyInit, which costs a good share of an RSA-2048 verify. Each thread keeps,
// per (key, alg), a prepared Rs256Key for RS256 or else an EVP_PKEY_CTX, on which it calls
// EVP_PKEY_verify with the SHA-256 digest as `openssl speed` does. An entry holds a reference to
// its key, so a cached key pointer cannot be freed and reused by another key while cached; a few
// entries per thread bound what keys rotated out of the JWKS can pin.
class VerifyContexts {
 public:
  bool verify(EVP_PKEY* key, JwsAlg alg, std::string_view signing_input,
              std::string_view signature) {
    const Entry* entry = get(key, alg);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (!entry || !sha256(signing_input, digest)) return false;
    if (entry->rs256) return entry->rs256->verify(signature, digest, bn_ctx_.get());
    if (EVP_PKEY_verify(entry->ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                        signature.size(), digest, sizeof(digest)) == 1)
      return true;
    ERR_clear_error();  // a bad signature is an answer, not an error to leave queued
    return false;
  }

 private:
  static constexpr size_t kCapacity = 8;
  struct Entry {
    EVP_PKEY* key;
    JwsAlg alg;
    EvpPkeyPtr reference;  // keeps `key` from being freed (and its address reused) while cached
    std::unique_ptr<Rs256Key> rs256;
    EvpPkeyCtxPtr ctx;  // when rs256 is null
    uint64_t used;
  };

  const Entry* get(EVP_PKEY* key, JwsAlg alg) {
    ++tick_;
    for (auto& e : entries_) {
      if (e.key == key && e.alg == alg) {
        e.used = tick_;
        return &e;
      }
    }
    if (!bn_ctx_) bn_ctx_.reset(BN_CTX_new());
    if (!bn_ctx_ || EVP_PKEY_up_ref(key) != 1) return nullptr;
    Entry entry{key, alg, EvpPkeyPtr(key), nullptr, nullptr, tick_};
    if (alg == JwsAlg::kRS256) entry.rs256 = Rs256Key::make(key, bn_ctx_.get());
    if (!entry.rs256) {
      entry.ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
      if (!entry.ctx || !configure(entry.ctx.get(), alg)) return nullptr;
    }
    if (entries_.size() >= kCapacity) {
      auto oldest =
          std::min_element(entries_.begin(), entries_.end(),
                           [](const Entry& a, const Entry& b) { return a.used < b.used; });
      entries_.erase(oldest);
    }
    entries_.push_back(std::move(entry));
    return &entries_.back();
  }

  // SHA-256 with an algorithm fetched once and a context reused: SHA256() fetches the
  // implementation and allocates a context on every call, ~half the cost of hashing a token.
  bool sha256(std::string_view data, unsigned char (&digest)[SHA256_DIGEST_LENGTH]) {
    if (!md_) md_.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    if (!md_ctx_) md_ctx_.reset(EVP_MD_CTX_new());
    unsigned int len = 0;
    return md_ && md_ctx_ && EVP_DigestInit_ex2(md_ctx_.get(), md_.get(), nullptr) == 1 &&
           EVP_DigestUpdate(md_ctx_.get(), data.data(), data.size()) == 1 &&
           EVP_DigestFinal_ex(md_ctx_.get(), digest, &len) == 1 && len == SHA256_DIGEST_LENGTH;
  }

  static bool configure(EVP_PKEY_CTX* ctx, JwsAlg alg) {
    if (EVP_PKEY_verify_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1)
      return false;
    if (alg == JwsAlg::kPS256) {
      // RFC 7518 3.5: MGF1 with SHA-256 and a salt as long as the hash.
      return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    if (alg == JwsAlg::kRS256) return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    return true;
  }

  std::vector<Entry> entries_;
  uint64_t tick_ = 0;
  BnCtxPtr bn_ctx_;
  EvpMdPtr md_;
  EvpMdCtxPtr md_ctx_;
};

// A parsed token's JSON arena with its first block inline, so a typical token's header and
// claims cost one allocation (the arena) instead of the resource and then its blocks.
class TokenArena final : public boost::json::memory_resource {
 public:
  static constexpr size_t kInlineBytes = 2048;

 private:
  void* do_allocate(size_t n, size_t align) override { return arena_.allocate(n, align); }
  void do_deallocate(void*, size_t, size_t) override {}
  bool do_is_equal(const boost::json::memory_resource& other) const noexcept override {
    return this == &other;
  }

  alignas(std::max_align_t) unsigned char first_block_[kInlineBytes];
  boost::json::monotonic_resource arena_{first_block_, sizeof(first_block_)};
};

Error malformed(std::string message) {
  return make_error("malformed", std::move(message));
}

// A segment's JSON refused by parse_jose_members, as parse_jwt reports it.
Error json_segment_error(const Error& error, const char* what) {
  if (error.code == "duplicate_name")
    return malformed(std::string(what) + " has duplicate member names");
  if (error.code == "not_object") return malformed(std::string(what) + " must be a JSON object");
  return malformed(std::string(what) + " is not valid JSON");
}

// The header members parse_jwt's rules read, and the registered claims (RFC 7519 4.1).
constexpr std::string_view kHeaderNames[] = {"alg", "kid", "b64", "crit",
                                             "jwk", "jku", "x5u", "x5c"};
constexpr uint32_t kHasAlg = 1u << 0, kHasKid = 1u << 1, kHasB64 = 1u << 2, kHasCrit = 1u << 3;
constexpr size_t kFirstEmbedded = 4;  // jwk, jku, x5u, x5c: keys a token must not bring along
constexpr std::string_view kClaimNames[] = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"};

// A NumericDate as an integer; absent -> nullopt. Errors: "bad_claim".
template <class Value>
Result<std::optional<int64_t>> numeric_date(const Value* claim, std::string_view name) {
  if (claim == nullptr) return std::optional<int64_t>{};
  const auto& v = *claim;
  auto bad = [&](const char* why) {
    return make_error("bad_claim", "claim \"" + std::string(name) + "\" " + why);
  };
  int64_t seconds = 0;
  if (v.is_int64()) {
    seconds = v.as_int64();
  } else if (v.is_uint64()) {
    return bad("is out of range");
  } else if (v.is_double()) {
    double d = v.as_double();
    if (!(d >= 0 && d <= static_cast<double>(kMaxNumericDate))) return bad("is out of range");
    if (d != static_cast<double>(static_cast<int64_t>(d)))
      return bad("must be a whole number of seconds");
    seconds = static_cast<int64_t>(d);
  } else {
    return bad("must be a number");
  }
  if (seconds < 0 || seconds > kMaxNumericDate) return bad("is out of range");
  return std::optional<int64_t>{seconds};
}

}  // namespace

Result<JwsAlg> parse_jws_alg(std::string_view name) {
  if (name == "RS256") return JwsAlg::kRS256;
  if (name == "PS256") return JwsAlg::kPS256;
  if (name == "ES256") return JwsAlg::kES256;
  if (name == "EdDSA") return JwsAlg::kEdDSA;
  std::string shown(name.substr(0, 32));
  if (to_lower(name) == "none")
    return make_error("bad_alg", "alg \"" + shown + "\" (unsigned tokens) is never accepted");
  if (name.size() >= 2 && (name[0] == 'H' || name[0] == 'h') && (name[1] == 'S' || name[1] == 's'))
    return make_error("bad_alg", "alg \"" + shown + "\" (HMAC) is never accepted");
  return make_error("bad_alg", "unsupported alg \"" + shown + "\"");
}

std::string_view jws_alg_name(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kRS256:
      return "RS256";
    case JwsAlg::kPS256:
      return "PS256";
    case JwsAlg::kES256:
      return "ES256";
    case JwsAlg::kEdDSA:
      return "EdDSA";
  }
  return "";
}

bool jws_alg_fits_key(JwsAlg alg, const Key& key) {
  if (!key.valid()) return false;
  switch (alg) {
    case JwsAlg::kRS256:
    case JwsAlg::kPS256:
      return key.type() == KeyType::kRsa;
    case JwsAlg::kES256:
      return key.type() == KeyType::kEcP256;
    case JwsAlg::kEdDSA:
      return key.type() == KeyType::kEd25519;
  }
  return false;
}

Result<std::string> jws_sign(JwsAlg alg, const Key& key, std::string_view signing_input) {
  if (!jws_alg_fits_key(alg, key))
    return make_error("bad_key", "the key cannot sign " + std::string(jws_alg_name(alg)));
  if (!key.has_private()) return make_error("bad_key", "signing needs a private key");
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || !init_ctx(ctx.get(), alg, key.native(), true))
    return make_error("sign_failed", "cannot initialise the signer");
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, bytes(signing_input), signing_input.size()) != 1)
    return make_error("sign_failed", "cannot size the signature");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     bytes(signing_input), signing_input.size()) != 1) {
    return make_error("sign_failed", "signing failed");
  }
  sig.resize(len);
  if (alg == JwsAlg::kES256) return der_to_raw(sig);
  return sig;
}

bool jws_verify(JwsAlg alg, const Key& key, std::string_view signing_input,
                std::string_view signature) {
  if (!jws_alg_fits_key(alg, key)) return false;
  if (alg == JwsAlg::kEdDSA) {
    // Ed25519 is one-shot (no prehash): EVP_DigestVerify on the message itself.
    if (signature.size() != 64) return false;
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || !init_ctx(ctx.get(), alg, key.native(), false)) return false;
    return EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signing_input),
                            signing_input.size()) == 1;
  }
  unsigned char der[72];
  size_t der_len = 0;
  if (alg == JwsAlg::kES256) {
    if (!raw_to_der(signature, der, &der_len)) return false;
    signature = std::string_view(reinterpret_cast<const char*>(der), der_len);
  } else if (signature.size() != static_cast<size_t>((key.bits() + 7) / 8)) {
    return false;
  }
  thread_local VerifyContexts contexts;
  return contexts.verify(key.native(), alg, signing_input, signature);
}

Result<std::string> sign_jwt(JwsAlg alg, const Key& key, std::string_view kid,
                             const boost::json::object& claims) {
  boost::json::object header;
  header["alg"] = jws_alg_name(alg);
  header["typ"] = "JWT";
  if (!kid.empty()) header["kid"] = kid;
  std::string input = base64url_encode(boost::json::serialize(header)) + "." +
                      base64url_encode(boost::json::serialize(claims));
  auto sig = jws_sign(alg, key, input);
  if (!sig) return sig.error();
  return input + "." + base64url_encode(*sig);
}

Result<void> JwtView::parse_header(std::string_view segment) {
  // The header's members that the rules read, in one pass and with no JSON tree (the decoded
  // text and the kept strings live in this view's buffers, reused from token to token).
  if (!base64url_decode_to(segment, &header_json_))
    return malformed("header is not valid base64url");
  auto header = parse_jose_members(header_json_, kHeaderNames, header_values_, header_buffers_);
  if (!header) return json_segment_error(header.error(), "header");
  const uint32_t present = *header;
  const JoseValue& alg_value = header_values_[0];
  const JoseValue& kid_value = header_values_[1];
  const JoseValue& b64_value = header_values_[2];
  std::string_view kid;

  // The alg decides before anything else, so "none" is reported as what it is.
  if ((present & kHasAlg) == 0 || !alg_value.is_string())
    return make_error("bad_alg", "header has no string \"alg\"");
  auto alg = parse_jws_alg(alg_value.as_string());
  if (!alg) return alg.error();
  accepted_alg_ = *alg;

  if (const uint32_t embedded = present >> kFirstEmbedded; embedded != 0) {
    const std::string_view name = kHeaderNames[kFirstEmbedded + __builtin_ctz(embedded)];
    return make_error("unsupported_header",
                      "embedded key header \"" + std::string(name) + "\" is never trusted");
  }
  if ((present & kHasCrit) != 0)
    return make_error("unsupported_header", "\"crit\" extensions are not supported");
  if ((present & kHasB64) != 0 && !(b64_value.is_bool() && b64_value.as_bool()))
    return make_error("unsupported_header",
                      "unencoded payloads (\"b64\": false) are not supported");
  if ((present & kHasKid) != 0) {
    if (!kid_value.is_string()) return malformed("header \"kid\" must be a string");
    kid = kid_value.as_string();
  }
  accepted_kid_.assign(kid);
  return {};
}

Result<void> JwtView::parse(std::string_view token) {
  kid_ = {};
  claims_ = {};
  signing_input_ = {};
  if (token.size() > kMaxTokenBytes) return malformed("token larger than 16 KiB");
  // The three segments without a vector: this runs on every uncached token.
  std::string_view parts[3];
  size_t segments = 1;
  for (size_t start = 0;;) {
    const size_t dot = token.find('.', start);
    if (segments <= 3) parts[segments - 1] = token.substr(start, dot - start);
    if (dot == std::string_view::npos) break;
    ++segments;
    start = dot + 1;
  }
  if (segments != 3)
    return malformed("a JWS has 3 dot-separated segments, this has " + std::to_string(segments));
  if (parts[0].empty()) return malformed("empty header segment");

  // Tokens from one issuer repeat their header byte for byte, so the header's decode, parse and
  // rules run once per distinct header segment: the last one accepted is remembered.
  if (parts[0] != accepted_header_) {
    accepted_header_.clear();
    if (auto header = parse_header(parts[0]); !header) return header.error();
    accepted_header_.assign(parts[0]);
  }
  alg_ = accepted_alg_;
  kid_ = accepted_kid_;

  if (parts[1].empty()) return malformed("empty payload segment");
  if (parts[2].empty()) return malformed("empty signature segment");
  if (!base64url_decode_to(parts[1], &payload_json_))
    return malformed("payload is not valid base64url");
  // Only the registered claims are kept; every member is still parsed and checked.
  auto claims = parse_jose_members(payload_json_, kClaimNames, claim_values_, claim_buffers_);
  if (!claims) return json_segment_error(claims.error(), "payload");
  const JoseValue* JoseClaims::*const fields[] = {
      &JoseClaims::iss, &JoseClaims::sub, &JoseClaims::aud, &JoseClaims::exp,
      &JoseClaims::nbf, &JoseClaims::iat, &JoseClaims::jti};
  for (size_t i = 0; i < std::size(fields); ++i)
    if ((*claims & (1u << i)) != 0) claims_.*fields[i] = &claim_values_[i];
  if (!base64url_decode_to(parts[2], &signature_))
    return malformed("signature is not valid base64url");
  signing_input_ = token.substr(0, parts[0].size() + 1 + parts[1].size());
  return {};
}

Result<ParsedJwt> parse_jwt(std::string_view token) {
  // The checks and errors are JwtView's; the trees are built after it accepted the token.
  thread_local JwtView view;
  auto parsed = view.parse(token);
  if (!parsed) return parsed.error();
  // Header and claims live in one arena owned by the parsed token (a JSON tree is dozens of
  // small allocations otherwise); the objects are made on it so the moves below keep it.
  boost::json::storage_ptr storage = boost::json::make_shared_resource<TokenArena>();
  ParsedJwt jwt{view.alg(),
                std::string(view.kid()),
                boost::json::object(storage),
                boost::json::object(storage),
                std::string(view.signing_input()),
                std::string(view.signature())};
  // The same parse as the view's (grammar, depth, duplicates), so it cannot refuse now.
  auto header = parse_jose_json(view.header_json(), storage);
  if (!header || !header->is_object()) return malformed("header is not valid JSON");
  jwt.header = std::move(header->as_object());
  auto claims = parse_jose_json(view.payload_json(), storage);
  if (!claims || !claims->is_object()) return malformed("payload is not valid JSON");
  jwt.claims = std::move(claims->as_object());
  return jwt;
}

namespace {
constexpr std::pair<std::string_view, const boost::json::value * RegisteredClaims::*>
    kRegisteredClaims[] = {{"iss", &RegisteredClaims::iss}, {"sub", &RegisteredClaims::sub},
                           {"aud", &RegisteredClaims::aud}, {"exp", &RegisteredClaims::exp},
                           {"nbf", &RegisteredClaims::nbf}, {"iat", &RegisteredClaims::iat},
                           {"jti", &RegisteredClaims::jti}};
}  // namespace

RegisteredClaims find_registered_claims(const boost::json::object& claims) {
  RegisteredClaims found;
  for (const auto& member : claims) {
    const std::string_view name = member.key();
    if (name.size() != 3) continue;  // every registered name has three letters
    for (const auto& [registered, field] : kRegisteredClaims) {
      if (name == registered) {
        found.*field = &member.value();
        break;
      }
    }
  }
  return found;
}

Result<ClaimTimes> check_jwt_claims(const boost::json::object& claims, const ClaimPolicy& policy,
                                    int64_t now_s) {
  return check_jwt_claims(find_registered_claims(claims), policy, now_s);
}

namespace {

// One implementation for claims read from a JSON tree and from a JwtView.
template <class Value>
Result<ClaimTimes> check_claims(const BasicRegisteredClaims<Value>& claims,
                                const ClaimPolicy& policy, int64_t now_s) {
  auto exp = numeric_date(claims.exp, "exp");
  if (!exp) return exp.error();
  auto nbf = numeric_date(claims.nbf, "nbf");
  if (!nbf) return nbf.error();
  auto iat = numeric_date(claims.iat, "iat");
  if (!iat) return iat.error();
  const int64_t leeway = policy.leeway.count();

  if (!*exp && policy.require_exp) return make_error("missing_exp", "token has no \"exp\" claim");
  if (*exp && now_s - leeway >= **exp)
    return make_error("expired", "token expired " + std::to_string(now_s - **exp) + " s ago");
  if (*nbf && now_s + leeway < **nbf)
    return make_error("not_yet_valid",
                      "token not valid for another " + std::to_string(**nbf - now_s) + " s (nbf)");
  if (*iat && now_s + leeway < **iat)
    return make_error("not_yet_valid",
                      "token issued " + std::to_string(**iat - now_s) + " s in the future (iat)");

  if (!policy.issuer.empty()) {
    if (claims.iss == nullptr || !claims.iss->is_string() ||
        claims.iss->as_string() != policy.issuer)
      return make_error("bad_issuer", "token issuer is not \"" + policy.issuer + "\"");
  }

  if (!policy.audiences.empty()) {
    if (claims.aud == nullptr) return make_error("bad_audience", "token has no \"aud\" claim");
    const Value& aud = *claims.aud;
    auto ours = [&](std::string_view v) {
      for (const auto& want : policy.audiences)
        if (v == want) return true;
      return false;
    };
    bool match = false;
    if (aud.is_string()) {
      match = ours(aud.as_string());
    } else if (aud.is_array()) {
      for (const auto& v : aud.as_array()) {
        if (!v.is_string()) return make_error("bad_claim", "\"aud\" array members must be strings");
        match = match || ours(v.as_string());
      }
    } else {
      return make_error("bad_claim", "\"aud\" must be a string or an array of strings");
    }
    if (!match) return make_error("bad_audience", "token audience does not include ours");
  }
  return ClaimTimes{*exp, *nbf, *iat};
}

}  // namespace

Result<ClaimTimes> check_jwt_claims(const RegisteredClaims& claims, const ClaimPolicy& policy,
                                    int64_t now_s) {
  return check_claims(claims, policy, now_s);
}

Result<ClaimTimes> check_jwt_claims(const JoseClaims& claims, const ClaimPolicy& policy,
                                    int64_t now_s) {
  return check_claims(claims, policy, now_s);
}

Result<Jwks> Jwks::parse(std::string_view json, std::vector<std::string>* warnings) {
  auto warn = [&](std::string message) {
    if (warnings) warnings->push_back(std::move(message));
  };
  auto doc = parse_json(json);
  if (!doc) return make_error("bad_jwks", "JWKS is not valid JSON");
  if (!doc->is_object()) return make_error("bad_jwks", "JWKS must be a JSON object");
  auto keys = doc->as_object().find("keys");
  if (keys == doc->as_object().end() || !keys->value().is_array())
    return make_error("bad_jwks", "JWKS has no \"keys\" array");

  // A kid that appears twice is ambiguous: which key did the IdP mean? Trust neither.
  std::map<std::string, int, std::less<>> kid_count;
  for (const auto& v : keys->value().as_array()) {
    if (!v.is_object()) continue;
    auto kid = v.as_object().find("kid");
    if (kid != v.as_object().end() && kid->value().is_string())
      ++kid_count[std::string(kid->value().as_string())];
  }

  Jwks jwks;
  size_t index = 0;
  for (const auto& v : keys->value().as_array()) {
    std::string where = "key #" + std::to_string(index++);
    if (!v.is_object()) {
      warn(where + " skipped: not a JSON object");
      continue;
    }
    const auto& jwk = v.as_object();
    auto kid_it = jwk.find("kid");
    if (kid_it == jwk.end() || !kid_it->value().is_string() ||
        kid_it->value().as_string().empty()) {
      warn(where + " skipped: no \"kid\"");
      continue;
    }
    std::string kid(kid_it->value().as_string());
    where += " (kid \"" + kid.substr(0, 64) + "\")";
    if (kid_count[kid] > 1) {
      warn(where + " skipped: duplicate kid");
      continue;
    }
    if (auto use = jwk.find("use");
        use != jwk.end() && !(use->value().is_string() && use->value().as_string() == "sig")) {
      warn(where + " skipped: \"use\" is not \"sig\"");
      continue;
    }
    std::optional<JwsAlg> alg;
    if (auto alg_it = jwk.find("alg"); alg_it != jwk.end()) {
      if (!alg_it->value().is_string()) {
        warn(where + " skipped: \"alg\" is not a string");
        continue;
      }
      auto parsed = parse_jws_alg(alg_it->value().as_string());
      if (!parsed) {
        warn(where + " skipped: " + parsed.error().message);
        continue;
      }
      alg = *parsed;
    }
    auto key = Key::from_jwk(jwk);
    if (!key) {
      warn(where + " skipped: " + key.error().message);
      continue;
    }
    if (alg && !jws_alg_fits_key(*alg, *key)) {
      warn(where + " skipped: alg " + std::string(jws_alg_name(*alg)) +
           " does not fit its kty/crv");
      continue;
    }
    jwks.add(std::move(kid), alg, std::move(*key));
  }
  return jwks;
}

const Jwks::Entry* Jwks::find(std::string_view kid) const {
  for (const auto& entry : entries_) {
    if (entry.kid == kid) return &entry;
  }
  return nullptr;
}

std::string Jwks::to_json() const {
  boost::json::array keys;
  for (const auto& entry : entries_) {
    keys.push_back(
        entry.key.public_jwk(entry.kid, entry.alg ? jws_alg_name(*entry.alg) : std::string_view()));
  }
  boost::json::object doc;
  doc["keys"] = std::move(keys);
  return boost::json::serialize(doc);
}

void Jwks::add(std::string kid, std::optional<JwsAlg> alg, Key key) {
  entries_.push_back(Entry{std::move(kid), alg, std::move(key)});
}

}  // namespace gatedrill

#include "core/crypto/jwt.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto/openssl_ptr.hpp"
#include "tests/crypto/test_keys.hpp"

namespace gatedrill {
namespace {

using test::key_for;

class EveryAlg : public ::testing::TestWithParam<JwsAlg> {};

boost::json::object sample_claims() {
  return boost::json::object{
      {"sub", "alice"}, {"iss", "https://idp"}, {"aud", "gw"}, {"exp", 1767229200}};
}

TEST_P(EveryAlg, SignedJwtParsesAndVerifies) {
  JwsAlg alg = GetParam();
  const Key& key = key_for(alg);
  auto token = sign_jwt(alg, key, "kid-1", sample_claims());
  ASSERT_TRUE(token.ok()) << token.error().message;
  auto jwt = parse_jwt(*token);
  ASSERT_TRUE(jwt.ok()) << jwt.error().message;
  EXPECT_EQ(jwt->alg, alg);
  EXPECT_EQ(jwt->kid, "kid-1");
  EXPECT_EQ(jwt->header.at("alg").as_string(), jws_alg_name(alg));
  EXPECT_EQ(jwt->claims, sample_claims());
  EXPECT_TRUE(jws_verify(alg, key, jwt->signing_input, jwt->signature));
}

TEST_P(EveryAlg, VerifiesWithThePublicHalfOnly) {
  JwsAlg alg = GetParam();
  auto pub = Key::from_pem(key_for(alg).public_pem());
  ASSERT_TRUE(pub.ok());
  auto sig = jws_sign(alg, key_for(alg), "a.b");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(jws_verify(alg, *pub, "a.b", *sig));
  EXPECT_FALSE(jws_sign(alg, *pub, "a.b").ok());  // signing needs the private key
}

TEST_P(EveryAlg, TamperedInputOrSignatureFails) {
  JwsAlg alg = GetParam();
  const Key& key = key_for(alg);
  auto sig = jws_sign(alg, key, "header.payload");
  ASSERT_TRUE(sig.ok());
  ASSERT_TRUE(jws_verify(alg, key, "header.payload", *sig));
  EXPECT_FALSE(jws_verify(alg, key, "header.payloaD", *sig));
  std::string flipped = *sig;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x40);
  EXPECT_FALSE(jws_verify(alg, key, "header.payload", flipped));
  EXPECT_FALSE(jws_verify(alg, key, "header.payload", sig->substr(1)));
  EXPECT_FALSE(jws_verify(alg, key, "header.payload", *sig + "x"));
  EXPECT_FALSE(jws_verify(alg, key, "header.payload", ""));
}

TEST_P(EveryAlg, AnotherKeyOfTheSameTypeFails) {
  JwsAlg alg = GetParam();
  const Key& other = alg == JwsAlg::kES256   ? test::ec_key(1)
                     : alg == JwsAlg::kEdDSA ? test::ed_key(1)
                                             : test::rsa_key(1);
  auto sig = jws_sign(alg, key_for(alg), "x.y");
  ASSERT_TRUE(sig.ok());
  EXPECT_FALSE(jws_verify(alg, other, "x.y", *sig));
}

INSTANTIATE_TEST_SUITE_P(Jws, EveryAlg,
                         ::testing::Values(JwsAlg::kRS256, JwsAlg::kPS256, JwsAlg::kES256,
                                           JwsAlg::kEdDSA),
                         [](const auto& info) { return std::string(jws_alg_name(info.param)); });

TEST(JwsAlgs, NamesRoundTripExactlyAndCaseSensitively) {
  for (auto alg : {JwsAlg::kRS256, JwsAlg::kPS256, JwsAlg::kES256, JwsAlg::kEdDSA}) {
    auto parsed = parse_jws_alg(jws_alg_name(alg));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, alg);
  }
  for (const char* name : {"rs256", "Rs256", "EDDSA", "RS384", "ES512", "", " RS256"}) {
    auto parsed = parse_jws_alg(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.error().code, "bad_alg");
  }
}

TEST(JwsAlgs, FitOnlyTheirKeyTypes) {
  EXPECT_TRUE(jws_alg_fits_key(JwsAlg::kRS256, test::rsa_key()));
  EXPECT_TRUE(jws_alg_fits_key(JwsAlg::kPS256, test::rsa_key()));
  EXPECT_FALSE(jws_alg_fits_key(JwsAlg::kES256, test::rsa_key()));
  EXPECT_FALSE(jws_alg_fits_key(JwsAlg::kEdDSA, test::rsa_key()));
  EXPECT_TRUE(jws_alg_fits_key(JwsAlg::kES256, test::ec_key()));
  EXPECT_FALSE(jws_alg_fits_key(JwsAlg::kRS256, test::ec_key()));
  EXPECT_FALSE(jws_alg_fits_key(JwsAlg::kEdDSA, test::ec_key()));
  EXPECT_TRUE(jws_alg_fits_key(JwsAlg::kEdDSA, test::ed_key()));
  EXPECT_FALSE(jws_alg_fits_key(JwsAlg::kES256, test::ed_key()));
  EXPECT_FALSE(jws_alg_fits_key(JwsAlg::kRS256, Key()));
}

TEST(Jws, Es256SignaturesAreRaw64Bytes) {
  for (int i = 0; i < 20; ++i) {
    auto sig = jws_sign(JwsAlg::kES256, test::ec_key(), "input" + std::to_string(i));
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sig->size(), 64u);
    EXPECT_TRUE(jws_verify(JwsAlg::kES256, test::ec_key(), "input" + std::to_string(i), *sig));
  }
}

TEST(Jws, Ps256AndRs256AreNotInterchangeable) {
  auto rs = jws_sign(JwsAlg::kRS256, test::rsa_key(), "a.b");
  auto ps = jws_sign(JwsAlg::kPS256, test::rsa_key(), "a.b");
  ASSERT_TRUE(rs.ok() && ps.ok());
  EXPECT_FALSE(jws_verify(JwsAlg::kPS256, test::rsa_key(), "a.b", *rs));
  EXPECT_FALSE(jws_verify(JwsAlg::kRS256, test::rsa_key(), "a.b", *ps));
  // PSS is randomised; PKCS#1 v1.5 is deterministic.
  auto ps2 = jws_sign(JwsAlg::kPS256, test::rsa_key(), "a.b");
  auto rs2 = jws_sign(JwsAlg::kRS256, test::rsa_key(), "a.b");
  EXPECT_NE(*ps, *ps2);
  EXPECT_EQ(*rs, *rs2);
}

TEST(Jws, AlgKeyMismatchNeverVerifies) {
  auto es = jws_sign(JwsAlg::kES256, test::ec_key(), "a.b");
  ASSERT_TRUE(es.ok());
  EXPECT_FALSE(jws_verify(JwsAlg::kES256, test::rsa_key(), "a.b", *es));
  EXPECT_FALSE(jws_verify(JwsAlg::kEdDSA, test::ec_key(), "a.b", *es));
  auto ed = jws_sign(JwsAlg::kEdDSA, test::ed_key(), "a.b");
  ASSERT_TRUE(ed.ok());
  EXPECT_FALSE(jws_verify(JwsAlg::kES256, test::ed_key(), "a.b", *ed));
  EXPECT_FALSE(jws_sign(JwsAlg::kRS256, test::ec_key(), "a.b").ok());
  EXPECT_FALSE(jws_sign(JwsAlg::kES256, test::rsa_key(), "a.b").ok());
}

// r or s with a leading zero byte is a shorter DER INTEGER; one with the high bit set needs a
// 0x00 pad. Both must verify (about 1 signature in 128 has a leading zero in r or s).
TEST(Jws, Es256SignaturesWithShortOrPaddedIntegersVerify) {
  int short_ints = 0, padded = 0;
  for (int i = 0; i < 4000 && (short_ints < 2 || padded < 2); ++i) {
    const std::string input = "in" + std::to_string(i);
    auto sig = jws_sign(JwsAlg::kES256, test::ec_key(), input);
    ASSERT_TRUE(sig.ok());
    const bool is_short = (*sig)[0] == '\0' || (*sig)[32] == '\0';
    const bool is_padded = (static_cast<unsigned char>((*sig)[0]) & 0x80) != 0;
    if (!is_short && (!is_padded || padded >= 2)) continue;
    short_ints += is_short ? 1 : 0;
    padded += is_padded ? 1 : 0;
    EXPECT_TRUE(jws_verify(JwsAlg::kES256, test::ec_key(), input, *sig)) << i;
    EXPECT_FALSE(jws_verify(JwsAlg::kES256, test::ec_key(), input + "x", *sig)) << i;
  }
  EXPECT_GE(short_ints, 1);
  EXPECT_GE(padded, 1);
}

// Verification reuses prepared contexts per thread and key: more keys than it keeps, keys
// alternating, a failure between successes, and each key only accepting its own signatures.
TEST(Jws, ManyKeysAndFailuresInTurnOnOneThread) {
  std::vector<Key> keys;
  std::vector<std::string> sigs;
  for (int i = 0; i < 12; ++i) {
    keys.push_back(*Key::generate(KeyType::kEcP256));
    sigs.push_back(*jws_sign(JwsAlg::kES256, keys.back(), "a.b"));
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_TRUE(jws_verify(JwsAlg::kES256, keys[i], "a.b", sigs[i])) << i;
      EXPECT_FALSE(jws_verify(JwsAlg::kES256, keys[i], "a.b", sigs[(i + 1) % sigs.size()])) << i;
      EXPECT_TRUE(jws_verify(JwsAlg::kES256, keys[i], "a.b", sigs[i])) << i;
    }
  }
}

// OpenSSL's own RSA PKCS#1 v1.5 signing/verification of `input` with hash `md` (no JWS code).
std::string openssl_rsa_sign(const Key& key, const EVP_MD* md, std::string_view input) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  auto in = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.native()), 1);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                           input.size()),
            1);
  return sig;
}
bool openssl_rs256_verify(const Key& key, std::string_view input, std::string_view sig) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.native()) != 1)
    return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

// RS256 is checked by encoding the expected message and comparing (core/crypto/jwt.cpp): it must
// answer as OpenSSL does for good signatures, every altered one, and the encodings a lax parser
// could accept (another hash's DigestInfo, no DigestInfo), for 2048- and 3072-bit moduli.
TEST(Jws, Rs256AnswersAsOpenSslDoes) {
  static const Key key3072 = *Key::generate(KeyType::kRsa, 3072);
  for (const Key* key : {&test::rsa_key(), &key3072}) {
    auto pub = Key::from_pem(key->public_pem());  // as the gateway holds keys: public only
    ASSERT_TRUE(pub.ok());
    for (int i = 0; i < 8; ++i) {
      const std::string input = "header.payload" + std::to_string(i);
      const std::string sig = openssl_rsa_sign(*key, EVP_sha256(), input);
      EXPECT_TRUE(jws_verify(JwsAlg::kRS256, *pub, input, sig)) << i;
      for (size_t at : {size_t{0}, size_t{1}, sig.size() / 2, sig.size() - 1}) {
        std::string altered = sig;
        altered[at] = static_cast<char>(altered[at] ^ (1 << (i % 8)));
        EXPECT_EQ(jws_verify(JwsAlg::kRS256, *pub, input, altered),
                  openssl_rs256_verify(*pub, input, altered))
            << i << " at " << at;
        EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, altered)) << i << " at " << at;
      }
      EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input + "x", sig));
      // PKCS#1 v1.5 over the same input with SHA-384 and SHA-1 DigestInfos.
      EXPECT_FALSE(
          jws_verify(JwsAlg::kRS256, *pub, input, openssl_rsa_sign(*key, EVP_sha384(), input)));
      EXPECT_FALSE(
          jws_verify(JwsAlg::kRS256, *pub, input, openssl_rsa_sign(*key, EVP_sha1(), input)));
    }
    // The SHA-256 hash padded with no DigestInfo at all (a raw PKCS#1 v1.5 signature).
    const std::string input = "a.b";
    unsigned char digest[32];
    unsigned int digest_len = 0;
    ASSERT_EQ(EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha256(), nullptr),
              1);
    EvpPkeyCtxPtr raw(EVP_PKEY_CTX_new(key->native(), nullptr));
    ASSERT_EQ(EVP_PKEY_sign_init(raw.get()), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(raw.get(), RSA_PKCS1_PADDING), 1);
    std::string raw_sig(static_cast<size_t>(EVP_PKEY_get_size(key->native())), '\0');
    size_t raw_len = raw_sig.size();
    ASSERT_EQ(EVP_PKEY_sign(raw.get(), reinterpret_cast<unsigned char*>(raw_sig.data()), &raw_len,
                            digest, sizeof(digest)),
              1);
    EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, raw_sig));
    // Integers that are no signature: 0, 1, n - 1, n itself and a valid signature plus n.
    BIGNUM* raw_n = nullptr;
    ASSERT_EQ(EVP_PKEY_get_bn_param(key->native(), OSSL_PKEY_PARAM_RSA_N, &raw_n), 1);
    BnPtr n(raw_n);
    const int size = BN_num_bytes(n.get());
    auto as_sig = [&](const BIGNUM* v) {
      std::string out(static_cast<size_t>(size), '\0');
      if (BN_bn2binpad(v, reinterpret_cast<unsigned char*>(out.data()), size) != size)
        return std::string();
      return out;
    };
    BnPtr v(BN_new());
    BN_zero(v.get());
    EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, as_sig(v.get())));
    BN_one(v.get());
    EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, as_sig(v.get())));
    BN_sub(v.get(), n.get(), BN_value_one());
    EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, as_sig(v.get())));
    EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, as_sig(n.get())));
    const std::string good = openssl_rsa_sign(*key, EVP_sha256(), input);
    ASSERT_TRUE(jws_verify(JwsAlg::kRS256, *pub, input, good));
    BnPtr s(BN_bin2bn(reinterpret_cast<const unsigned char*>(good.data()), size, nullptr));
    BN_add(v.get(), s.get(), n.get());
    if (BN_num_bytes(v.get()) == size) {  // s + n still fits: the same residue, not canonical
      EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, as_sig(v.get())));
      EXPECT_FALSE(openssl_rs256_verify(*pub, input, as_sig(v.get())));
    }
  }
}

// The exponentiation ends on a multiplication by s itself, not its Montgomery form (core/crypto
// jwt.cpp): right for every odd exponent, so keys whose e is not 65537, with one or several bits
// below the top one set, verify as OpenSSL says.
TEST(Jws, Rs256WithOtherPublicExponentsAnswersAsOpenSslDoes) {
  for (unsigned long e : {3ul, 17ul, 65539ul, 0x1000000Ful}) {
    EvpPkeyCtxPtr gen(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr));
    BnPtr exponent(BN_new());
    ASSERT_TRUE(gen && exponent && BN_set_word(exponent.get(), e) == 1);
    ASSERT_EQ(EVP_PKEY_keygen_init(gen.get()), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_keygen_bits(gen.get(), 2048), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(gen.get(), exponent.get()), 1);
    EVP_PKEY* raw = nullptr;
    ASSERT_EQ(EVP_PKEY_keygen(gen.get(), &raw), 1);
    EvpPkeyPtr generated(raw);
    BioPtr pem(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PUBKEY(pem.get(), generated.get()), 1);
    char* text = nullptr;
    const long text_len = BIO_get_mem_data(pem.get(), &text);
    auto pub = Key::from_pem(std::string_view(text, static_cast<size_t>(text_len)));
    ASSERT_TRUE(pub.ok()) << e;
    // Signed through a Key made from the same EVP_PKEY's private PEM.
    BioPtr private_pem(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PrivateKey(private_pem.get(), generated.get(), nullptr, nullptr, 0,
                                       nullptr, nullptr),
              1);
    const long private_len = BIO_get_mem_data(private_pem.get(), &text);
    auto key = Key::from_pem(std::string_view(text, static_cast<size_t>(private_len)));
    ASSERT_TRUE(key.ok()) << e;
    for (int i = 0; i < 4; ++i) {
      const std::string input = "header.payload" + std::to_string(i);
      const std::string sig = openssl_rsa_sign(*key, EVP_sha256(), input);
      EXPECT_TRUE(jws_verify(JwsAlg::kRS256, *pub, input, sig)) << e << " " << i;
      std::string altered = sig;
      altered[sig.size() / 2] = static_cast<char>(altered[sig.size() / 2] ^ (1 << i));
      EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input, altered)) << e << " " << i;
      EXPECT_FALSE(openssl_rs256_verify(*pub, input, altered)) << e << " " << i;
      EXPECT_FALSE(jws_verify(JwsAlg::kRS256, *pub, input + "x", sig)) << e << " " << i;
    }
  }
}

TEST(Jws, VerifiesConcurrentlyOnSeveralThreads) {
  auto rs = jws_sign(JwsAlg::kRS256, test::rsa_key(), "a.b");
  auto ps = jws_sign(JwsAlg::kPS256, test::rsa_key(), "a.b");
  auto es = jws_sign(JwsAlg::kES256, test::ec_key(), "a.b");
  ASSERT_TRUE(rs.ok() && ps.ok() && es.ok());
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        const bool ok = jws_verify(JwsAlg::kRS256, test::rsa_key(), "a.b", *rs) &&
                        jws_verify(JwsAlg::kPS256, test::rsa_key(), "a.b", *ps) &&
                        jws_verify(JwsAlg::kES256, test::ec_key(), "a.b", *es) &&
                        !jws_verify(JwsAlg::kPS256, test::rsa_key(), "a.b", *rs);
        (ok ? good : bad)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 80);
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace gatedrill

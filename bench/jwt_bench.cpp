// The gateway's JWT authn filter (gateway/authn/jwt_authn) as a request sees it: the "Bearer
// ..." header in, an allow/deny out. Cached: the verified-token LRU hit with exp/nbf rechecked
// (target >= 1M/s/core). Uncached: structure, key by kid, signature and claims for each alg
// (the cache is sized 0, so every call verifies), next to the bare signature check
// (core/crypto jws_verify) so the parsing overhead shows. bench/jwt_vs_openssl.sh compares the
// uncached rates with `openssl speed` in the same run. Release build for numbers.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <boost/json/object.hpp>

#include "core/crypto/jwt.hpp"
#include "core/crypto/openssl_ptr.hpp"
#include "core/time/time_source.hpp"
#include "gateway/authn/jwks_cache.hpp"
#include "gateway/authn/jwt_authn.hpp"

namespace {

using namespace gatedrill;
using namespace gatedrill::gateway;

// One signing key per alg, a JWKS holding all of them, and a token per alg with the claims an
// IdP puts in (iss, aud, sub, jti, iat, exp).
struct Fixture {
  SystemTimeSource time;
  std::unique_ptr<JwksCache> jwks;
  Key rsa, ec, ed;
  std::string document;

  Fixture() {
    rsa = *Key::generate(KeyType::kRsa, 2048);
    ec = *Key::generate(KeyType::kEcP256);
    ed = *Key::generate(KeyType::kEd25519);
    Jwks set;
    set.add("rsa", std::nullopt, rsa);
    set.add("ec", JwsAlg::kES256, ec);
    set.add("ed", JwsAlg::kEdDSA, ed);
    document = set.to_json();
    JwksCacheOptions options;
    options.jwks_uri = "memory:";
    jwks = std::make_unique<JwksCache>(time, options,
                                       [this](const std::string&, std::chrono::milliseconds) {
                                         return Result<std::string>(document);
                                       });
    jwks->start();
  }

  const Key& key_for(JwsAlg alg) const {
    switch (alg) {
      case JwsAlg::kES256:
        return ec;
      case JwsAlg::kEdDSA:
        return ed;
      default:
        return rsa;
    }
  }
  static const char* kid_for(JwsAlg alg) {
    switch (alg) {
      case JwsAlg::kES256:
        return "ec";
      case JwsAlg::kEdDSA:
        return "ed";
      default:
        return "rsa";
    }
  }

  std::string bearer(JwsAlg alg) const {
    const int64_t now = time.wall_seconds();
    boost::json::object claims{{"iss", "http://127.0.0.1:7000"},
                               {"aud", "gatedrill"},
                               {"sub", "gatedrill-loadgen"},
                               {"jti", "0b9c3f0e-6a7d-4d47-9d54-2f4a1c7e5b11"},
                               {"iat", now},
                               {"exp", now + 3600}};
    return "Bearer " + *sign_jwt(alg, key_for(alg), kid_for(alg), claims);
  }

  std::unique_ptr<JwtAuthn> authn(size_t cache_entries) {
    JwtAuthnConfig config;
    config.claims.issuer = "http://127.0.0.1:7000";
    config.claims.audiences = {"gatedrill"};
    config.token_cache_entries = cache_entries;
    return std::make_unique<JwtAuthn>(config, *jwks, time);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_JwtAuthn_Cached(benchmark::State& state) {
  auto& f = fixture();
  auto authn = f.authn(10000);
  const std::string header = f.bearer(JwsAlg::kES256);
  if (!authn->check(header).allowed()) state.SkipWithError("token refused");
  for (auto _ : state) {
    auto r = authn->check(header);
    if (!r.cache_hit) state.SkipWithError("cache miss");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JwtAuthn_Cached);

// Many distinct tokens in the cache (a busy node): the hit path with a full LRU.
void BM_JwtAuthn_Cached10kTokens(benchmark::State& state) {
  auto& f = fixture();
  auto authn = f.authn(10000);
  std::vector<std::string> headers;
  const int64_t now = f.time.wall_seconds();
  for (int i = 0; i < 10000; ++i) {
    boost::json::object claims{{"iss", "http://127.0.0.1:7000"},
                               {"aud", "gatedrill"},
                               {"sub", "user-" + std::to_string(i)},
                               {"exp", now + 3600}};
    headers.push_back("Bearer " + *sign_jwt(JwsAlg::kEdDSA, f.ed, "ed", claims));
    if (!authn->check(headers.back()).allowed()) state.SkipWithError("token refused");
  }
  size_t i = 0;
  for (auto _ : state) {
    auto r = authn->check(headers[i]);
    i = (i + 7919) % headers.size();
    if (!r.cache_hit) state.SkipWithError("cache miss");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JwtAuthn_Cached10kTokens);

void uncached(benchmark::State& state, JwsAlg alg) {
  auto& f = fixture();
  auto authn = f.authn(0);
  const std::string header = f.bearer(alg);
  for (auto _ : state) {
    auto r = authn->check(header);
    if (!r.allowed() || r.cache_hit) state.SkipWithError("not verified");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_JwtAuthn_Uncached_RS256(benchmark::State& s) {
  uncached(s, JwsAlg::kRS256);
}
void BM_JwtAuthn_Uncached_PS256(benchmark::State& s) {
  uncached(s, JwsAlg::kPS256);
}
void BM_JwtAuthn_Uncached_ES256(benchmark::State& s) {
  uncached(s, JwsAlg::kES256);
}
void BM_JwtAuthn_Uncached_EdDSA(benchmark::State& s) {
  uncached(s, JwsAlg::kEdDSA);
}
BENCHMARK(BM_JwtAuthn_Uncached_RS256);

// As the gateway meets a new token: a miss, the full verify, then the insert into a full cache
// (eviction included). 128 distinct tokens in turn through a cache of 64 miss every time.
void BM_JwtAuthn_UncachedInsert_RS256(benchmark::State& state) {
  auto& f = fixture();
  auto authn = f.authn(64);
  std::vector<std::string> headers;
  const int64_t now = f.time.wall_seconds();
  for (int i = 0; i < 128; ++i) {
    boost::json::object claims{
        {"iss", "http://127.0.0.1:7000"},
        {"aud", "gatedrill"},
        {"sub", "gatedrill-loadgen-" + std::to_string(i)},
        {"jti", "0b9c3f0e-6a7d-4d47-9d54-" + std::to_string(100000000000 + i)},
        {"iat", now},
        {"exp", now + 3600}};
    headers.push_back("Bearer " + *sign_jwt(JwsAlg::kRS256, f.rsa, "rsa", claims));
  }
  size_t i = 0;
  for (auto _ : state) {
    auto r = authn->check(headers[i]);
    i = (i + 1) % headers.size();
    if (!r.allowed() || r.cache_hit) state.SkipWithError("not verified");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JwtAuthn_UncachedInsert_RS256);
BENCHMARK(BM_JwtAuthn_Uncached_PS256);
BENCHMARK(BM_JwtAuthn_Uncached_ES256);
BENCHMARK(BM_JwtAuthn_Uncached_EdDSA);

// The signature check alone, on an already parsed token.
void signature_only(benchmark::State& state, JwsAlg alg) {
  auto& f = fixture();
  const std::string header = f.bearer(alg);
  auto parsed = parse_jwt(std::string_view(header).substr(7));
  if (!parsed) {
    state.SkipWithError("unparsable token");
    return;
  }
  // The public key as the gateway holds it: parsed from the JWKS document.
  auto keys = f.jwks->keys();
  const Jwks::Entry* entry = keys ? keys->find(Fixture::kid_for(alg)) : nullptr;
  if (!entry) {
    state.SkipWithError("key not in the JWKS");
    return;
  }
  const Key& key = entry->key;
  for (auto _ : state) {
    bool ok = jws_verify(alg, key, parsed->signing_input, parsed->signature);
    if (!ok) state.SkipWithError("bad signature");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_JwsVerify_RS256(benchmark::State& s) {
  signature_only(s, JwsAlg::kRS256);
}
void BM_JwsVerify_PS256(benchmark::State& s) {
  signature_only(s, JwsAlg::kPS256);
}
void BM_JwsVerify_ES256(benchmark::State& s) {
  signature_only(s, JwsAlg::kES256);
}
void BM_JwsVerify_EdDSA(benchmark::State& s) {
  signature_only(s, JwsAlg::kEdDSA);
}
BENCHMARK(BM_JwsVerify_RS256);
BENCHMARK(BM_JwsVerify_PS256);
BENCHMARK(BM_JwsVerify_ES256);
BENCHMARK(BM_JwsVerify_EdDSA);

// What `openssl speed` times, in this process and on this timer, so the ratio to our verify is
// not one between two processes' clocks: EVP_PKEY_verify on a context prepared once, with the
// JWKS key. rsa2048: PKCS#1 v1.5 type 1 over 36 raw bytes (no hash, no DigestInfo); ecdsap256:
// a DER signature over 20 raw bytes (no hash).
void openssl_speed_verify(benchmark::State& state, JwsAlg alg) {
  auto& f = fixture();
  auto keys = f.jwks->keys();
  const Jwks::Entry* entry = keys ? keys->find(Fixture::kid_for(alg)) : nullptr;
  if (!entry) {
    state.SkipWithError("key not in the JWKS");
    return;
  }
  const bool rsa = alg == JwsAlg::kRS256;
  const unsigned char data[36] = {1, 2, 3};
  const size_t data_len = rsa ? 36 : 20;
  unsigned char sig[512];
  size_t sig_len = sizeof(sig);
  EvpPkeyCtxPtr sign(EVP_PKEY_CTX_new(f.key_for(alg).native(), nullptr));
  EvpPkeyCtxPtr verify(EVP_PKEY_CTX_new(entry->key.native(), nullptr));
  if (!sign || !verify || EVP_PKEY_sign_init(sign.get()) != 1 ||
      (rsa && EVP_PKEY_CTX_set_rsa_padding(sign.get(), RSA_PKCS1_PADDING) != 1) ||
      EVP_PKEY_sign(sign.get(), sig, &sig_len, data, data_len) != 1 ||
      EVP_PKEY_verify_init(verify.get()) != 1 ||
      (rsa && EVP_PKEY_CTX_set_rsa_padding(verify.get(), RSA_PKCS1_PADDING) != 1)) {
    state.SkipWithError("OpenSSL refused the setup");
    return;
  }
  for (auto _ : state) {
    bool ok = EVP_PKEY_verify(verify.get(), sig, sig_len, data, data_len) == 1;
    if (!ok) state.SkipWithError("bad signature");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_OpensslSpeedVerify_RS256(benchmark::State& s) {
  openssl_speed_verify(s, JwsAlg::kRS256);
}
void BM_OpensslSpeedVerify_ES256(benchmark::State& s) {
  openssl_speed_verify(s, JwsAlg::kES256);
}
BENCHMARK(BM_OpensslSpeedVerify_RS256);
BENCHMARK(BM_OpensslSpeedVerify_ES256);

// Structure only, as the authn filter reads a token (JwtView: base64url, one JSON pass per
// segment with duplicate names refused, header rules, the registered claims kept, no trees).
void BM_JwtView(benchmark::State& state) {
  const std::string header = fixture().bearer(JwsAlg::kES256);
  std::string_view token = std::string_view(header).substr(7);
  JwtView view;
  for (auto _ : state) {
    auto parsed = view.parse(token);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JwtView);

// parse_jwt: the same and the header's and payload's JSON trees (for callers that read any claim).
void BM_ParseJwt(benchmark::State& state) {
  const std::string header = fixture().bearer(JwsAlg::kES256);
  std::string_view token = std::string_view(header).substr(7);
  for (auto _ : state) {
    auto parsed = parse_jwt(token);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseJwt);

}  // namespace

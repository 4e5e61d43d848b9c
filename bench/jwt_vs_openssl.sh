#!/usr/bin/env bash
# Uncached JWT verification through the gateway's authn filter (bench/jwt_bench.cpp: structure,
# key by kid, signature, claims) against `openssl speed` verifying RSA-2048 and ECDSA P-256 in
# the same run, both pinned to the same core and alternated REPS times; the best rate of each
# side counts (the machine is shared: the best run is the least disturbed one). Both sides are
# rates per CPU-second (Google Benchmark's items_per_second, openssl speed's default user-time
# divisor). Also prints the cached-token rate (target >= 1M/s/core). The last line holds the
# ratios ours / openssl for RS256 and ES256 (target >= 0.9, on the full verify).
#
# What each side does per operation, so the ratio is read right:
#   openssl speed rsa2048: EVP_PKEY_verify on a context prepared once, a 256-byte signature over
#     36 raw bytes (PKCS#1 v1.5 type 1, no hash, no DigestInfo): the RSA public operation alone.
#   openssl speed ecdsap256: EVP_PKEY_verify of a DER signature over 20 raw bytes (no hash).
#   ours, full: the Bearer header in, allow/deny out: base64url-decode three segments, parse and
#     check header and payload JSON (duplicate names, alg rules), find the key by kid, SHA-256 of
#     the ~300-byte signing input, the signature check, exp/nbf/iat/iss/aud.
#   ours, signature only (printed beside): SHA-256 of the signing input and the signature check
#     (core/crypto jws_verify), i.e. openssl speed's work plus the hash.
#   openssl speed op in jwt_bench: openssl speed's RSA operation (EVP_PKEY_verify, 36 raw bytes,
#     the same key) timed inside jwt_bench, so its ratio to the signature check compares two
#     rates on one clock in one process; the ratio to the openssl binary's rate mixes two.
#
# usage: bench/jwt_vs_openssl.sh [JWT_BENCH_BINARY]   (env: REPS=3 CORE=1 SECONDS_EACH=2)
set -euo pipefail

BENCH=${1:-${JWT_BENCH:-build/bench/bench/jwt_bench}}
REPS=${REPS:-3}
CORE=${CORE:-1}
SECONDS_EACH=${SECONDS_EACH:-2}

for tool in openssl taskset awk; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 2; }
done
[[ -x "$BENCH" ]] || { echo "error: $BENCH is not an executable (build the bench preset: cmake --preset bench && cmake --build --preset bench --target jwt_bench)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(openssl version)"
for rep in $(seq 1 "$REPS"); do
  taskset -c "$CORE" "$BENCH" --benchmark_filter='BM_(JwtAuthn_(Cached|Uncached_RS256|Uncached_ES256)|JwsVerify_(RS256|ES256)|OpensslSpeedVerify_RS256)$' \
    --benchmark_min_time="$SECONDS_EACH" --benchmark_format=csv 2>/dev/null |
    awk -F, '/^"BM_/ { gsub(/"/, "", $1); print "ours", $1, $7 }' >>"$work/rates"
  taskset -c "$CORE" openssl speed -seconds "$SECONDS_EACH" rsa2048 ecdsap256 2>/dev/null |
    awk '/^rsa 2048 bits/ { print "openssl RS256", $NF } /ecdsa \(nistp256\)/ { print "openssl ES256", $NF }' \
    >>"$work/rates"
done

awk '
  { key = $1 " " $2; if (!(key in best) || $3 > best[key]) best[key] = $3 }
  END {
    printf "%-36s %12.0f /s\n", "cached token (JwtAuthn hit)", best["ours BM_JwtAuthn_Cached"]
    printf "%-36s %12.0f /s   openssl rsa2048 verify %10.0f /s\n", "uncached RS256 (JwtAuthn)",
           best["ours BM_JwtAuthn_Uncached_RS256"], best["openssl RS256"]
    printf "%-36s %12.0f /s   openssl ecdsap256 verify %8.0f /s\n", "uncached ES256 (JwtAuthn)",
           best["ours BM_JwtAuthn_Uncached_ES256"], best["openssl ES256"]
    rs_sig = best["openssl RS256"] > 0 ? best["ours BM_JwsVerify_RS256"] / best["openssl RS256"] : 0
    es_sig = best["openssl ES256"] > 0 ? best["ours BM_JwsVerify_ES256"] / best["openssl ES256"] : 0
    printf "%-36s %12.0f /s   ratio %.2f (hash + signature, no token parsing)\n",
           "signature only RS256 (jws_verify)", best["ours BM_JwsVerify_RS256"], rs_sig
    rs_in = best["ours BM_OpensslSpeedVerify_RS256"] > 0 ? best["ours BM_JwsVerify_RS256"] / best["ours BM_OpensslSpeedVerify_RS256"] : 0
    printf "%-36s %12.0f /s   ratio %.2f (signature only / it, same process and timer)\n",
           "openssl speed op in jwt_bench", best["ours BM_OpensslSpeedVerify_RS256"], rs_in
    printf "%-36s %12.0f /s   ratio %.2f\n", "signature only ES256 (jws_verify)",
           best["ours BM_JwsVerify_ES256"], es_sig
    rs = best["openssl RS256"] > 0 ? best["ours BM_JwtAuthn_Uncached_RS256"] / best["openssl RS256"] : 0
    es = best["openssl ES256"] > 0 ? best["ours BM_JwtAuthn_Uncached_ES256"] / best["openssl ES256"] : 0
    printf "jwt/openssl verify (1 core, best of '"$REPS"'): RS256 ratio %.2f, ES256 ratio %.2f, cached %.2fM/s\n",
           rs, es, best["ours BM_JwtAuthn_Cached"] / 1e6
  }' "$work/rates"

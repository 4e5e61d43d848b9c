#!/usr/bin/env bash
# Uncached JWT verification through the gateway's authn filter (bench/jwt_bench.cpp: structure,
# key by kid, signature, claims) against what `openssl speed` times for RSA-2048 and ECDSA P-256
# verify, two ways (target >= 0.9 of openssl, on the full verify):
#   in-process (the headline): jwt_bench times openssl speed's own operation
#     (BM_OpensslSpeedVerify_*: EVP_PKEY_verify on a context prepared once, the same key) next
#     to our full verify, in one process on one timer, the repetitions of all four interleaved
#     in random order (Google Benchmark's --benchmark_enable_random_interleaving), INPROC_REPS
#     each; the best repetition of each side counts. Two processes' rates on a shared machine
#     differ by up to ~30% from run to run (cache and frequency); one process's interleaved
#     repetitions share the disturbance, though at load 4-9 the ratio still moved ~20% between
#     runs (gateway/README.md): for small steps, count instructions (callgrind).
#   cross-process: jwt_bench and the `openssl speed` binary pinned to the same core and
#     alternated REPS times, best of each (rates per CPU-second on both sides: Google
#     Benchmark's items_per_second, openssl speed's default user-time divisor).
# Also prints the signature check alone and the cached-token rate (target >= 1M/s/core). The
# last line holds the ratios ours / openssl: in-process first, then against the binary.
#
# What each side does per operation, so the ratio is read right:
#   openssl speed rsa2048: EVP_PKEY_verify, a 256-byte signature over 36 raw bytes (PKCS#1 v1.5
#     type 1, no hash, no DigestInfo): the RSA public operation alone.
#   openssl speed ecdsap256: EVP_PKEY_verify of a DER signature over 20 raw bytes (no hash).
#   ours, full: the Bearer header in, allow/deny out: base64url-decode three segments, parse and
#     check header and payload JSON (duplicate names, alg rules), find the key by kid, SHA-256 of
#     the ~300-byte signing input, the signature check, exp/nbf/iat/iss/aud.
#   ours, signature only (printed beside): SHA-256 of the signing input and the signature check
#     (core/crypto jws_verify), i.e. openssl speed's work plus the hash.
#
# usage: bench/jwt_vs_openssl.sh [JWT_BENCH_BINARY]
#        (env: REPS=3 INPROC_REPS=6 CORE=1 SECONDS_EACH=2)
set -euo pipefail

BENCH=${1:-${JWT_BENCH:-build/bench/bench/jwt_bench}}
REPS=${REPS:-3}
INPROC_REPS=${INPROC_REPS:-6}
CORE=${CORE:-1}
SECONDS_EACH=${SECONDS_EACH:-2}

for tool in openssl taskset awk; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 2; }
done
[[ -x "$BENCH" ]] || { echo "error: $BENCH is not an executable (build the bench preset: cmake --preset bench && cmake --build --preset bench --target jwt_bench)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Google Benchmark CSV -> "ours NAME items_per_second" (repetition rows only, no aggregates).
ours() {
  awk -F, '/^"BM_/ { gsub(/"/, "", $1); if ($1 !~ /_(mean|median|stddev|cv)$/) print "ours", $1, $7 }'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(openssl version)"
for rep in $(seq 1 "$REPS"); do
  taskset -c "$CORE" "$BENCH" --benchmark_filter='BM_(JwtAuthn_(Cached|Uncached_RS256|Uncached_ES256)|JwsVerify_(RS256|ES256))$' \
    --benchmark_min_time="$SECONDS_EACH" --benchmark_format=csv 2>/dev/null | ours >>"$work/rates"
  taskset -c "$CORE" openssl speed -seconds "$SECONDS_EACH" rsa2048 ecdsap256 2>/dev/null |
    awk '/^rsa 2048 bits/ { print "openssl RS256", $NF } /ecdsa \(nistp256\)/ { print "openssl ES256", $NF }' \
    >>"$work/rates"
done
taskset -c "$CORE" "$BENCH" --benchmark_filter='BM_(JwtAuthn_Uncached_(RS256|ES256)|OpensslSpeedVerify_(RS256|ES256)|JwsVerify_RS256)$' \
  --benchmark_repetitions="$INPROC_REPS" --benchmark_enable_random_interleaving=true \
  --benchmark_min_time="$(awk -v s="$SECONDS_EACH" 'BEGIN { print s / 2 }')" --benchmark_format=csv 2>/dev/null |
  ours | sed 's/^ours/inproc/' >>"$work/rates"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

awk -v reps="$REPS" -v inproc_reps="$INPROC_REPS" '
  function ratio(a, b) { return b > 0 ? a / b : 0 }
  # One line: our rate, the openssl rate it is compared with, their ratio.
  function row(label, ours, theirs_label, theirs) {
    printf "  %-36s %10.0f /s   %-24s %10.0f /s   ratio %.2f\n", label, best[ours], theirs_label,
           best[theirs], ratio(best[ours], best[theirs])
  }
  { key = $1 " " $2; if (!(key in best) || $3 > best[key]) best[key] = $3 }
  END {
    printf "%-38s %10.0f /s\n", "cached token (JwtAuthn hit)", best["ours BM_JwtAuthn_Cached"]
    printf "in one process, best of %d interleaved repetitions each:\n", inproc_reps
    row("uncached RS256 (JwtAuthn)", "inproc BM_JwtAuthn_Uncached_RS256", "openssl speed op", "inproc BM_OpensslSpeedVerify_RS256")
    row("uncached ES256 (JwtAuthn)", "inproc BM_JwtAuthn_Uncached_ES256", "openssl speed op", "inproc BM_OpensslSpeedVerify_ES256")
    row("signature only RS256 (jws_verify)", "inproc BM_JwsVerify_RS256", "openssl speed op", "inproc BM_OpensslSpeedVerify_RS256")
    printf "against the openssl binary, best of %d alternating runs each:\n", reps
    row("uncached RS256 (JwtAuthn)", "ours BM_JwtAuthn_Uncached_RS256", "openssl rsa2048 verify", "openssl RS256")
    row("uncached ES256 (JwtAuthn)", "ours BM_JwtAuthn_Uncached_ES256", "openssl ecdsap256 verify", "openssl ES256")
    row("signature only RS256 (jws_verify)", "ours BM_JwsVerify_RS256", "openssl rsa2048 verify", "openssl RS256")
    row("signature only ES256 (jws_verify)", "ours BM_JwsVerify_ES256", "openssl ecdsap256 verify", "openssl ES256")
    printf "jwt/openssl verify (1 core): in-process RS256 ratio %.2f, ES256 ratio %.2f (best of %d interleaved); vs the openssl binary RS256 %.2f, ES256 %.2f (best of %d); cached %.2fM/s\n",
           ratio(best["inproc BM_JwtAuthn_Uncached_RS256"], best["inproc BM_OpensslSpeedVerify_RS256"]),
           ratio(best["inproc BM_JwtAuthn_Uncached_ES256"], best["inproc BM_OpensslSpeedVerify_ES256"]),
           inproc_reps,
           ratio(best["ours BM_JwtAuthn_Uncached_RS256"], best["openssl RS256"]),
           ratio(best["ours BM_JwtAuthn_Uncached_ES256"], best["openssl ES256"]), reps,
           best["ours BM_JwtAuthn_Cached"] / 1e6
  }' "$work/rates"

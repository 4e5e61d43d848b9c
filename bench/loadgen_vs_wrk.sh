#!/usr/bin/env bash
# Side-by-side macro benchmark (see docs of PERFORMANCE): `gatedrill loadgen --rate max --threads 1`
# against `wrk -t1` with the same connections, both driving the same nginx (1 worker,
# `return 200`) on a free loopback port. nginx is pinned to core 0, the client to core 1.
# Requests are counted by nginx's stub_status; client CPU by the shell's `time`. Three
# repetitions, alternating tools. The last line holds the ratios (ours / wrk): requests per
# wall second and requests per client CPU-second. Not part of the test suite.
#
# usage: bench/loadgen_vs_wrk.sh [GATEDRILL_BINARY]   (env: CONNECTIONS=64 DURATION=5 REPS=3)
set -euo pipefail

GATEDRILL=${1:-${GATEDRILL:-build/release/gatedrill}}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5}
REPS=${REPS:-3}

for tool in nginx wrk curl taskset; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (scripts/bootstrap installs it)" >&2; exit 2; }
done
[[ -x "$GATEDRILL" ]] || { echo "error: $GATEDRILL is not an executable (build the release preset first)" >&2; exit 2; }

work=$(mktemp -d)
nginx_pid=""
cleanup() {
  if [[ -n "$nginx_pid" ]]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free port: one nobody answers on.
port=""
for candidate in $(shuf -i 20000-60000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[[ -n "$port" ]] || { echo "error: no free port found" >&2; exit 1; }

mkdir -p "$work/logs"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  server {
    listen 127.0.0.1:$port;
    location = /nginx_status { stub_status; }
    location / { return 200 "ok\n"; }
  }
}
CONF
taskset -c 0 nginx -p "$work" -c "$work/nginx.conf" &
nginx_pid=$!

served() { curl -sf "http://127.0.0.1:$port/nginx_status" | awk 'NR == 3 { print $3 }'; }
for _ in $(seq 1 100); do
  served >/dev/null 2>&1 && break
  sleep 0.05
done
served >/dev/null || { echo "error: nginx did not start on port $port" >&2; cat "$work/logs/error.log" >&2; exit 1; }

url="http://127.0.0.1:$port/"
# run NAME COMMAND...: prints "NAME requests wall_s cpu_s"
run() {
  local name=$1; shift
  local before after t0 t1 cpu
  before=$(served)
  t0=$(date +%s.%N)
  cpu=$( { TIMEFORMAT='%U %S'; time taskset -c 1 "$@" >/dev/null 2>&1; } 2>&1 )
  t1=$(date +%s.%N)
  after=$(served)
  # Each stub_status read is itself one request.
  echo "$name $((after - before - 1)) $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $(awk -v u="${cpu% *}" -v s="${cpu#* }" 'BEGIN { print u + s }')"
}

results="$work/results"
: >"$results"
for rep in $(seq 1 "$REPS"); do
  run wrk wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url" | tee -a "$results"
  run loadgen "$GATEDRILL" loadgen "$url" --rate max --threads 1 --connections "$CONNECTIONS" --duration "${DURATION}s" --quiet \
    | tee -a "$results"
done

awk '
  { req[$1] += $2; wall[$1] += $3; cpu[$1] += $4 }
  END {
    for (t in req) printf "%-8s %10.0f req/s %10.0f req/cpu-s\n", t, req[t] / wall[t], (cpu[t] > 0 ? req[t] / cpu[t] : 0)
    rps = (req["loadgen"] / wall["loadgen"]) / (req["wrk"] / wall["wrk"])
    eff = (cpu["loadgen"] > 0 && cpu["wrk"] > 0) ? (req["loadgen"] / cpu["loadgen"]) / (req["wrk"] / cpu["wrk"]) : 0
    printf "loadgen/wrk (c=%d, t=1): rps ratio %.2f, requests per cpu-second ratio %.2f\n", '"$CONNECTIONS"', rps, eff
  }' "$results"

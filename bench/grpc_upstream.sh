#!/usr/bin/env bash
# gRPC through the gateway to an h2c upstream: multiplexed upstream connections (the default,
# up to 100 streams each) against one stream per upstream connection (--upstream-max-streams 1:
# the shape of a pool that carries one call at a time), side by side in the same run.
#
# Both gateways (one worker each, core 0) verify the client's token and proxy every call to the
# same upstream: a third gateway that answers each call itself (trailers-only grpc-status 16: the
# token is not for it), so the upstream's cost is the same for both. The client is h2load on
# core 1 (one connection, CONCURRENCY calls in flight). Per run it prints the calls per second,
# the calls proxied with the upstream's answer, the proxying gateway's CPU time per call (from
# /proc) and the upstream connections it had open at the end (its cluster_connections metric).
#
# usage: bench/grpc_upstream.sh [path/to/gatedrill]   (CALLS, CONCURRENCY, REPS in the environment)
set -euo pipefail

GATEDRILL=${1:-${GATEDRILL:-build/release/gatedrill}}
CALLS=${CALLS:-20000}
CONCURRENCY=${CONCURRENCY:-64}
REPS=${REPS:-3}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools h2load curl jq taskset
require_gatedrill "$GATEDRILL"

# start NAME CORE gatedrill-ARGS...: sets started_pid, started_port and started_admin from the
# ready line.
start() {
  local name=$1 core=$2
  shift 2
  taskset -c "$core" "$GATEDRILL" "$@" >"$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  wait_for "the $name" grep -q '"port"' "$work/$name.log"
  local ready
  ready=$(grep -m1 '"port"' "$work/$name.log")
  started_port=$(jq -r .port <<<"$ready")
  started_admin=$(jq -r .admin_port <<<"$ready")
}

start idp 1 idp --port 0 --admin-port 0 --threads 1
idp_port=$started_port
curl -sf -X POST "http://127.0.0.1:$started_admin/admin/tokens" -d '{"ttl_s": 3600}' | jq -er .token >"$work/token"
token=$(cat "$work/token")

# The upstream: trusts another issuer, so it answers every call itself, at once.
start upstream 1 gateway --plaintext --listen 127.0.0.1:0 --admin-port 0 --threads 1 \
  --issuer http://127.0.0.1:1 --jwks-uri http://127.0.0.1:1/jwks.json --upstream http://127.0.0.1:1
up_port=$started_port

gateway() {  # NAME EXTRA-FLAGS...
  local name=$1
  shift
  start "$name" 0 gateway --plaintext --listen 127.0.0.1:0 --admin-port 0 --threads 1 \
    --issuer "http://127.0.0.1:$idp_port" --jwks-uri "http://127.0.0.1:$idp_port/jwks.json" \
    --audience gatedrill --upstream "http://127.0.0.1:$up_port" "$@"
}
gateway multiplexed
mux_pid=$started_pid mux_port=$started_port mux_admin=$started_admin
gateway one-stream --upstream-max-streams 1
one_pid=$started_pid one_port=$started_port one_admin=$started_admin

# A gRPC message: flag 0, length 5, "hello".
printf '\x00\x00\x00\x00\x05hello' >"$work/body"
ticks_per_s=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

metric() {  # ADMIN SAMPLE-PREFIX: the sample's value (0 when absent)
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" 'index($0, m) == 1 { v = $2 } END { print v + 0 }'
}

# run NAME PORT PID ADMIN: one h2load run; prints calls/s, calls proxied with an upstream answer,
# the gateway's CPU us per call, its upstream connections.
run() {
  local name=$1 port=$2 pid=$3 admin=$4 before after proxied_before proxied out
  proxied_before=$(metric "$admin" 'gatedrill_gateway_requests_total{status="200",reason="ok"}')
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 h2load -n "$CALLS" -c 1 -m "$CONCURRENCY" -d "$work/body" \
    -H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $token" \
    "http://127.0.0.1:$port/pkg.Svc/Echo" 2>&1)
  after=$(cpu_ticks "$pid")
  proxied=$(metric "$admin" 'gatedrill_gateway_requests_total{status="200",reason="ok"}')
  local rps conns
  rps=$(grep -oE '[0-9.]+ req/s' <<<"$out" | head -1 | cut -d' ' -f1)
  conns=$(metric "$admin" 'gatedrill_gateway_cluster_connections{cluster="default"}')
  awk -v n="$name" -v rps="$rps" -v ok=$((proxied - proxied_before)) -v t=$((after - before)) \
    -v hz="$ticks_per_s" -v calls="$CALLS" -v c="$conns" \
    'BEGIN { printf "%-11s %7.0f calls/s  %6d proxied  %6.1f us CPU/call  %3d upstream connections\n",
             n, rps, ok, t / hz * 1e6 / calls, c }'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $CALLS calls, $CONCURRENCY in flight, one client connection"
for _ in $(seq 1 "$REPS"); do
  run multiplexed "$mux_port" "$mux_pid" "$mux_admin" | tee -a "$work/runs"
  run one-stream "$one_port" "$one_pid" "$one_admin" | tee -a "$work/runs"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# The last line: the multiplexed pool over one stream per connection, averaged over the runs.
awk '{ rps[$1] += $2; cpu[$1] += $6; conns[$1] = $9 }
     END { printf "grpc upstream, multiplexed/one-stream (%d calls in flight): calls/s ratio %.2f, gateway CPU per call ratio %.2f, upstream connections %d vs %d\n",
                  '"$CONCURRENCY"', rps["multiplexed"] / rps["one-stream"], cpu["multiplexed"] / cpu["one-stream"],
                  conns["multiplexed"], conns["one-stream"] }' "$work/runs"

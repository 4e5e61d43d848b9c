#!/usr/bin/env bash
# The HTTP/2 connection's own costs, for one build or two side by side (A, then B, in the same
# run): instructions per call under callgrind (what a busy shared machine does not move) and the
# RSS per idle h2c connection.
#
# Calls: h2load on core 1, one connection, 16 in flight, to a plaintext gateway (one worker)
# that verifies a cached token and proxies to an upstream gateway answering each call itself
# (as in bench/grpc_upstream.sh): gRPC unary (/pkg.Svc/Echo) and a plain h2 GET. The gateway
# runs under `valgrind --tool=callgrind`: WARM calls, counters zeroed, CALLS calls, dumped;
# user-space instructions only. Idle: IDLE h2c connections from `gatedrill loadgen --h2 --rate 1`
# held open, the gateway's RSS growth per connection (each build twice, alternating).
#
# usage: bench/h2_callgrind.sh [GATEDRILL_A [GATEDRILL_B]]   (env: CALLS=4000 WARM=500 IDLE=2000)
set -euo pipefail

A=${1:-${GATEDRILL:-build/release/gatedrill}}
B=${2:-}
CALLS=${CALLS:-4000}
WARM=${WARM:-500}
IDLE=${IDLE:-2000}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools h2load curl jq taskset valgrind callgrind_control callgrind_annotate
require_gatedrill "$A"
[[ -z "$B" ]] || require_gatedrill "$B"
builds=(A)
[[ -z "$B" ]] || builds+=(B)
binary() { if [[ $1 == A ]]; then echo "$A"; else echo "$B"; fi; }

start_ready idp 1 "$A" idp --port 0 --admin-port 0 --threads 1
idp_port=$started_port
curl -sf -X POST "http://127.0.0.1:$started_admin/admin/tokens" -d '{"ttl_s": 3600}' |
  jq -er .token >"$work/token"
token=$(cat "$work/token")
start_ready upstream 1 "$A" gateway --plaintext --listen 127.0.0.1:0 --admin-port 0 --threads 1 \
  --issuer http://127.0.0.1:1 --jwks-uri http://127.0.0.1:1/jwks.json --upstream http://127.0.0.1:1
up_port=$started_port
gateway_args=(gateway --plaintext --admin-port 0 --threads 1 --issuer "http://127.0.0.1:$idp_port"
  --jwks-uri "http://127.0.0.1:$idp_port/jwks.json" --audience gatedrill
  --upstream "http://127.0.0.1:$up_port")
printf '\x00\x00\x00\x00\x05hello' >"$work/body"

calls() {  # PORT KIND COUNT: h2load; prints the calls done
  local args=(-n "$3" -c 1 -m 16 -H "authorization: Bearer $token")
  if [[ $2 == grpc ]]; then
    args+=(-d "$work/body" -H 'content-type: application/grpc' -H 'te: trailers'
      "http://127.0.0.1:$1/pkg.Svc/Echo")
  else
    args+=("http://127.0.0.1:$1/api/items")
  fi
  taskset -c 1 h2load "${args[@]}" 2>&1 | grep -oE '[0-9]+ done' | cut -d' ' -f1
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $CALLS calls per run (16 in flight) under callgrind"
for kind in grpc h2; do
  for build in "${builds[@]}"; do
    free_port gw_port
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.$build.$kind" \
      "$(binary "$build")" "${gateway_args[@]}" --listen "127.0.0.1:$gw_port" \
      >"$work/gw.$build.$kind.log" 2>&1 &
    gw_pid=$!
    pids+=("$gw_pid")
    wait_for "the gateway under callgrind" grep -q '"port"' "$work/gw.$build.$kind.log"
    calls "$gw_port" "$kind" "$WARM" >/dev/null
    callgrind_control -z "$gw_pid" >/dev/null 2>&1
    done_calls=$(calls "$gw_port" "$kind" "$CALLS")
    callgrind_control -d "$gw_pid" >/dev/null 2>&1
    kill "$gw_pid"
    wait "$gw_pid" 2>/dev/null || true
    dump=$(ls -t "$work/cg.$build.$kind".* | head -1)
    total=$(callgrind_annotate "$dump" 2>/dev/null |
      awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    awk -v b="$build" -v k="$kind" -v t="$total" -v n="${done_calls:-0}" 'BEGIN {
      printf "%s %-4s %6d calls  %8.0f instructions per call\n", b, k, n, n ? t / n : 0 }' |
      tee -a "$work/calls"
  done
done

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $IDLE idle h2c connections"
for _ in 1 2; do
  for build in "${builds[@]}"; do
    start_ready "idle-$build-$RANDOM" 0 "$(binary "$build")" "${gateway_args[@]}" --listen 127.0.0.1:0
    gw_pid=$started_pid
    rss_start=$(awk '/VmRSS/ { print $2 }' "/proc/$gw_pid/status")
    taskset -c 1 "$A" loadgen "http://127.0.0.1:$started_port/api/items" --h2 --rate 1 \
      --connections "$IDLE" --duration 30s --connect-timeout 30s --token-file "$work/token" \
      --quiet >/dev/null 2>&1 &
    loadgen_pid=$!
    pids+=("$loadgen_pid")
    admin=$started_admin
    sessions() {  # HTTP/2 sessions the gateway started (its h2_events_total{kind="connection"})
      curl -sf "http://127.0.0.1:$admin/metrics" |
        awk 'index($0, "gatedrill_gateway_h2_events_total{kind=\"connection\"}") == 1 { v = $2 }
             END { print v + 0 }'
    }
    all_open() { (($(sessions) >= IDLE)); }
    wait_for "$IDLE h2c sessions" all_open
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$gw_pid/status")
    kill "$loadgen_pid" "$gw_pid"
    wait "$loadgen_pid" "$gw_pid" 2>/dev/null || true
    awk -v b="$build" -v r0="$rss_start" -v r="$rss" -v n="$IDLE" 'BEGIN {
      printf "%s RSS %.1f MB (%.1f MB at start): %.2f KB per idle h2c connection\n",
             b, r / 1024, r0 / 1024, (r - r0) / n }'
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n "$B" ]]; then
  awk '{ ins[$1 " " $2] = $5 }
       END { printf "h2 B/A instructions per call: grpc %.4f, h2 %.4f\n",
                    ins["B grpc"] / ins["A grpc"], ins["B h2"] / ins["A h2"] }' "$work/calls"
fi

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
# Then streaming: a server-streaming answer (STREAM_MB of 4 KB gRPC messages: a static file that
# nginx, one worker on core 1, serves over h2c) through a third gateway (--grpc-upstream: the
# answer streams through its per-call buffer and flow-control windows) and straight from nginx,
# alternating in the same run: calls/s, MB/s and messages/s each way, and the gateway's CPU time
# per MB.
#
# usage: bench/grpc_upstream.sh [path/to/gatedrill]   (CALLS, CONCURRENCY, REPS, STREAM_MB,
#        STREAM_CALLS, STREAM_CONCURRENCY in the environment)
set -euo pipefail

GATEDRILL=${1:-${GATEDRILL:-build/release/gatedrill}}
CALLS=${CALLS:-20000}
CONCURRENCY=${CONCURRENCY:-64}
REPS=${REPS:-3}
STREAM_MB=${STREAM_MB:-4}
STREAM_CALLS=${STREAM_CALLS:-100}
STREAM_CONCURRENCY=${STREAM_CONCURRENCY:-4}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools h2load curl jq taskset nginx
require_gatedrill "$GATEDRILL"

start_ready idp 1 "$GATEDRILL" idp --port 0 --admin-port 0 --threads 1
idp_port=$started_port
curl -sf -X POST "http://127.0.0.1:$started_admin/admin/tokens" -d '{"ttl_s": 3600}' | jq -er .token >"$work/token"
token=$(cat "$work/token")

# The upstream: trusts another issuer, so it answers every call itself, at once.
start_ready upstream 1 "$GATEDRILL" gateway --plaintext --listen 127.0.0.1:0 --admin-port 0 --threads 1 \
  --issuer http://127.0.0.1:1 --jwks-uri http://127.0.0.1:1/jwks.json --upstream http://127.0.0.1:1
up_port=$started_port

gateway() {  # NAME EXTRA-FLAGS...
  local name=$1
  shift
  start_ready "$name" 0 "$GATEDRILL" gateway --plaintext --listen 127.0.0.1:0 --admin-port 0 --threads 1 \
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

# --- streaming ---
mkdir -p "$work/www"
{ printf '\x00\x00\x00\x10\x00'; head -c 4096 /dev/zero | tr '\0' x; } >"$work/message"  # 5 + 4096
for _ in $(seq 1 64); do cat "$work/message"; done >"$work/www/64"
for _ in $(seq 1 $((STREAM_MB * 4))); do cat "$work/www/64"; done >"$work/www/stream.bin"
message_bytes=4101
chmod a+rx "$work" "$work/www" && chmod a+r "$work/www"/*  # nginx's worker may run as nobody
free_port stream_port
nginx_conf stream "server { listen 127.0.0.1:$stream_port http2; root $work/www; location / { } }"
taskset -c 1 nginx -p "$work/stream" -c "$work/stream/nginx.conf" &
pids+=($!)
wait_for "the streaming nginx" curl -sf --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$stream_port/64"
gateway streaming --grpc-upstream "http://127.0.0.1:$stream_port"
str_pid=$started_pid str_port=$started_port

# stream NAME URL [GATEWAY-PID]: one h2load run of STREAM_CALLS calls; prints calls/s, MB/s,
# messages/s and (through the gateway) its CPU ms per MB.
stream() {
  local name=$1 url=$2 pid=${3:-} before=0 after=0 out
  [[ -n "$pid" ]] && before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 h2load -n "$STREAM_CALLS" -c 1 -m "$STREAM_CONCURRENCY" \
    -H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $token" \
    "$url" 2>&1)
  [[ -n "$pid" ]] && after=$(cpu_ticks "$pid")
  local ok finished
  ok=$(grep -oE '[0-9]+ 2xx' <<<"$out" | cut -d' ' -f1)
  finished=$(grep -m1 '^finished in' <<<"$out")
  awk -v n="$name" -v line="$finished" -v ok="${ok:-0}" -v t=$((after - before)) -v hz="$ticks_per_s" \
    -v size="$(stat -c %s "$work/www/stream.bin")" -v mb="$message_bytes" -v with_cpu="${pid:+1}" '
    BEGIN {
      split(line, f, ", "); rps = f[2] + 0; rate = f[3]
      scale = rate ~ /GB/ ? 1e9 : rate ~ /MB/ ? 1e6 : rate ~ /KB/ ? 1e3 : 1
      bytes = (rate + 0) * scale
      cpu = with_cpu ? sprintf("%6.2f ms CPU/MB", t / hz * 1e3 / (ok * size / 1e6)) : ""
      printf "%-13s %7.1f calls/s %8.1f MB/s %9.0f messages/s  %4d ok  %s\n", n, rps, bytes / 1e6, bytes / mb, ok, cpu
    }'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); streaming: $STREAM_CALLS calls of $(( $(stat -c %s "$work/www/stream.bin") / 1000000 )) MB ($(( $(stat -c %s "$work/www/stream.bin") / message_bytes )) messages of 4 KB), $STREAM_CONCURRENCY in flight"
for _ in $(seq 1 "$REPS"); do
  stream through-gateway "http://127.0.0.1:$str_port/stream.bin" "$str_pid" | tee -a "$work/streams"
  stream direct "http://127.0.0.1:$stream_port/stream.bin" | tee -a "$work/streams"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{ rate[$1] += $4; msgs[$1] += $6; n[$1]++ }
     END { printf "grpc streaming, through the gateway/direct: MB/s %.1f / %.1f (ratio %.2f), messages/s %.0f / %.0f\n",
                  rate["through-gateway"] / n["through-gateway"], rate["direct"] / n["direct"],
                  rate["through-gateway"] / rate["direct"], msgs["through-gateway"] / n["through-gateway"],
                  msgs["direct"] / n["direct"] }' "$work/streams"

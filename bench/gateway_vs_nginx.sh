#!/usr/bin/env bash
# The gateway's full chain against nginx as a TLS reverse proxy, side by side (see
# docs PERFORMANCE): both terminate TLS 1.3 with the same certificate and proxy to the same
# upstream (a second nginx, `return 200`, keep-alive). The gateway also verifies the Bearer token
# (served from its verified-token cache after the first request), matches one of 50k routes,
# asks the drills' RBAC Rego policy and passes a local rate limit set too high to trigger. One
# worker each, both pinned to core 0; the client (`gatedrill loadgen`, the same flags and token
# for both), the upstream and the IdP share core 1. Alternating repetitions.
#
# Measured:
#   1. max RPS (closed loop, CONNECTIONS keep-alive connections): gateway / nginx (target >= 0.8),
#      and the server CPU time per request of each (from /proc: requests per CPU-second tell the
#      two apart even when a busy machine starves both)
#   2. p99 the gateway adds over the upstream at 50% of the gateway's max rate (open loop,
#      corrected for coordinated omission): p99 via the gateway - p99 direct (target < 1 ms),
#      and what nginx adds at the same rate, for reference; each p99 the median of the
#      per-second p99s of HALF_REPS runs pooled (every run's own median is printed above the
#      result)
#   3. gateway RSS with IDLE idle connections open and its 50k routes (target < 128 MB), for the
#      TLS gateway and for a second, plaintext one (same routes and policy); nginx's worker with
#      as many idle TLS connections, for reference
# The last line holds all three. Not part of the test suite; the machine's load average is
# printed first (a shared machine makes the absolute numbers move, the ratio less so).
#
# usage: bench/gateway_vs_nginx.sh [GATEDRILL_BINARY]
#        (env: CONNECTIONS=64 DURATION=5 REPS=3 HALF_REPS=5 IDLE=10000 ROUTES=50000; PROFILE=perf.data
#        records a perf profile of the gateway during one extra max-rate run; GATEWAY_FLAGS
#        are added to both gateways' command lines, e.g. "--tls-records openssl"; SYSCALLS=RATE
#        counts syscalls, context switches and CPU per request at RATE req/s instead)
set -euo pipefail

GATEDRILL=${1:-${GATEDRILL:-build/release/gatedrill}}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5}
REPS=${REPS:-3}
HALF_REPS=${HALF_REPS:-5}
IDLE=${IDLE:-10000}
ROUTES=${ROUTES:-50000}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
policy="$here/../scenarios/drills/policies/rbac.rego"

source "$here/lib.sh"
require_tools nginx openssl curl jq taskset ss
require_gatedrill "$GATEDRILL"
[[ -r "$policy" ]] || { echo "error: cannot read $policy" >&2; exit 2; }
if (( $(ulimit -n) < IDLE + 1000 )); then
  echo "error: ulimit -n is $(ulimit -n); $IDLE idle connections need at least $((IDLE + 1000))" >&2
  exit 2
fi

for name in up_port ngx_port idp_port idp_admin gw_port gw_plain_port; do free_port "$name"; done

# TLS certificate for both proxies (P-256, SAN 127.0.0.1).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# The upstream and the reverse proxy: two nginx instances, one worker each.
nginx_conf upstream "server { listen 127.0.0.1:$up_port; location / { return 200 \"ok\\n\"; } }"
nginx_conf proxy "
  upstream app { server 127.0.0.1:$up_port; keepalive 256; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$ngx_port ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }"
taskset -c 1 nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" &
pids+=($!)
taskset -c 0 nginx -p "$work/proxy" -c "$work/proxy/nginx.conf" &
ngx_master=$!
pids+=($ngx_master)
wait_for "the upstream nginx" curl -sf "http://127.0.0.1:$up_port/"
wait_for "the proxy nginx" curl -sf --cacert "$work/cert.pem" "https://127.0.0.1:$ngx_port/"
# The proxy's master and its worker (the master's child), for their CPU time.
mapfile -t ngx_pids < <(echo "$ngx_master"; pgrep -P "$ngx_master")

# The IdP and one token for every request.
taskset -c 1 "$GATEDRILL" idp --port "$idp_port" --admin-port "$idp_admin" --threads 1 >"$work/idp.log" 2>&1 &
pids+=($!)
wait_for "the IdP" curl -sf "http://127.0.0.1:$idp_port/jwks.json"
curl -sf -X POST "http://127.0.0.1:$idp_admin/admin/tokens" -d '{"ttl_s": 3600}' | jq -er .token >"$work/tokens.txt"

# ROUTES routes: the one the load uses (the RBAC policy allows GET /api/orders/...) and the
# rest half exact, half prefix.
write_routes "$work/routes.json" "$ROUTES"

# start_gateway NAME PORT LISTENER_FLAGS...: one gateway worker on core 0 with the whole chain;
# sets started_pid once it printed its ready line.
start_gateway() {
  local name=$1 port=$2
  shift 2
  taskset -c 0 "$GATEDRILL" gateway --listen "127.0.0.1:$port" --admin-port 0 "$@" \
    --issuer "http://127.0.0.1:$idp_port" --jwks-uri "http://127.0.0.1:$idp_port/jwks.json" \
    --audience gatedrill --upstream "http://127.0.0.1:$up_port" --threads 1 \
    --routes "$work/routes.json" --policy "$policy" --rate-limit 100000000 ${GATEWAY_FLAGS:-} \
    >"$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=($started_pid)
  wait_for "the $name" grep -q '"component":"gateway"' "$work/$name.log"
}
start_gateway gateway "$gw_port" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
gw_pid=$started_pid
token=$(head -1 "$work/tokens.txt")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/cert.pem" -H "Authorization: Bearer $token" \
  "https://127.0.0.1:$gw_port/api/orders/1")
[[ "$code" == 200 ]] || { echo "error: the gateway answered $code to a valid request" >&2; cat "$work/gateway.log" >&2; exit 1; }

gw_url="https://127.0.0.1:$gw_port/api/orders/1"
ngx_url="https://127.0.0.1:$ngx_port/api/orders/1"
up_url="http://127.0.0.1:$up_port/api/orders/1"

# CPU ticks (user + system) used so far by the given processes.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
ticks_per_s=$(getconf CLK_TCK)

# load NAME URL RATE [SERVER_PID...]: one loadgen run on core 1; prints "NAME rps p99_ns non2xx
# errors server_cpu_us_per_request". p99 is the median of the per-second p99s after the first
# second (the first second holds the connections' TLS handshakes and the backlog they cause at
# the start of an open-loop run; the median keeps one second disturbed by another process on a
# shared machine from deciding the result); the CPU is what the given server processes spent
# per response.
load() {
  local name=$1 url=$2 rate=$3 out="$work/$1.$RANDOM.json"
  shift 3
  local before=0 after=0
  (( $# > 0 )) && before=$(cpu_ticks "$@")
  taskset -c 1 "$GATEDRILL" loadgen "$url" --rate "$rate" --threads 1 --connections "$CONNECTIONS" \
    --duration "${DURATION}s" --cacert "$work/cert.pem" --token-file "$work/tokens.txt" \
    --quiet --json "$out" >/dev/null 2>&1 || true
  (( $# > 0 )) && after=$(cpu_ticks "$@")
  jq -r '.intervals[1:][] | .p99_ns' "$out" >>"$work/seconds.$name"
  jq -r --arg n "$name" --argjson cpu "$(( after - before ))" --argjson hz "$ticks_per_s" \
    '[$n, .achieved_rps,
      ([.intervals[1:][] | .p99_ns] | sort | if length > 0 then .[length / 2 | floor]
                                               else null end) // .totals.latency.percentiles_ns["99"],
      ([.totals.status | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0),
      (.totals.errors + .totals.timeouts + .totals.connect_errors),
      (if .totals.completed > 0 then $cpu / $hz * 1e6 / .totals.completed else 0 end)] | @tsv' "$out"
}

# SYSCALLS=RATE: instead of the benchmark, what each proxy asks of the kernel per request at RATE
# req/s (open loop, CONNECTIONS keep-alive connections, DURATION s, REPS alternating runs): system
# calls by kind (perf stat on the syscall tracepoints), context switches and CPU (task-clock) per
# request of the gateway's process and of nginx's worker; the connections' handshakes are in it.
if [[ -n "${SYSCALLS:-}" ]]; then
  require_tools perf
  kinds="read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait epoll_ctl"
  kinds+=" timerfd_settime futex accept4 close"
  events="raw_syscalls:sys_enter,context-switches,cpu-migrations,task-clock"
  for kind in $kinds; do events+=",syscalls:sys_enter_$kind"; done
  # count NAME URL PID: "NAME requests event=count..." for one run.
  count() {
    local name=$1 url=$2 pid=$3 out="$work/$1.$RANDOM"
    perf stat -x, -e "$events" -p "$pid" -o "$out.perf" &
    local perf_pid=$!
    sleep 0.5  # perf attaches; not synchronisation of what is measured (counted from here on)
    taskset -c 1 "$GATEDRILL" loadgen "$url" --rate "$SYSCALLS" --threads 1 --connections "$CONNECTIONS" \
      --duration "${DURATION}s" --cacert "$work/cert.pem" --token-file "$work/tokens.txt" \
      --quiet --json "$out.json" >/dev/null 2>&1 || true
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    printf "%s %s" "$name" "$(jq -r .totals.completed "$out.json")"
    awk -F, '$3 != "" && $1 ~ /^[0-9.]+$/ { sub(/^syscalls:sys_enter_/, "", $3); printf " %s=%s", $3, $1 }' "$out.perf"
    echo
  }
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $SYSCALLS req/s, c=$CONNECTIONS, ${DURATION}s per run"
  : >"$work/sys"
  for rep in $(seq 1 "$REPS"); do
    count gateway "$gw_url" "$gw_pid" | tee -a "$work/sys"
    count nginx "$ngx_url" "${ngx_pids[1]}" | tee -a "$work/sys"
  done
  # Per request, summed over the runs of each: one row per kind.
  awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); sum[$1, kv[1]] += kv[2]; if (!(kv[1] in seen)) { seen[kv[1]] = 1; order[++n] = kv[1] } }
         requests[$1] += $2 }
       END { printf "%-22s %10s %10s\n", "per request", "gateway", "nginx"
             for (i = 1; i <= n; i++) { k = order[i]; name = (k == "raw_syscalls:sys_enter" ? "syscalls (all)" : k)
               printf "%-22s %10.3f %10.3f\n", name, sum["gateway", k] / requests["gateway"], sum["nginx", k] / requests["nginx"] } }' "$work/sys"
  exit 0
fi

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; c=$CONNECTIONS, ${DURATION}s per run"
load warmup-gateway "$gw_url" max >/dev/null
load warmup-nginx "$ngx_url" max >/dev/null
: >"$work/max"
if [[ -n "${PROFILE:-}" ]]; then  # PROFILE=out.data: perf profile of the gateway at max rate
  perf record -g -o "$PROFILE" -p "$gw_pid" -- sleep "$DURATION" >/dev/null 2>&1 &
  perf_pid=$!
  load profiled "$gw_url" max
  wait "$perf_pid" || true
fi
for rep in $(seq 1 "$REPS"); do
  load gateway "$gw_url" max "$gw_pid" | tee -a "$work/max"
  load nginx "$ngx_url" max "${ngx_pids[@]}" | tee -a "$work/max"
done
bad=$(awk '$4 > 0 || $5 > 0' "$work/max")
[[ -z "$bad" ]] || echo "warning: runs with non-2xx answers or errors: $bad" >&2
gw_max=$(awk '$1 == "gateway" { s += $2; n++ } END { printf "%.0f", s / n }' "$work/max")
ngx_max=$(awk '$1 == "nginx" { s += $2; n++ } END { printf "%.0f", s / n }' "$work/max")
gw_cpu=$(awk '$1 == "gateway" { s += $6; n++ } END { printf "%.1f", s / n }' "$work/max")
ngx_cpu=$(awk '$1 == "nginx" { s += $6; n++ } END { printf "%.1f", s / n }' "$work/max")

half=$((gw_max / 2))
: >"$work/half"
for rep in $(seq 1 "$HALF_REPS"); do
  load direct "$up_url" "$half" | tee -a "$work/half"
  load gateway@50% "$gw_url" "$half" | tee -a "$work/half"
  load nginx@50% "$ngx_url" "$half" | tee -a "$work/half"  # the reference at the same rate
done
# median_p99 NAME: the median of NAME's per-second p99s over all its runs (the mean of the middle
# two for an even count). This shared machine has slow spells a second or more long that strike
# the gateway's and nginx's runs alike (with p99s 5-10x a quiet second's); pooling the seconds of
# HALF_REPS runs weighs each spell by its length, where a median of three run medians swung with
# whichever run one landed in.
median_p99() {
  sort -n "$work/seconds.$1" | awk '{ v[++n] = $1 } END {
    printf "%.0f", (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) }'
}
p99_direct=$(median_p99 direct)
p99_gw=$(median_p99 gateway@50%)
p99_ngx=$(median_p99 nginx@50%)

# Idle connections: a loadgen with IDLE connections at one request per second in all. Once the
# gateway has them all established and its RSS has stayed put for 4 s (TLS handshakes done, and
# the heap trimmed, which the gateway does a second or two after a burst of handshakes), read
# VmRSS. Measured for the TLS gateway and for a plaintext one with the same routes and policy.
rss_of() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# idle_rss PORT PID URL: prints "rss_kb established"
idle_rss() {
  local port=$1 pid=$2 url=$3 established=0 rss last=-1 stable=0
  taskset -c 1 "$GATEDRILL" loadgen "$url" --rate 1 --threads 1 --connections "$IDLE" --duration 300s \
    --connect-timeout 60s --timeout 60s --cacert "$work/cert.pem" --token-file "$work/tokens.txt" --quiet \
    >/dev/null 2>&1 &
  local idle_pid=$!
  pids+=($idle_pid)
  for _ in $(seq 1 240); do
    established=$(ss -Htn state established "( sport = :$port )" | wc -l)
    rss=$(rss_of "$pid")
    if (( established >= IDLE )) && (( rss - last < 256 && last - rss < 256 )); then
      stable=$((stable + 1))
      (( stable >= 8 )) && break
    else
      stable=0
    fi
    last=$rss
    sleep 0.5
  done
  kill "$idle_pid" 2>/dev/null || true
  wait "$idle_pid" 2>/dev/null || true
  echo "$rss $established"
}
start_gateway gateway-plaintext "$gw_plain_port" --plaintext
gw_plain_pid=$started_pid
rss_before=$(rss_of "$gw_pid")
rss_plain_start=$(rss_of "$gw_plain_pid")
read -r rss_idle established < <(idle_rss "$gw_port" "$gw_pid" "$gw_url")
read -r rss_plain_idle established_plain < <(idle_rss "$gw_plain_port" "$gw_plain_pid" \
  "http://127.0.0.1:$gw_plain_port/api/orders/1")
read -r rss_ngx_idle established_ngx < <(idle_rss "$ngx_port" "${ngx_pids[1]}" "$ngx_url")

awk -v gw="$gw_max" -v ngx="$ngx_max" -v half="$half" -v pd="$p99_direct" -v pg="$p99_gw" -v pn="$p99_ngx" \
    -v before="$rss_before" -v idle="$rss_idle" -v conns="$established" -v routes="$ROUTES" \
    -v pstart="$rss_plain_start" -v pidle="$rss_plain_idle" -v pconns="$established_plain" \
    -v nidle="$rss_ngx_idle" -v nconns="$established_ngx" \
    -v gcpu="$gw_cpu" -v ncpu="$ngx_cpu" -v c="$CONNECTIONS" 'BEGIN {
  printf "max rps: gateway %.0f, nginx %.0f; server CPU per request: gateway %.1f us, nginx %.1f us\n", gw, ngx, gcpu, ncpu
  printf "p99 at %d req/s: direct %.3f ms, via gateway %.3f ms, via nginx %.3f ms\n", half, pd / 1e6, pg / 1e6, pn / 1e6
  printf "gateway RSS (%d routes): TLS %.1f MB after the load, %.1f MB with %d idle TLS connections; plaintext %.1f MB at start, %.1f MB with %d idle connections\n",
         routes, before / 1024, idle / 1024, conns, pstart / 1024, pidle / 1024, pconns
  printf "nginx worker RSS (no routes): %.1f MB with %d idle TLS connections\n", nidle / 1024, nconns
  printf "gateway/nginx (1 worker each, c=%d): rps ratio %.2f, requests per server CPU-second ratio %.2f; added p99 at 50%% of max %.3f ms (nginx at the same rate %.3f ms); RSS with %d routes: %.1f MB with %d idle TLS connections, %.1f MB with %d idle plaintext connections\n",
         c, (ngx > 0 ? gw / ngx : 0), (gcpu > 0 ? ncpu / gcpu : 0), (pg - pd) / 1e6, (pn - pd) / 1e6, routes, idle / 1024, conns, pidle / 1024, pconns
}'

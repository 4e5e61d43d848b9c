#!/usr/bin/env bash
# Side-by-side macro benchmark (see docs of PERFORMANCE): `gatedrill loadgen --rate max --threads 1`
# against `wrk -t1` with the same connections, and `--h2 --streams S` against `h2load -t1 -m S`
# (h2c, prior knowledge; skipped without h2load), all driving the same nginx (1 worker,
# `return 200`) on free loopback ports. nginx is pinned to core 0, the client to core 1.
# Requests are counted by nginx's stub_status; client CPU (user and system apart) by the shell's
# `time`; the nginx worker's CPU from its /proc stat, so a run the server capped (worker busy
# near 100%) shows as such: there the requests/s ratio can only tie and the requests per client
# CPU-second ratio tells the tools apart. Three repetitions, alternating tools. Also: client
# CPU-seconds per 10k requests (ours and wrk's);
# rate accuracy of an open-loop `--rate RATE` run (our achieved requests/s over RATE, nginx's
# served count beside it; with `--processes 2` too when one process misses by more than 1%); and the stall test: a fixed-rate
# run during which the nginx worker this script started is stopped for 1 s (SIGSTOP, SIGCONT),
# printing our coordinated-omission corrected p99 (must show the stall) beside the p99 measured
# from the actual send (must not). The last line holds every ratio and number. Not a test.
#
# usage: bench/loadgen_vs_wrk.sh [GATEDRILL_BINARY]
#        (env: CONNECTIONS=64 DURATION=5 REPS=3 STREAMS=10 RATE=50000 STALL_RATE=10000)
set -euo pipefail

GATEDRILL=${1:-${GATEDRILL:-build/release/gatedrill}}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5}
REPS=${REPS:-3}
STREAMS=${STREAMS:-10}
RATE=${RATE:-50000}
STALL_RATE=${STALL_RATE:-10000}
have_h2load=0
command -v h2load >/dev/null && have_h2load=1

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools nginx wrk curl taskset jq
require_gatedrill "$GATEDRILL"
free_port port
free_port port_h2

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
  server {
    listen 127.0.0.1:$port_h2 http2;
    http2_max_requests 100000000;
    location / { return 200 "ok\n"; }
  }
}
CONF
taskset -c 0 nginx -p "$work" -c "$work/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")

served() { curl -sf "http://127.0.0.1:$port/nginx_status" | awk 'NR == 3 { print $3 }'; }
wait_for "nginx on port $port" served
worker_pid=$(pgrep -P "$nginx_pid" | head -1)
[[ -n "$worker_pid" ]] || { echo "error: no nginx worker under $nginx_pid" >&2; exit 1; }
clock_ticks=$(getconf CLK_TCK)
# The nginx worker's CPU time so far, in clock ticks (utime + stime).
server_ticks() { awk '{ print $14 + $15 }' "/proc/$worker_pid/stat"; }

url="http://127.0.0.1:$port/"
# run NAME COMMAND...: prints "NAME requests wall_s cpu_s user_s sys_s server_cpu_s"
run() {
  local name=$1; shift
  local before after t0 t1 cpu ticks0 ticks1
  before=$(served)
  ticks0=$(server_ticks)
  t0=$(date +%s.%N)
  cpu=$( { TIMEFORMAT='%U %S'; time taskset -c 1 "$@" >/dev/null 2>&1; } 2>&1 )
  t1=$(date +%s.%N)
  ticks1=$(server_ticks)
  after=$(served)
  # Each stub_status read is itself one request.
  echo "$name $((after - before - 1)) $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $(awk -v u="${cpu% *}" -v s="${cpu#* }" 'BEGIN { print u + s, u, s }') $(awk -v t=$((ticks1 - ticks0)) -v hz="$clock_ticks" 'BEGIN { print t / hz }')"
}

results="$work/results"
: >"$results"
for rep in $(seq 1 "$REPS"); do
  run wrk wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url" | tee -a "$results"
  run loadgen "$GATEDRILL" loadgen "$url" --rate max --threads 1 --connections "$CONNECTIONS" --duration "${DURATION}s" --quiet \
    | tee -a "$results"
  if (( have_h2load )); then
    run h2load h2load -t1 -c"$CONNECTIONS" -m"$STREAMS" -D"$DURATION" "http://127.0.0.1:$port_h2/" | tee -a "$results"
    run loadgen-h2 "$GATEDRILL" loadgen "http://127.0.0.1:$port_h2/" --h2 --streams "$STREAMS" --rate max --threads 1 \
      --connections "$CONNECTIONS" --duration "${DURATION}s" --quiet | tee -a "$results"
  fi
done

# Rate accuracy: our achieved rate (responses / time from the start to the last response, so a
# client that falls behind and catches up late counts as slow) over the planned rate; nginx's
# count of requests served / planned beside it. One process first, two when one misses by > 1%.
accuracy() {
  local processes=$1 before after pin=(taskset -c 1) json="$work/accuracy_$1.json"
  # Two processes get both cores (beside nginx): the point is more CPU than one core.
  (( processes > 1 )) && pin=()
  before=$(served)
  "${pin[@]}" "$GATEDRILL" loadgen "$url" --rate "$RATE" --duration "${DURATION}s" --threads 1 \
    --processes "$processes" --connections "$CONNECTIONS" --json "$json" --quiet >/dev/null 2>&1 || true
  after=$(served)
  awk -v a="$(jq .achieved_rps "$json")" -v n="$((after - before - 1))" -v r="$RATE" -v d="$DURATION" \
    'BEGIN { printf "%.4f %.4f", a / r, n / (r * d) }'
}
read -r acc1 served1 <<<"$(accuracy 1)"
echo "rate accuracy at $RATE/s, 1 process: achieved $acc1 of planned (nginx served $served1 of planned)"
acc_line="rate $RATE/s achieved $acc1 (1 process)"
if awk -v a="$acc1" 'BEGIN { exit !(a < 0.99 || a > 1.01) }'; then
  read -r acc2 served2 <<<"$(accuracy 2)"
  echo "rate accuracy at $RATE/s, 2 processes: achieved $acc2 of planned (nginx served $served2 of planned)"
  acc_line="$acc_line, $acc2 (2 processes)"
fi

# The stall test: nginx's worker (a child of the master this script started) stops for 1 s in
# the middle of a fixed-rate run.
stall_json="$work/stall.json"
stall_seconds=$((DURATION > 4 ? DURATION : 4))
taskset -c 1 "$GATEDRILL" loadgen "$url" --rate "$STALL_RATE" --duration "${stall_seconds}s" --threads 1 \
  --connections "$CONNECTIONS" --json "$stall_json" --quiet >/dev/null 2>&1 &
stall_client=$!
sleep "$(awk -v d="$stall_seconds" 'BEGIN { print d / 2 - 0.5 }')"
kill -STOP "$worker_pid"
sleep 1
kill -CONT "$worker_pid"
wait "$stall_client" || true
stall_p99=$(jq '.totals.latency.percentiles_ns["99"] / 1e6' "$stall_json")
stall_p99_actual=$(jq '.totals.latency_actual.percentiles_ns["99"] / 1e6' "$stall_json")
stall_line=$(awk -v c="$stall_p99" -v a="$stall_p99_actual" 'BEGIN {
  printf "stall 1s at %s/s: p99 corrected %.1f ms (%s), actual-send %.1f ms (%s)", '"$STALL_RATE"', c,
    (c >= 500 ? "shows it" : "MISSES IT"), a, (a < 500 ? "does not" : "SHOWS IT TOO") }')
echo "$stall_line"

awk -v acc_line="$acc_line" -v stall_line="$stall_line" '
  { req[$1] += $2; wall[$1] += $3; cpu[$1] += $4; user[$1] += $5; sys[$1] += $6; server[$1] += $7 }
  END {
    for (t in req) printf "%-10s %10.0f req/s %10.0f req/cpu-s %8.3f cpu-s per 10k requests (user %.3f, system %.3f), nginx worker busy %3.0f%%\n", t, req[t] / wall[t], (cpu[t] > 0 ? req[t] / cpu[t] : 0), (req[t] > 0 ? cpu[t] / req[t] * 10000 : 0), (req[t] > 0 ? user[t] / req[t] * 10000 : 0), (req[t] > 0 ? sys[t] / req[t] * 10000 : 0), server[t] / wall[t] * 100
    rps = (req["loadgen"] / wall["loadgen"]) / (req["wrk"] / wall["wrk"])
    eff = (cpu["loadgen"] > 0 && cpu["wrk"] > 0) ? (req["loadgen"] / cpu["loadgen"]) / (req["wrk"] / cpu["wrk"]) : 0
    line = sprintf("loadgen/wrk (c=%d, t=1): rps ratio %.2f (nginx busy %.0f%% vs %.0f%%), requests per cpu-second ratio %.2f, cpu-s per 10k requests %.3f vs %.3f", '"$CONNECTIONS"', rps, server["loadgen"] / wall["loadgen"] * 100, server["wrk"] / wall["wrk"] * 100, eff, cpu["loadgen"] / req["loadgen"] * 10000, cpu["wrk"] / req["wrk"] * 10000)
    if (wall["h2load"] > 0 && wall["loadgen-h2"] > 0 && req["h2load"] > 0) {
      rps2 = (req["loadgen-h2"] / wall["loadgen-h2"]) / (req["h2load"] / wall["h2load"])
      eff2 = (cpu["loadgen-h2"] > 0 && cpu["h2load"] > 0) ? (req["loadgen-h2"] / cpu["loadgen-h2"]) / (req["h2load"] / cpu["h2load"]) : 0
      line = line sprintf("; loadgen-h2/h2load (m=%d): rps ratio %.2f (nginx busy %.0f%% vs %.0f%%), requests per cpu-second ratio %.2f", '"$STREAMS"', rps2, server["loadgen-h2"] / wall["loadgen-h2"] * 100, server["h2load"] / wall["h2load"] * 100, eff2)
    } else {
      line = line "; h2 skipped (no h2load)"
    }
    print line "; " acc_line "; " stall_line
  }' "$results"

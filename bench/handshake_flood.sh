#!/usr/bin/env bash
# A flood of TLS handshakes at once against one gateway worker, for each handshake cap in CAPS
# (--max-handshakes-in-flight; 0: no cap), one after the other: CONNECTIONS clients connect at
# the same moment (`gatedrill loadgen --rate 1`, a 60 s connect timeout of its own, so what the
# gateway does decides) and stay open. The gateway (core 0, no routes: every request is
# refused, only the handshakes matter) and the client (core 1) are polled every half second.
#
# Per cap it prints: seconds until the gateway had completed as many handshakes as there are
# connections (a client whose handshake failed reconnects, so then all are up), the connections that
# missed one of the gateway's handshake deadlines, by stage: first bytes (10 s from the accept) /
# a handshake slot (30 s) / the handshake (10 s; its metric: those clients reconnect), the
# client's connect errors,
# the most connections ever waiting in the listen backlog, the machine's ListenOverflows during
# the run (SYNs dropped with the backlog full: those clients retry after 1, 3, 7 s...), peak and
# final RSS. Not part of the test suite; the load average is printed first.
#
# usage: bench/handshake_flood.sh [GATEDRILL_BINARY]
#        (env: CONNECTIONS=10000 CAPS="0 256" LIMIT=90 seconds per cap at most)
set -euo pipefail

GATEDRILL=${1:-${GATEDRILL:-build/release/gatedrill}}
CONNECTIONS=${CONNECTIONS:-10000}
CAPS=${CAPS:-0 256}
LIMIT=${LIMIT:-90}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools openssl curl taskset ss
require_gatedrill "$GATEDRILL"
if (( $(ulimit -n) < CONNECTIONS + 1000 )); then
  echo "error: ulimit -n is $(ulimit -n); $CONNECTIONS connections need at least $((CONNECTIONS + 1000))" >&2
  exit 2
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# The value of a sample on the gateway's /metrics (0 when absent).
metric() {
  curl -sf "http://127.0.0.1:$admin_port/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}
# The handshake deadlines missed, by stage: "first_bytes/slot/handshake".
timeouts() {
  curl -sf "http://127.0.0.1:$admin_port/metrics" |
    awk -F'[" ]' '/^gatedrill_gateway_tls_handshake_timeouts_total/ { v[$2] = $NF }
                  END { printf "%d/%d/%d", v["first_bytes"], v["slot"], v["handshake"] }'
}
overflows() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) k[i] = $i; h = 1 } else for (i = 1; i <= NF; i++) if (k[i] == "ListenOverflows") print $i }' /proc/net/netstat; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $CONNECTIONS connections at once; net.core.somaxconn $(cat /proc/sys/net/core/somaxconn)"
printf "%-6s %9s %14s %9s %9s %10s %9s %9s\n" cap all_up_s timeouts conn_err backlog overflows peak_MB end_MB
for cap in $CAPS; do
  free_port port
  free_port admin_port
  free_port dead_port
  taskset -c 0 "$GATEDRILL" gateway --listen "127.0.0.1:$port" --admin-port "$admin_port" --threads 1 \
    --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --max-handshakes-in-flight "$cap" \
    --issuer "http://127.0.0.1:$dead_port" --jwks-uri "http://127.0.0.1:$dead_port/jwks.json" \
    --upstream "http://127.0.0.1:$dead_port" >"$work/gateway-$cap.log" 2>&1 &
  gw_pid=$!
  pids+=($gw_pid)
  wait_for "the gateway" grep -q '"component":"gateway"' "$work/gateway-$cap.log"
  overflows_before=$(overflows)
  taskset -c 1 "$GATEDRILL" loadgen "https://127.0.0.1:$port/" --rate 1 --threads 1 \
    --connections "$CONNECTIONS" --duration "$((LIMIT + 30))s" --connect-timeout 60s --timeout 60s \
    --insecure --quiet --json "$work/loadgen-$cap.json" >"$work/loadgen-$cap.log" 2>&1 &
  load_pid=$!
  pids+=($load_pid)
  start=$(date +%s.%N)
  up_at=-1 backlog_max=0
  while (( $(date +%s) - ${start%.*} < LIMIT )); do
    backlog=$(metric gatedrill_gateway_listen_backlog)
    (( backlog > backlog_max )) && backlog_max=$backlog
    if (( $(metric gatedrill_gateway_tls_handshakes_total) >= CONNECTIONS )); then
      up_at=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
      break
    fi
    sleep 0.5
  done
  missed=$(timeouts)
  peak=$(awk '/^VmHWM/ { print $2 }' "/proc/$gw_pid/status")
  # The connections stay up; the RSS once the gateway has trimmed its heap (a few seconds).
  sleep 6
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$gw_pid/status")
  kill -INT "$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  conn_err=$(jq -r '.totals.connect_errors // "?"' "$work/loadgen-$cap.json" 2>/dev/null || echo "?")
  kill "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
  [[ "$up_at" == -1 ]] && up_at=">$LIMIT"
  printf "%-6s %9s %14s %9s %9s %10s %9.1f %9.1f\n" "$cap" "$up_at" "$missed" "$conn_err" "$backlog_max" "$(( $(overflows) - overflows_before ))" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" \
    "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
  first_error=$(jq -r '.first_error // empty' "$work/loadgen-$cap.json" 2>/dev/null || true)
  [[ -z "$first_error" ]] || echo "       the client's first error: $first_error"
done

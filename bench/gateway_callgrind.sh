#!/usr/bin/env bash
# Instructions per request of the gateway's full chain under callgrind: the measure that a busy
# shared machine does not move (see gateway/README.md, "CPU per request"). The same gateway as
# bench/gateway_vs_nginx.sh (TLS, ROUTES routes, the drills' RBAC Rego policy, a local rate
# limit, a cached token) in front of an nginx `return 200` upstream, run under
# `valgrind --tool=callgrind`: warmed up (WARM_RATE req/s for 3 s), counters zeroed, then RATE
# req/s for DURATION s on CONNECTIONS connections, dumped. User-space instructions only (the
# kernel's share is not in it).
#
# Prints the total per completed request minus the TLS handshakes of the measured run
# (SSL_do_handshake inclusive; their setup beyond that stays in the total, so the total moves by a
# few thousand between runs), and the inclusive count per request of each function whose name
# matches one of FUNCS (a grep -E pattern per word), for comparing the parts of two builds.
#
# usage: bench/gateway_callgrind.sh [GATEDRILL_BINARY]
#        (env: RATE=200 DURATION=5 CONNECTIONS=16 WARM_RATE=100 ROUTES=50000 KEEP=dir: keep the
#        callgrind dump in dir; FUNCS="pattern ..."; GATEWAY_FLAGS added to the gateway's
#        command line, e.g. "--tls-records openssl")
set -euo pipefail

GATEDRILL=${1:-${GATEDRILL:-build/release/gatedrill}}
RATE=${RATE:-200}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
WARM_RATE=${WARM_RATE:-100}
ROUTES=${ROUTES:-50000}
FUNCS=${FUNCS:-"DataPlane::Impl::handle DataPlane::Impl::forward\\( serialize_message beast::http::basic_parser<false>::put beast::http::basic_parser<true>::put H1ResponseParser::feed DataPlane::Impl::upstream_request write_upstream_request client_response write_client_response ^malloc ^free"}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
policy="$here/../scenarios/drills/policies/rbac.rego"

source "$here/lib.sh"
require_tools nginx openssl curl jq valgrind callgrind_control callgrind_annotate
require_gatedrill "$GATEDRILL"

for name in up_port idp_port idp_admin gw_port; do free_port "$name"; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

mkdir -p "$work/upstream"
cat >"$work/upstream/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/upstream/nginx.pid;
error_log $work/upstream/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/upstream/body;
  proxy_temp_path $work/upstream/proxy;
  fastcgi_temp_path $work/upstream/fastcgi;
  uwsgi_temp_path $work/upstream/uwsgi;
  scgi_temp_path $work/upstream/scgi;
  server { listen 127.0.0.1:$up_port; location / { return 200 "ok\n"; } }
}
CONF
nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" &
pids+=($!)
wait_for "the upstream nginx" curl -sf "http://127.0.0.1:$up_port/"

"$GATEDRILL" idp --port "$idp_port" --admin-port "$idp_admin" --threads 1 >"$work/idp.log" 2>&1 &
pids+=($!)
wait_for "the IdP" curl -sf "http://127.0.0.1:$idp_port/jwks.json"
curl -sf -X POST "http://127.0.0.1:$idp_admin/admin/tokens" -d '{"ttl_s": 3600}' | jq -er .token >"$work/tokens.txt"

write_routes "$work/routes.json" "$ROUTES"

valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$GATEDRILL" gateway --listen "127.0.0.1:$gw_port" --admin-port 0 \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
  --issuer "http://127.0.0.1:$idp_port" --jwks-uri "http://127.0.0.1:$idp_port/jwks.json" \
  --audience gatedrill --upstream "http://127.0.0.1:$up_port" --threads 1 \
  --routes "$work/routes.json" --policy "$policy" --rate-limit 100000000 ${GATEWAY_FLAGS:-} \
  >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
for _ in $(seq 1 1200); do  # under valgrind the start (50k routes) takes a while
  grep -q '"component":"gateway"' "$work/gateway.log" && break
  sleep 0.1
done
grep -q '"component":"gateway"' "$work/gateway.log" || { echo "error: the gateway did not start" >&2; tail "$work/gateway.log" >&2; exit 1; }

url="https://127.0.0.1:$gw_port/api/orders/1"
run_load() {  # RATE SECONDS JSON
  "$GATEDRILL" loadgen "$url" --rate "$1" --threads 1 --connections "$CONNECTIONS" \
    --duration "${2}s" --timeout 10s --connect-timeout 60s --cacert "$work/cert.pem" --token-file "$work/tokens.txt" \
    --quiet --json "$3" >/dev/null 2>&1 || true
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
run_load "$WARM_RATE" 3 "$work/warm.json"
callgrind_control -z "$gw_pid" >/dev/null 2>&1
run_load "$RATE" "$DURATION" "$work/run.json"
callgrind_control -d "$gw_pid" >/dev/null 2>&1
dump=$(ls -t "$work"/callgrind.out.* | head -1)
[[ -n "${KEEP:-}" ]] && mkdir -p "$KEEP" && cp "$dump" "$KEEP/"

completed=$(jq -r '.totals.completed' "$work/run.json")
if (( completed == 0 )); then
  echo "error: no request completed; the loadgen's totals and the gateway's log:" >&2
  jq -c .totals "$work/run.json" >&2
  tail -5 "$work/gateway.log" >&2
  exit 1
fi
non2xx=$(jq -r '[.totals.status | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0' "$work/run.json")
callgrind_annotate --inclusive=yes --threshold=100 "$dump" >"$work/inclusive.txt" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$work/inclusive.txt")
# Inclusive counts and call counts come from the tree view; the plain annotate has no calls.
handshake=$(awk '/SSL_do_handshake/ { gsub(",", "", $1); print $1; exit }' "$work/inclusive.txt")
handshake=${handshake:-0}
echo "completed $completed (non-2xx $non2xx); total $total instructions; SSL_do_handshake inclusive $handshake"
awk -v t="$total" -v h="$handshake" -v n="$completed" 'BEGIN {
  printf "instructions per request (minus handshakes): %.0f\n", (t - h) / n }'
for pattern in $FUNCS; do
  awk -v p="$pattern" -v n="$completed" '$0 ~ p {
    c = $1; gsub(",", "", c); name = $0; sub(/^ *[0-9,]+ +\([^)]*\) +/, "", name); sub(/^ *[0-9,]+ +/, "", name)
    printf "  %9.0f  %s\n", c / n, substr(name, 1, 110); exit }' "$work/inclusive.txt"
done

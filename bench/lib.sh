# Shared by the side-by-side bench scripts (sourced, not run): tool checks, a work folder and
# the processes the script started (stopped by PID on exit, nothing else), free loopback ports
# and polling for readiness.

# require_tools TOOL...: exits 2 naming the first one missing.
require_tools() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (scripts/bootstrap installs it)" >&2; exit 2; }
  done
}

# require_gatedrill BINARY: exits 2 unless it is an executable.
require_gatedrill() {
  [[ -x "$1" ]] || { echo "error: $1 is not an executable (build the release preset first)" >&2; exit 2; }
}

work=$(mktemp -d)
pids=()  # what this script started; append each PID
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# free_port VAR: sets VAR to a port nobody answers on, below the ephemeral range (a port some
# outgoing connection holds cannot be listened on), and not handed out before in this script.
# A variable rather than output: `$(free_port)` would run in a subshell and forget what it gave.
ports_given=" "
ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local -n chosen=$1
  for candidate in $(shuf -i 20000-$((ephemeral_low - 1)) -n 100); do
    [[ "$ports_given" == *" $candidate "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
      ports_given+="$candidate "
      chosen=$candidate
      return
    fi
  done
  echo "error: no free port found" >&2
  exit 1
}

# wait_for DESCRIPTION COMMAND...: polls for up to 30 s (a busy machine starts things slowly);
# on a timeout prints the tails of the logs in the work folder and exits 1.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 600); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "error: $what did not come up; logs:" >&2
  tail -n 5 "$work"/*.log "$work"/*/error.log >&2 2>/dev/null || true
  exit 1
}

# write_routes FILE N: the gateway benches' route table: the route the load uses (the RBAC
# policy allows GET /api/orders/...) and N - 1 others, half exact, half prefix.
write_routes() {
  awk -v n="$2" 'BEGIN {
    printf "[{\"name\": \"orders\", \"prefix\": \"/api/orders\"}"
    for (i = 1; i < n; i++)
      printf ",\n{\"name\": \"r%d\", \"%s\": \"/api/svc%d/v1/res%d\", \"service\": \"svc%d\"}", i, (i % 2 ? "exact" : "prefix"), i % 500, i, i % 500
    print "]"
  }' >"$1"
}

# nginx_conf NAME HTTP-BLOCK-LINES: writes $work/NAME/nginx.conf, one worker in the foreground,
# its pid, logs and temporary files in $work/NAME (run it with `nginx -p "$work/NAME" -c ...`).
nginx_conf() {
  mkdir -p "$work/$1"
  cat >"$work/$1/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 30000;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/$1/body;
  proxy_temp_path $work/$1/proxy;
  fastcgi_temp_path $work/$1/fastcgi;
  uwsgi_temp_path $work/$1/uwsgi;
  scgi_temp_path $work/$1/scgi;
  $2
}
CONF
}

# start_ready NAME CORE PROGRAM ARGS...: runs PROGRAM pinned to CORE, logging to the work folder,
# and waits for its ready line (a gatedrill component prints one with "port"); sets started_pid,
# started_port and started_admin from it.
start_ready() {
  local name=$1 core=$2
  shift 2
  taskset -c "$core" "$@" >"$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  wait_for "the $name" grep -q '"port"' "$work/$name.log"
  local ready
  ready=$(grep -m1 '"port"' "$work/$name.log")
  started_port=$(jq -r .port <<<"$ready")
  started_admin=$(jq -r .admin_port <<<"$ready")
}

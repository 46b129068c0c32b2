#!/usr/bin/env bash
# Snapshot ingest: npc-orchestratord versus nginx answering a constant 200 (DESIGN 9: the
# daemon should reach >= 0.3x nginx). Both get the same load from `npc-flood --mode ingest`:
# an original-format snapshot of 50 NPCs + 50 players with positions, over HTTP keep-alive,
# for 1000 distinct gameIds (so coalescing does not do the work), closed loop on every
# connection. Prints snapshots/s for both and the ratio. Never fails on the ratio; exits
# non-zero only when something needed is missing or does not start.
#
# usage: bench/ingest_vs_nginx.sh [BUILD_DIR] [DURATION_S] [CONNECTIONS]
#        (defaults: build, 10, 32; BUILD_DIR relative to the repository root)
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
DURATION=${2:-10}
CONNECTIONS=${3:-32}
GAMES=1000
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
FLOOD="$BUILD/npc-flood"
DAEMON="$BUILD/npc-orchestratord"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

for bin in "$FLOOD" "$DAEMON" "$NGINX"; do
  if [ ! -x "$bin" ]; then
    echo "ingest_vs_nginx: $bin not found (build the targets npc-flood and npc-orchestratord;" \
         "install nginx-light)" >&2
    exit 1
  fi
done

TMP=$(mktemp -d)
NGINX_PID=""
DAEMON_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

# A loopback port nobody listens on (a small race with other processes is acceptable here).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Waits until something accepts connections on the port (up to ~15 s).
wait_port() {
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ok_per_s (2xx answers per second) and achieved_per_s of the snapshot kind in a report.
field() { grep -o "\"$2\":[0-9.eE+-]*" "$1" | head -1 | cut -d: -f2; }

NGINX_PORT=$(free_port) || { echo "ingest_vs_nginx: no free port" >&2; exit 1; }
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
cat > "$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  client_max_body_size 2m;
  client_body_buffer_size 1m;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      default_type application/json;
      return 200 '{"status":"success"}';
    }
  }
}
EOF
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" &
NGINX_PID=$!
if ! wait_port "$NGINX_PORT"; then
  echo "ingest_vs_nginx: nginx did not start:" >&2
  cat "$TMP/nginx/logs/error.log" >&2
  exit 1
fi

DAEMON_PORT=$(free_port) || { echo "ingest_vs_nginx: no free port" >&2; exit 1; }
"$DAEMON" --config "$ROOT/etc/npc-orchestrator.yaml" --set "server.listen=127.0.0.1:$DAEMON_PORT" \
  --set letta.backend=simulated > "$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 150); do
  grep -q "listening on" "$TMP/daemon.log" && break
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "listening on" "$TMP/daemon.log"; then
  echo "ingest_vs_nginx: the daemon did not start:" >&2
  cat "$TMP/daemon.log" >&2
  exit 1
fi

run_flood() {  # name port
  "$FLOOD" --target "http://127.0.0.1:$2" --mode ingest --games "$GAMES" \
    --connections "$CONNECTIONS" --duration "$DURATION" --json > "$TMP/$1.json" 2> "$TMP/$1.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "ingest_vs_nginx: npc-flood against $1 exited $rc:" >&2
    cat "$TMP/$1.err" >&2
  fi
}

echo "ingest benchmark: original-format snapshot, 50 NPCs + 50 players, $GAMES games,"
echo "  $CONNECTIONS keep-alive connections, closed loop, $DURATION s per target, $(nproc) cores"
run_flood nginx "$NGINX_PORT"
run_flood daemon "$DAEMON_PORT"

NGINX_OK=$(field "$TMP/nginx.json" ok_per_s)
DAEMON_OK=$(field "$TMP/daemon.json" ok_per_s)
DAEMON_ALL=$(field "$TMP/daemon.json" achieved_per_s)
NGINX_ACK=$(field "$TMP/nginx.json" ack_p99_ms)
DAEMON_ACK=$(field "$TMP/daemon.json" ack_p99_ms)
printf '  nginx (constant 200)  %10.0f snapshots/s   ack p99 %6.2f ms\n' "${NGINX_OK:-0}" "${NGINX_ACK:-0}"
printf '  npc-orchestratord     %10.0f snapshots/s accepted (202), %0.f answered/s, ack p99 %6.2f ms\n' \
  "${DAEMON_OK:-0}" "${DAEMON_ALL:-0}" "${DAEMON_ACK:-0}"
awk -v d="${DAEMON_OK:-0}" -v n="${NGINX_OK:-0}" 'BEGIN {
  if (n > 0) printf "  ratio daemon / nginx  %10.3f   (target >= 0.3)\n", d / n;
  else print "  ratio daemon / nginx         n/a   (nginx measured nothing)"
}'
grep -o '"statuses":{[^}]*}' "$TMP/daemon.json" | head -1 | sed 's/^/  daemon statuses: /'
exit 0

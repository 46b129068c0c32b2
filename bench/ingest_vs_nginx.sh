#!/usr/bin/env bash
# Snapshot ingest: npc-orchestratord versus nginx answering a constant 200 (DESIGN 9: the
# daemon should reach >= 0.3x nginx, for snapshots that repeat and for walking ones). Both get
# the same load from wrk (-t1, keep-alive, closed loop on every connection) with
# bench/ingest_wrk.lua: original-format snapshots of 50 NPCs + 50 players (~30 KB) for GAMES
# distinct gameIds, round robin, in two mixes:
#   repeat  every game's snapshot is the same each time
#   walk    each game's snapshots cycle through 3 position sets 1-3 studs apart (every
#           snapshot moves everyone and changes cluster membership)
# Prints snapshots/s (2xx answers) for both targets and both mixes, the ratios, and the
# daemon's CPU time per accepted snapshot (utime+stime of the daemon process from
# /proc/PID/stat, i.e. getrusage of the whole process, over the run). When /usr/bin/python3 has
# FastAPI and uvicorn (Debian: python3-fastapi uvicorn), the seed's FastAPI design
# (bench/fastapi_seed.py) gets the same load too and the daemon/FastAPI ratio is printed
# (DESIGN 9: >= 100x). Never fails on a ratio; exits non-zero only when something needed is
# missing or does not start.
#
# ROUNDS=N (default 1) measures each mix N times as a pair, nginx then the daemon right after,
# and prints every pair's ratio and the median: on a shared host whose speed drifts from one
# minute to the next, a pair measured back to back is compared under the same conditions.
#
# usage: bench/ingest_vs_nginx.sh [BUILD_DIR] [DURATION_S] [CONNECTIONS] [GAMES]
#        (defaults: build, 10, 32, 64; BUILD_DIR relative to the repository root)
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
DURATION=${2:-10}
CONNECTIONS=${3:-32}
GAMES=${4:-64}
ROUNDS=${ROUNDS:-1}
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "ingest_vs_nginx: ROUNDS must be a positive integer" >&2; exit 1 ;; esac
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
WRK=$(command -v wrk || echo /usr/bin/wrk)
DAEMON="$BUILD/npc-orchestratord"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

for bin in "$WRK" "$DAEMON" "$NGINX"; do
  if [ ! -x "$bin" ]; then
    echo "ingest_vs_nginx: $bin not found (build the target npc-orchestratord;" \
         "WITH_BENCH=1 scripts/install-deps.sh installs nginx-light and wrk)" >&2
    exit 1
  fi
done

TMP=$(mktemp -d)
NGINX_PID=""
DAEMON_PID=""
FASTAPI_PID=""
cleanup() {
  [ -n "$FASTAPI_PID" ] && kill "$FASTAPI_PID" 2>/dev/null && wait "$FASTAPI_PID" 2>/dev/null
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

# The seed's FastAPI design, when its Python packages are there.
FASTAPI_PORT=""
if /usr/bin/python3 -c "import fastapi, uvicorn" 2>/dev/null; then
  FASTAPI_PORT=$(free_port) || { echo "ingest_vs_nginx: no free port" >&2; exit 1; }
  /usr/bin/python3 "$ROOT/bench/fastapi_seed.py" "$FASTAPI_PORT" > "$TMP/fastapi.log" 2>&1 &
  FASTAPI_PID=$!
  if ! wait_port "$FASTAPI_PORT"; then
    echo "ingest_vs_nginx: the FastAPI seed did not start (skipped):" >&2
    cat "$TMP/fastapi.log" >&2
    FASTAPI_PORT=""
  fi
fi

# CPU ticks (utime + stime) the daemon has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }
TCK=$(getconf CLK_TCK)

# run_wrk name port mix -> prints "ok_per_s ok_total"
run_wrk() {
  INGEST_MIX=$3 INGEST_GAMES=$GAMES "$WRK" -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
    -s "$ROOT/bench/ingest_wrk.lua" "http://127.0.0.1:$2" > "$TMP/$1-$3.txt" 2>&1
  awk -v d="$DURATION" '
    /requests in/ { total = $1 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    END { ok = total - bad; printf "%.0f %d\n", ok / d, ok }' "$TMP/$1-$3.txt"
}

# The median of the numbers on stdin (one per line).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "ingest benchmark: original-format snapshots, 50 NPCs + 50 players (~30 KB), $GAMES games,"
echo "  wrk -t1 -c$CONNECTIONS keep-alive, closed loop, $DURATION s per target and mix, $(nproc) cores$(
  [ "$ROUNDS" -gt 1 ] && echo ", $ROUNDS rounds (nginx, then the daemon) per mix")"
for mix in repeat walk; do
  : > "$TMP/ratios-$mix"
  : > "$TMP/cpu-$mix"
  : > "$TMP/rates-$mix"
  for round in $(seq 1 "$ROUNDS"); do
    read -r NGINX_RATE _ < <(run_wrk nginx "$NGINX_PORT" "$mix")
    before=$(cpu_ticks)
    read -r DAEMON_RATE DAEMON_OK < <(run_wrk daemon "$DAEMON_PORT" "$mix")
    after=$(cpu_ticks)
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      echo "ingest_vs_nginx: the daemon died during the $mix run:" >&2
      tail -20 "$TMP/daemon.log" >&2
      exit 1
    fi
    label=$mix
    [ "$ROUNDS" -gt 1 ] && label="$mix $round"
    awk -v mix="$label" -v n="$NGINX_RATE" -v d="$DAEMON_RATE" -v ok="$DAEMON_OK" \
        -v ticks=$((after - before)) -v tck="$TCK" -v rf="$TMP/ratios-$mix" -v cf="$TMP/cpu-$mix" -v df="$TMP/rates-$mix" 'BEGIN {
      ratio = (n > 0 ? d / n : 0); cpu = (ok > 0 ? ticks / tck * 1e6 / ok : 0)
      printf "  %-8s nginx %8.0f/s   daemon %8.0f/s (202)   ratio %6.3f (target >= 0.3)   daemon CPU %7.1f us/snapshot\n",
        mix, n, d, ratio, cpu
      print ratio >> rf; print cpu >> cf; print d >> df
    }'
    grep -E "Non-2xx|Socket errors" "$TMP/daemon-$mix.txt" | sed "s/^/         daemon $mix: /"
  done
  if [ "$ROUNDS" -gt 1 ]; then
    printf "  %-8s median of %d pairs: ratio %6.3f (target >= 0.3), daemon CPU %7.1f us/snapshot\n" "$mix" "$ROUNDS" \
      "$(median < "$TMP/ratios-$mix")" "$(median < "$TMP/cpu-$mix")"
  fi
  if [ -n "$FASTAPI_PORT" ]; then
    read -r FASTAPI_RATE _ < <(run_wrk fastapi "$FASTAPI_PORT" "$mix")
    # Against the daemon's median rate over the rounds (its only rate when ROUNDS=1).
    awk -v mix="$mix" -v f="$FASTAPI_RATE" -v d="$(median < "$TMP/rates-$mix")" 'BEGIN {
      printf "  %-8s FastAPI seed %6.0f/s   daemon/FastAPI %6.1f (target >= 100)\n", mix, f, (f > 0 ? d / f : 0)
    }'
    grep -E "Non-2xx|Socket errors" "$TMP/fastapi-$mix.txt" | sed "s/^/         fastapi $mix: /"
  fi
done
[ -z "$FASTAPI_PORT" ] && echo "  (FastAPI seed not measured: apt-get install python3-fastapi uvicorn)"
exit 0

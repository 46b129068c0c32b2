#!/usr/bin/env bash
# Two daemon binaries compared on the ingest load at the same time: each gets its own wrk
# (bench/ingest_wrk.lua, -t1, keep-alive) on its own port, both runs start together, and the
# figure is each daemon's CPU time per answered snapshot (utime+stime from /proc/PID/stat).
# On a shared host whose speed drifts by tens of percent from one minute to the next, two
# binaries measured one after the other differ by the drift; measured side by side they meet
# the same host. The rates are lower than alone (four busy processes on two cores) and are
# not the figure. Run it several times in both orders (A/B, then B/A) and compare the pairs.
# Never fails on a figure; exits non-zero only when something needed is missing.
#
# usage: bench/ingest_ab.sh BIN_A BIN_B [DURATION_S] [MIX] [GAMES]
#        (defaults: 8, walk, 64; MIX is repeat or walk). Extra daemon flags: A_ARGS, B_ARGS.
# Prints: "A <rate>/s <cpu> us   B <rate>/s <cpu> us".
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 2 ]; then
  echo "usage: bench/ingest_ab.sh BIN_A BIN_B [DURATION_S] [MIX] [GAMES]" >&2
  exit 2
fi
BIN_A=$1
BIN_B=$2
DURATION=${3:-8}
MIX=${4:-walk}
GAMES=${5:-64}
WRK=$(command -v wrk || echo /usr/bin/wrk)
for bin in "$WRK" "$BIN_A" "$BIN_B"; do
  [ -x "$bin" ] || { echo "ingest_ab: $bin not found or not executable" >&2; exit 1; }
done
command -v python3 > /dev/null || { echo "ingest_ab: python3 not found (free ports)" >&2; exit 1; }

TMP=$(mktemp -d)
PIDS=()  # the daemons and, while they run, the floods
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME BIN ARGS: a daemon with the simulated Letta on a free port; prints nothing.
start() {
  local name=$1 bin=$2 args=$3 port
  port=$(free_port)
  # shellcheck disable=SC2086 # ARGS are words
  "$bin" --config "$ROOT/etc/npc-orchestrator.yaml" --set "server.listen=127.0.0.1:$port" \
    --set letta.backend=simulated $args > "$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  echo "$!" > "$TMP/$name.pid"
  echo "$port" > "$TMP/$name.port"
  for _ in $(seq 100); do
    grep -q "listening on" "$TMP/$name.log" && return 0
    kill -0 "$(cat "$TMP/$name.pid")" 2>/dev/null || break  # exited
    sleep 0.1
  done
  echo "ingest_ab: daemon $name did not start:" >&2
  cat "$TMP/$name.log" >&2
  exit 1
}

flood() {  # flood NAME SECONDS OUT
  INGEST_MIX=$MIX INGEST_GAMES=$GAMES "$WRK" -t1 -c32 -d"$2"s --timeout 10s -s "$ROOT/bench/ingest_wrk.lua" \
    "http://127.0.0.1:$(cat "$TMP/$1.port")" > "$3" 2>&1
}
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$(cat "$TMP/$1.pid")/stat" 2>/dev/null || {
    echo "ingest_ab: daemon $1 is gone:" >&2
    tail -5 "$TMP/$1.log" >&2
    exit 1
  }
}

start A "$BIN_A" "${A_ARGS:-}"
start B "$BIN_B" "${B_ARGS:-}"
both() {  # both SECONDS OUT_A OUT_B: the two floods at once (waits for them, not the daemons)
  flood A "$1" "$2" &
  local a=$!
  flood B "$1" "$3" &
  local b=$!
  PIDS+=("$a" "$b")
  wait "$a" "$b"
  sleep 1  # snapshots are answered before they are applied: let the queued ones finish
}
both 2 /dev/null /dev/null  # warm-up: pools, buffers, games
before_a=$(cpu_ticks A)
before_b=$(cpu_ticks B)
both "$DURATION" "$TMP/A.wrk" "$TMP/B.wrk"
after_a=$(cpu_ticks A)
after_b=$(cpu_ticks B)
hz=$(getconf CLK_TCK)
for name in A B; do
  if [ "$name" = A ]; then ticks=$((after_a - before_a)); else ticks=$((after_b - before_b)); fi
  awk -v n="$name" -v d="$DURATION" -v t="$ticks" -v hz="$hz" '
    /requests in/ {total = $1} /Non-2xx/ {bad = $NF}
    END {ok = total - bad; if (ok <= 0) {printf "%s no answers   ", n; exit}
         printf "%s %7.0f/s %6.1f us   ", n, ok / d, t / hz * 1e6 / ok}' "$TMP/$name.wrk"
done
echo

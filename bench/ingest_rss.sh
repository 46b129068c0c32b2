#!/usr/bin/env bash
# Memory under walking load (DESIGN 9: RSS < 100 MB with 10 000 NPCs). Starts the daemon,
# posts walking snapshots (bench/ingest_wrk.lua, 50 NPCs + 50 players per game) for GAMES
# games for DURATION seconds, and prints the daemon's RSS before and after, the entities
# tracked and the RSS growth per entity. Never fails on a figure.
#
# usage: bench/ingest_rss.sh [BUILD_DIR] [GAMES] [DURATION_S]   (defaults: build, 200, 20)
#        DAEMON_ARGS="--set events.replay_bytes=65536" adds daemon options.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
GAMES=${2:-200}
DURATION=${3:-20}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
DAEMON="$BUILD/npc-orchestratord"
WRK=$(command -v wrk || echo /usr/bin/wrk)
for bin in "$WRK" "$DAEMON"; do
  [ -x "$bin" ] || { echo "ingest_rss: $bin not found" >&2; exit 1; }
done
TMP=$(mktemp -d)
DAEMON_PID=""
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$((20000 + RANDOM % 40000))
"$DAEMON" --config "$ROOT/etc/npc-orchestrator.yaml" --set "server.listen=127.0.0.1:$PORT" \
  --set letta.backend=simulated ${DAEMON_ARGS:-} > "$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 150); do
  grep -q "listening on" "$TMP/daemon.log" && break
  sleep 0.1
done
grep -q "listening on" "$TMP/daemon.log" || { cat "$TMP/daemon.log" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
before=$(rss_kb)
INGEST_MIX=walk INGEST_GAMES=$GAMES "$WRK" -t1 -c32 -d"${DURATION}s" --timeout 10s \
  -s "$ROOT/bench/ingest_wrk.lua" "http://127.0.0.1:$PORT" > "$TMP/wrk.txt" 2>&1
after=$(rss_kb)
requests=$(awk '/requests in/ { print $1 }' "$TMP/wrk.txt")
entities=$((GAMES * 100))
npcs=$((GAMES * 50))
echo "ingest RSS: $GAMES games x (50 NPCs + 50 players), walking, wrk -t1 -c32 for $DURATION s ($requests snapshots)"
awk -v b="$before" -v a="$after" -v e="$entities" -v n="$npcs" 'BEGIN {
  printf "  RSS idle %.1f MB, after %.1f MB (%d NPCs, %d entities): %.0f bytes per entity (growth / entities)\n",
    b / 1024, a / 1024, n, e, (a - b) * 1024 / e
}'
grep -E "Non-2xx|Socket errors" "$TMP/wrk.txt" | sed 's/^/  /'
exit 0

#!/usr/bin/env bash
# Memory under walking load (DESIGN 9: RSS < 100 MB with 10 000 NPCs). Starts the daemon,
# posts walking snapshots (bench/ingest_wrk.lua, 50 NPCs + 50 players per game) for GAMES
# games for DURATION seconds, and prints the daemon's RSS and live heap (mallinfo2, the
# npcorch_heap_in_use_bytes gauge: what is allocated, without malloc's free pages) before and
# after, the entities tracked and the growth per entity. Never fails on a figure.
#
# usage: bench/ingest_rss.sh [BUILD_DIR] [GAMES] [DURATION_S]   (defaults: build, 200, 20)
#        DAEMON_ARGS="--set events.replay_bytes=65536" adds daemon options.
#        INGEST_NPCS=N: N NPCs per game instead of 50 (the 50 players stay); bench/npc_bytes.sh
#        runs this twice and prints the marginal bytes of one NPC.
#        AGENTS=all: every NPC has a Letta agent (a registry made for the run), not only the
#        12 of etc/world.yaml, so each one also has its memory-sync lane.
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

NPCS=${INGEST_NPCS:-50}
REGISTRY=()
if [ "${AGENTS:-}" = all ]; then
  # etc/world.yaml's NPCs, then Villager13.. with agents of their own, as many as the run has.
  sed -n '/^locations:/q; p' "$ROOT/etc/world.yaml" > "$TMP/world.yaml"
  for i in $(seq 13 "$NPCS"); do
    printf '  - {id: npc-villager%02d, display_name: Villager%02d, description: "A villager who keeps to the square, number %02d of the bench", agent_id: agent-00000000-0000-4000-8000-0000000000%02d}\n' \
      "$i" "$i" "$i" "$i" >> "$TMP/world.yaml"
  done
  sed -n '/^locations:/,$p' "$ROOT/etc/world.yaml" >> "$TMP/world.yaml"
  REGISTRY=(--set "world.registry_file=$TMP/world.yaml")
fi

PORT=$((20000 + RANDOM % 40000))
"$DAEMON" --config "$ROOT/etc/npc-orchestrator.yaml" --set "server.listen=127.0.0.1:$PORT" \
  --set letta.backend=simulated --set memory.stats_interval_ms=100 "${REGISTRY[@]}" ${DAEMON_ARGS:-} \
  > "$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 150); do
  grep -q "listening on" "$TMP/daemon.log" && break
  sleep 0.1
done
grep -q "listening on" "$TMP/daemon.log" || { cat "$TMP/daemon.log" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
# The gauge is sampled every 100 ms: wait for a sample taken after the load.
heap_bytes() {
  sleep 0.3
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^npcorch_heap_in_use_bytes / { printf "%d", $2 }'
}
free_bytes() {  # what malloc keeps free in its arenas (read after heap_bytes' wait)
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^npcorch_heap_free_bytes / { printf "%d", $2 }'
}
before=$(rss_kb)
heap_before=$(heap_bytes)
INGEST_NPCS=$NPCS INGEST_MIX=walk INGEST_GAMES=$GAMES "$WRK" -t1 -c32 -d"${DURATION}s" --timeout 10s \
  -s "$ROOT/bench/ingest_wrk.lua" "http://127.0.0.1:$PORT" > "$TMP/wrk.txt" 2>&1
after=$(rss_kb)
heap_after=$(heap_bytes)
free_after=$(free_bytes)
requests=$(awk '/requests in/ { print $1 }' "$TMP/wrk.txt")
entities=$((GAMES * (NPCS + 50)))
npcs=$((GAMES * NPCS))
echo "ingest RSS: $GAMES games x ($NPCS NPCs + 50 players), walking, wrk -t1 -c32 for $DURATION s ($requests snapshots)${AGENTS:+, agents: $AGENTS}"
awk -v b="$before" -v a="$after" -v e="$entities" -v n="$npcs" 'BEGIN {
  printf "  RSS idle %.1f MB, after %.1f MB (%d NPCs, %d entities): %.0f bytes per entity (growth / entities)\n",
    b / 1024, a / 1024, n, e, (a - b) * 1024 / e
}'
awk -v b="$heap_before" -v a="$heap_after" -v e="$entities" -v f="$free_after" 'BEGIN {
  printf "  live heap idle %.1f MB, after %.1f MB: %.0f bytes per entity (malloc keeps %.1f MB free)\n",
    b / 1048576, a / 1048576, (a - b) / e, f / 1048576
}'
# How far the memory syncs got (each lane keeps what its blocks hold once synced).
curl -s "http://127.0.0.1:$PORT/metrics" | awk '
  /^npcorch_letta_block_writes_total / { w = $2 }
  /^npcorch_block_writes_skipped_total / { s = $2 }
  END { printf "  memory syncs: %d block writes, %d skipped as unchanged\n", w, s }'
# One line for bench/npc_bytes.sh.
echo "  figures: npcs=$npcs entities=$entities rss_kb=$after heap_bytes=$heap_after"
grep -E "Non-2xx|Socket errors" "$TMP/wrk.txt" | sed 's/^/  /'
exit 0

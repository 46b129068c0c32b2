#!/usr/bin/env bash
# The memory one NPC costs (DESIGN 9: per-NPC state < 2 KB), as a marginal figure: two
# bench/ingest_rss.sh runs that differ only in the NPCs per game (HIGH and LOW, the 50 players
# and everything else the same), and the difference of the daemon's live heap (mallinfo2) and
# RSS after the load, divided by the NPCs added. What an NPC makes the daemon keep is in it
# (its entity, group cache, world-view entries, memory-sync lane, its share of the events it
# adds to the replay buffers, its share of the pooled parsed snapshots); what a game or a player
# costs is not. Containers that grow by doubling make it step: compare runs of the same HIGH
# and LOW, and the totals each run prints. Never fails on a figure.
#
# usage: bench/npc_bytes.sh [BUILD_DIR] [GAMES] [DURATION_S]   (defaults: build, 200, 20)
#        HIGH=50 LOW=25 (multiples of 5); AGENTS=all gives every NPC a Letta agent.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
GAMES=${2:-200}
DURATION=${3:-20}
HIGH=${HIGH:-50}
LOW=${LOW:-25}
# Prints the run's report on stderr and its figures (npcs entities rss_kb heap_bytes) on stdout.
run() {
  local out
  out=$(INGEST_NPCS=$1 "$ROOT/bench/ingest_rss.sh" "$BUILD" "$GAMES" "$DURATION")
  echo "$out" >&2
  echo "$out" | awk '/figures:/ { for (i = 2; i <= NF; ++i) { split($i, kv, "="); printf "%s ", kv[2] } }'
}
read -r hn _ hrss hheap <<< "$(run "$HIGH")"
read -r ln _ lrss lheap <<< "$(run "$LOW")"
echo "per NPC ($GAMES games, $LOW -> $HIGH NPCs per game + 50 players, walking${AGENTS:+, agents: $AGENTS}):"
awk -v hn="$hn" -v ln="$ln" -v hh="$hheap" -v lh="$lheap" -v hr="$hrss" -v lr="$lrss" 'BEGIN {
  n = hn - ln
  printf "  live heap %.0f bytes per NPC, RSS %.0f bytes per NPC (differences over %d NPCs)\n",
    (hh - lh) / n, (hr - lr) * 1024 / n, n
}'

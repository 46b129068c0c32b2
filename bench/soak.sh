#!/usr/bin/env bash
# Soak: floods the daemon (simulated Letta) for MINUTES (default 10) with npc-flood — walking
# game servers (servers-20), a chat storm and a malformed share, all at once, 55 s of every
# minute, each on games of its own (soak-servers-20-N, soak-chat-storm-N, soak-malformed-N: two
# floods posting snapshots of one game would replace each other's world, and whether the chat
# storm's speakers were in it would depend on the two timers' phase) — and prints once a minute, 5 s after that minute's flood: the daemon's RSS, malloc's
# live heap (npcorch_heap_in_use_bytes) and the free memory it keeps (npcorch_heap_free_bytes),
# npcorch_games, the replay buffers' bytes, active conversations, queued messages and the
# 1-minute load average. Memory is bounded when RSS stays flat (the README quotes a 10-minute
# run). Minute 0 is the idle daemon before any flood; the summary gives the RSS spread from
# minute 1 (the first flood's peak included) and after a warm-up of SOAK_WARMUP minutes
# (default 1), each labelled. SOAK_METRICS_DIR=DIR keeps each minute's /metrics as DIR/minute-N.txt.
# Extra daemon options: SOAK_SET="a.b=v c.d=w". Uses BUILD_DIR
# (default build/), which must hold npc-orchestratord and npc-flood.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
build=${BUILD_DIR:-build}
for b in npc-orchestratord npc-flood; do
  [ -x "$build/$b" ] || { echo "soak.sh: $build/$b missing (scripts/build.sh first)" >&2; exit 2; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$build"/npc-orchestratord --config etc/npc-orchestrator.yaml --set server.listen=127.0.0.1:0 \
  --set letta.backend=simulated --set letta.simulated.latency_ms=50 \
  $(for kv in ${SOAK_SET:-}; do printf -- '--set %s ' "$kv"; done) >"$work/daemon.out" 2>&1 &
daemon=$!
pids+=($daemon)
for _ in $(seq 300); do grep -qs '^listening on ' "$work/daemon.out" && break; sleep 0.1; done
addr=$(grep -m1 '^listening on ' "$work/daemon.out" | sed 's/^listening on //')
[ -n "$addr" ] || { echo "daemon did not start" >&2; cat "$work/daemon.out" >&2; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status"; }
# Sum of a metric's samples (all label sets), or empty when absent.
metric() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $2; f = 1} END {if (f) printf "%d", s}' "$work/metrics"; }
mb() { [ -n "$1" ] && awk -v v="$1" 'BEGIN {printf "%.1f", v / 1048576}' || echo "?"; }
sample() {
  curl -s "http://$addr/metrics" >"$work/metrics" || true
  local r games replay
  r=$(rss)
  games=$(metric npcorch_games)
  replay=$(metric npcorch_events_replay_bytes)
  printf '%s %s %s %s %s %s %s %s %s\n' "$1" "$(awk -v v="$r" 'BEGIN {printf "%.1f", v / 1024}')" \
    "$(mb "$(metric npcorch_heap_in_use_bytes)")" "$(mb "$(metric npcorch_heap_free_bytes)")" "${games:-?}" \
    "$(( ${replay:-0} / 1024 ))" "$(metric npcorch_conversations_active)" "$(metric npcorch_queue_depth)" \
    "$(cut -d' ' -f1 /proc/loadavg)"
  echo "$r" >>"$work/rss"
  if [ -n "${SOAK_METRICS_DIR:-}" ]; then mkdir -p "$SOAK_METRICS_DIR" && cp "$work/metrics" "$SOAK_METRICS_DIR/minute-$1.txt"; fi
}
echo "minute rss_mb heap_in_use_mb heap_free_mb games replay_kb conversations queued load1"
sample 0
for m in $(seq "$minutes"); do
  flood=()
  for sc in servers-20 chat-storm malformed; do
    "$build"/npc-flood --target "http://$addr" --scenario "etc/scenarios/$sc.yaml" --duration 55 \
      --game-prefix "soak-$sc-" >"$work/flood-$sc-$m.out" 2>&1 &
    flood+=($!)
  done
  wait "${flood[@]}" || true
  sleep $((60 - 55))
  kill -0 "$daemon" || { echo "the daemon died" >&2; exit 1; }
  sample "$m"
done
# RSS spread over minutes [from, MINUTES]: (max - min) / min.
spread() {
  awk -v from="$1" 'NR - 1 >= from {v = $1; if (min == "" || v < min) min = v; if (v > max) max = v}
    END {if (min == "") print "n/a"; else printf "min %.1f MB, max %.1f MB, spread %.1f %%", min / 1024, max / 1024, (max - min) * 100 / min}' "$work/rss"
}
warm=${SOAK_WARMUP:-1}
echo "rss over the whole flood (minutes 1-$minutes): $(spread 1)"
[ "$warm" -ge 1 ] && [ "$warm" -lt "$minutes" ] &&
  echo "rss after a ${warm}-minute warm-up (minutes $((warm + 1))-$minutes): $(spread $((warm + 1)))"
exit 0

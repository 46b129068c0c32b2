#!/usr/bin/env bash
# Soak: floods the daemon (simulated Letta) for MINUTES (default 10) with npc-flood — walking
# game servers (servers-20), a chat storm and a malformed share, all at once, 55 s of every
# minute — and prints the daemon's RSS, npcorch_games and the replay buffers' bytes
# (npcorch_events_replay_bytes) once a minute. Extra daemon options: SOAK_SET="a.b=v c.d=w". Memory is bounded
# when RSS stays flat (the README quotes a 10-minute run). Uses BUILD_DIR (default build/),
# which must hold npc-orchestratord and npc-flood.
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
for _ in $(seq 300); do grep -q '^listening on ' "$work/daemon.out" && break; sleep 0.1; done
addr=$(grep -m1 '^listening on ' "$work/daemon.out" | sed 's/^listening on //')
[ -n "$addr" ] || { echo "daemon did not start" >&2; cat "$work/daemon.out" >&2; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status"; }
metric() { curl -s "http://$addr/metrics" | awk -v n="$1" '$1 == n {printf "%d", $2}'; }
echo "minute rss_kb games replay_kb"
echo "0 $(rss) - -"
first=$(rss)
max=$first
for m in $(seq "$minutes"); do
  flood=()
  for sc in servers-20 chat-storm malformed; do
    "$build"/npc-flood --target "http://$addr" --scenario "etc/scenarios/$sc.yaml" --duration 55 \
      >"$work/flood-$sc-$m.out" 2>&1 &
    flood+=($!)
  done
  wait "${flood[@]}" || true
  sleep $((60 - 55))
  r=$(rss)
  [ "$r" -gt "$max" ] && max=$r
  games=$(metric npcorch_games)
  replay=$(metric npcorch_events_replay_bytes)
  echo "$m $r ${games:-?} $(( ${replay:-0} / 1024 ))"
done
kill -0 "$daemon" || { echo "the daemon died" >&2; exit 1; }
echo "rss first ${first} kB, max ${max} kB"

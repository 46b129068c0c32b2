#!/usr/bin/env bash
# The README's main command: installs, builds, starts the daemon with the simulated Letta (or,
# with --fake-letta, fake-letta over real HTTP), floods it with etc/scenarios/town-50.yaml for
# DURATION seconds (default 30), prints npc-flood's report and stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
use_fake=0
scenario=etc/scenarios/town-50.yaml
for a in "$@"; do
  case "$a" in
    --fake-letta) use_fake=1 ;;
    *.yaml) scenario=$a ;;
    *) echo "usage: scripts/demo.sh [--fake-letta] [scenario.yaml]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh
build=${BUILD_DIR:-build}
BUILD_DIR=$build scripts/build.sh
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_line() {  # file, prefix -> prints the rest of the line once it appears (30 s at most)
  for _ in $(seq 300); do
    l=$(grep -m1 "^$2" "$1" 2>/dev/null || true)
    [ -n "$l" ] && { echo "${l#"$2"}"; return 0; }
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

letta_sets=(--set letta.backend=simulated)
if [ $use_fake = 1 ]; then
  "$build"/fake-letta --listen 127.0.0.1:0 --world etc/world.yaml --latency-ms 300 >"$work/fake.out" 2>&1 &
  pids+=($!)
  fake_addr=$(wait_line "$work/fake.out" "listening on ")
  letta_sets=(--set letta.backend=http --set "letta.base_url=http://$fake_addr")
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
"$build"/npc-orchestratord --config etc/npc-orchestrator.yaml --set "server.listen=127.0.0.1:$port" \
  "${letta_sets[@]}" >"$work/daemon.out" 2>"$work/daemon.err" &
daemon=$!
pids+=($daemon)
addr=$(wait_line "$work/daemon.out" "listening on ")
echo "npc-orchestratord listening on $addr ($( [ $use_fake = 1 ] && echo "fake-letta over HTTP" || echo "simulated Letta"))"
fixture=../shared/fixtures/original/sample_snapshot.json
if [ -f "$fixture" ]; then
  echo "the original game's fixture, POSTed as is:"
  curl -s -XPOST -H 'Content-Type: application/json' --data-binary @"$fixture" "http://$addr/letta/v1/snapshot/game" && echo
fi
"$build"/npc-flood --target "http://$addr" --scenario "$scenario" --duration "${DURATION:-30}"
kill -TERM $daemon
wait $daemon && echo "daemon stopped cleanly (exit 0)"

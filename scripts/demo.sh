#!/usr/bin/env bash
# The README's main command: installs, builds, starts the daemon with the simulated Letta (or,
# with --fake-letta, fake-letta over real HTTP), floods it with a scenario for DURATION seconds
# (default 30), prints npc-flood's report ending with a short transcript of real exchanges of
# the run, and stops everything cleanly.
#
# Scenario: etc/scenarios/town-50.yaml by default (DESIGN 7); `--scenario town-12` is DESIGN 9's
# reply-latency town (12 registry NPCs, each addressed every 8 s, Letta 500 ms / 20 ms);
# --scenario NAME picks etc/scenarios/NAME.yaml, --scenario PATH (or a bare *.yaml argument)
# any file. The
# scenario's daemon_settings (npc-flood --daemon-settings) become --set flags; a key this
# daemon does not know (npc-orchestratord --check-config rejects it) is skipped with a note.
# --two-daemons: redis-server, two daemons and nginx in front, fake-letta behind
# (scripts/demo-two-daemons.sh; README "Running more than one daemon").
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: scripts/demo.sh [--fake-letta] [--two-daemons] [--scenario NAME|FILE.yaml] [FILE.yaml]" >&2; exit 2; }
use_fake=0
two=0
scenario=etc/scenarios/town-50.yaml
while [ $# -gt 0 ]; do
  case "$1" in
    --fake-letta) use_fake=1 ;;
    --two-daemons) two=1 ;;
    --scenario) [ $# -ge 2 ] || usage; scenario=$2; shift ;;
    --scenario=*) scenario=${1#--scenario=} ;;
    *.yaml) scenario=$1 ;;
    *) usage ;;
  esac
  shift
done
case "$scenario" in
  */*|*.yaml) ;;
  *) scenario=etc/scenarios/$scenario.yaml ;;
esac
[ -f "$scenario" ] || { echo "demo.sh: no scenario $scenario (see etc/scenarios/)" >&2; exit 2; }
scripts/install-deps.sh
build=${BUILD_DIR:-build}
BUILD_DIR=$build scripts/build.sh
if [ $two = 1 ]; then
  [ "$scenario" = etc/scenarios/town-50.yaml ] && scenario=etc/scenarios/servers-20.yaml
  SCENARIO=$scenario BUILD_DIR=$build exec scripts/demo-two-daemons.sh
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. scripts/lib.sh  # free_port, wait_line

config=etc/npc-orchestrator.yaml
letta_sets=(--set letta.backend=simulated)
if [ $use_fake = 1 ]; then
  "$build"/fake-letta --listen 127.0.0.1:0 --world etc/world.yaml --latency-ms 300 >"$work/fake.out" 2>&1 &
  pids+=($!)
  fake_addr=$(wait_line "$work/fake.out" "listening on ")
  letta_sets=(--set letta.backend=http --set "letta.base_url=http://$fake_addr")
fi
# The scenario's daemon settings, each checked against this daemon first.
scenario_sets=()
while IFS= read -r kv; do
  [ -n "$kv" ] || continue
  case "$kv" in letta.backend=*) continue ;; letta.simulated.*) [ $use_fake = 1 ] && continue ;; esac  # demo.sh picks the backend
  # Checked together with the keys taken so far (a route may name a queue set just before).
  if "$build"/npc-orchestratord --config "$config" --check-config ${scenario_sets[@]+"${scenario_sets[@]}"} --set "$kv" >/dev/null 2>&1; then
    scenario_sets+=(--set "$kv")
  else
    echo "demo.sh: this daemon does not take --set $kv (skipped)"
  fi
done < <("$build"/npc-flood --scenario "$scenario" --daemon-settings)

port=$(free_port 2>/dev/null || echo 18080)
"$build"/npc-orchestratord --config "$config" --set "server.listen=127.0.0.1:$port" \
  "${letta_sets[@]}" ${scenario_sets[@]+"${scenario_sets[@]}"} >"$work/daemon.out" 2>"$work/daemon.err" &
daemon=$!
pids+=($daemon)
addr=$(wait_line "$work/daemon.out" "listening on ")
echo "npc-orchestratord listening on $addr ($( [ $use_fake = 1 ] && echo "fake-letta over HTTP" || echo "simulated Letta"))${scenario_sets[*]:+ with ${scenario_sets[*]}}"
fixture=../shared/fixtures/original/sample_snapshot.json
if [ -f "$fixture" ]; then
  echo "the original game's fixture, POSTed as is:"
  curl -s -XPOST -H 'Content-Type: application/json' --data-binary @"$fixture" "http://$addr/letta/v1/snapshot/game" && echo
fi
"$build"/npc-flood --target "http://$addr" --scenario "$scenario" --duration "${DURATION:-30}" \
  --transcript "${TRANSCRIPT:-5}"
kill -TERM $daemon
wait $daemon && echo "daemon stopped cleanly (exit 0)"

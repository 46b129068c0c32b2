#!/usr/bin/env bash
# scripts/demo.sh --two-daemons: more than one daemon (DESIGN 10) on loopback. Starts
# redis-server, fake-letta, two daemons sharing that Redis and nginx with the shipped
# etc/nginx/npc-orchestrator.conf (ports replaced) in a temporary folder, floods nginx with a
# scenario (X-Game-Id on every request), then prints npc-flood's report, how many games each
# daemon owns (npcorch_games) and the rate Letta saw (fake-letta's counters), and stops all.
# Env: DURATION (default 20), SCENARIO (default etc/scenarios/servers-20.yaml), RATE (the shared
# letta.rate.global_per_s and global_burst, default 5: below what the flood asks for, so the
# shared limit is what Letta sees), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
scenario=${SCENARIO:-etc/scenarios/servers-20.yaml}
rate=${RATE:-5}
duration=${DURATION:-20}
for b in /usr/bin/redis-server /usr/sbin/nginx; do
  [ -x "$b" ] || { echo "demo: $b missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
done
work=$(mktemp -d)
chmod 755 "$work"  # nginx workers run as nobody when started as root
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. scripts/lib.sh  # free_port, wait_line
metric() { curl -s "http://$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'; }

redis_port=$(free_port)
/usr/bin/redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  --loglevel warning >"$work/redis.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

"$build"/fake-letta --listen 127.0.0.1:0 --world etc/world.yaml --latency-ms 300 >"$work/fake.out" 2>&1 &
pids+=($!)
fake_addr=$(wait_line "$work/fake.out" "listening on ")

addrs=()
for i in 1 2; do
  p=$(free_port)
  "$build"/npc-orchestratord --config etc/npc-orchestrator.yaml --set "server.listen=127.0.0.1:$p" \
    --set letta.backend=http --set "letta.base_url=http://$fake_addr" \
    --set "redis.url=redis://127.0.0.1:$redis_port" --set "letta.rate.global_per_s=$rate" --set "letta.rate.global_burst=$rate" \
    >"$work/daemon$i.out" 2>"$work/daemon$i.err" &
  pids+=($!)
  addrs+=("$(wait_line "$work/daemon$i.out" "listening on ")")
done

nginx_port=$(free_port)
sed -e "s/127.0.0.1:8080/127.0.0.1:$nginx_port/" -e "s/127.0.0.1:8081/${addrs[0]}/" -e "s/127.0.0.1:8082/${addrs[1]}/" \
  etc/nginx/npc-orchestrator.conf >"$work/nginx.conf"
/usr/sbin/nginx -p "$work/" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$nginx_port/healthz" && break; sleep 0.1; done
echo "redis-server 127.0.0.1:$redis_port, fake-letta $fake_addr, daemons ${addrs[*]}, nginx 127.0.0.1:$nginx_port"
echo "shared letta.rate.global_per_s=$rate (burst $rate); redis up: $(metric "${addrs[0]}" npcorch_redis_up) $(metric "${addrs[1]}" npcorch_redis_up)"

before=$(curl -s "http://$fake_addr/_fake/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
start=$(date +%s.%N)
"$build"/npc-flood --target "http://127.0.0.1:$nginx_port" --scenario "$scenario" --duration "$duration" \
  --game-id-header --metrics-url "http://${addrs[0]}/metrics" --transcript "${TRANSCRIPT:-3}"
end=$(date +%s.%N)
stats=$(curl -s "http://$fake_addr/_fake/stats")
echo
echo "games owned: daemon 1 (${addrs[0]}) $(metric "${addrs[0]}" npcorch_games), daemon 2 (${addrs[1]}) $(metric "${addrs[1]}" npcorch_games)"
python3 - "$before" "$start" "$end" "$rate" <<PY
import json, sys
s = json.loads('''$stats''')
before, start, end, rate = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
n = s["total"] - before
print(f"Letta (fake-letta) saw {n:.0f} requests in {end - start:.1f} s: {n / (end - start):.1f}/s "
      f"(shared limit {rate:g}/s); at most {s['max_per_1s']} in any 1 s; {s['conversations']} conversations")
PY
granted=0
for a in "${addrs[@]}"; do
  granted=$(python3 -c "print(int($granted + float('$(metric "$a" 'npcorch_redis_rate_asks_total{result="allowed"}')')))")
done
python3 -c "print(f'Redis granted {$granted} tokens of the shared limit to both daemons: {$granted / ($end - $start):.1f}/s' +
  ' (asked before each call; a call\'s extra requests are charged after it)')"
for i in 1 2; do
  echo "daemon $i: rate-limited waits $(metric "${addrs[$((i-1))]}" npcorch_letta_rate_limited_waits_total)," \
    "shared-limit answers $(metric "${addrs[$((i-1))]}" 'npcorch_redis_rate_asks_total{result="allowed"}')"
done

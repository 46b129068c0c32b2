# Shell helpers shared by the scripts that start servers on loopback (sourced, not run).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_line FILE PREFIX: prints the rest of the first line of FILE that starts with PREFIX once
# it appears (30 s at most; otherwise prints FILE to stderr and fails).
wait_line() {
  for _ in $(seq 300); do
    l=$(grep -m1 "^$2" "$1" 2>/dev/null || true)
    [ -n "$l" ] && { echo "${l#"$2"}"; return 0; }
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

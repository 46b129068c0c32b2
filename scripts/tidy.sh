#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy: naming and the checks STYLE.md names) over the given folders
# (default: policies queues), using build/compile_commands.json. Prints the findings and
# exits 1 when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/compile_commands.json ] || BUILD_DIR=build scripts/build.sh
dirs=("$@"); [ ${#dirs[@]} -gt 0 ] || dirs=(policies queues)
out=$(clang-tidy -p build --quiet $(git ls-files "${dirs[@]/%//*.cpp}") 2>/dev/null | grep -E "warning:|error:" || true)
[ -z "$out" ] && { echo "tidy: clean (${dirs[*]})"; exit 0; }
echo "$out"; exit 1

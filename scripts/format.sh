#!/usr/bin/env bash
# Formats the project's own C++ with .clang-format (clang-format from Debian 12).
# --check: changes nothing, lists the files that differ and exits 1 when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || scripts/install-deps.sh
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find daemon queues workers policies common tools bench tests -name '*.[ch]pp')
if [ "${1:-}" = --check ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then echo "format differs: $f (run scripts/format.sh)"; bad=1; fi
  done
  [ $bad = 0 ] && echo "format: ${#files[@]} files match .clang-format"
  exit $bad
fi
clang-format --style=file -i "${files[@]}"

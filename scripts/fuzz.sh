#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of tests/fuzz/ with clang, ASan and UBSan into
# build-fuzz/ (BUILD_DIR to change), then runs each for SECONDS (default 30) on a copy of its
# seed corpus tests/fuzz/corpus/<target>/. Prints one line per target with its run count;
# exits non-zero when a target crashes (the crashing input is left in build-fuzz/crashes/ —
# add it to the target's corpus once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${BUILD_DIR:-build-fuzz}
WITH_FUZZ=1 scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DORCH_FUZZ=ON \
  -DORCH_SANITIZE='address;undefined' \
  -DCMAKE_CXX_FLAGS="-DBOOST_ASIO_HAS_CO_AWAIT=1 -DBOOST_ASIO_HAS_STD_COROUTINE=1 -fsanitize-ignorelist=$PWD/tests/fuzz/ubsan_ignorelist.txt" ${CMAKE_EXTRA:-} >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target fuzz_all >/dev/null
mkdir -p "$build/crashes"
failed=0
for src in tests/fuzz/*_fuzz.cpp; do
  name=$(basename "$src" .cpp)
  work="$build/corpus/$name"
  mkdir -p "$work"
  [ -d "tests/fuzz/corpus/$name" ] && cp -n "tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null || true
  log="$build/$name.log"
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/$name" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$build/crashes/$name-" -print_final_stats=1 "$work" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  if [ $rc -eq 0 ]; then
    printf '%-22s ok     %10s runs in %ss\n' "$name" "${runs:-0}" "$seconds"
  else
    printf '%-22s CRASH  %10s runs (exit %d; see %s)\n' "$name" "${runs:-0}" "$rc" "$log"
    failed=1
  fi
done
exit $failed

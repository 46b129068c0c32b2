#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the whole suite via ctest.
# SANITIZE=1      also builds build-asan/ with AddressSanitizer+UndefinedBehaviorSanitizer and
#                 runs the suite there too.
# SANITIZE=thread builds build-tsan/ with ThreadSanitizer and runs the whole suite there
#                 (instead of the plain build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "${SANITIZE:-0}" = thread ]; then
  BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo scripts/build.sh -DORCH_SANITIZE=thread ${CMAKE_EXTRA:-}
  # halt_on_error: a race fails its test case; second_deadlock_stack: both stacks in reports.
  (cd build-tsan && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0" \
     ctest --output-on-failure -j2 --timeout 600)
  exit 0
fi
BUILD_DIR=build scripts/build.sh ${CMAKE_EXTRA:-}
(cd build && ctest --output-on-failure -j2 --timeout 300)
if [ "${SANITIZE:-0}" = 1 ]; then
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DORCH_SANITIZE='address;undefined' ${CMAKE_EXTRA:-}
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j2 --timeout 600)
fi

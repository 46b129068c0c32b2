#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the whole suite via ctest.
# With SANITIZE=1 it also builds build-asan/ with AddressSanitizer+UndefinedBehaviorSanitizer
# and runs the suite there too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=build scripts/build.sh
(cd build && ctest --output-on-failure -j2 --timeout 300)
if [ "${SANITIZE:-0}" = 1 ]; then
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DORCH_SANITIZE='address;undefined'
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j2 --timeout 600)
fi

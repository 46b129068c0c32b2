#!/usr/bin/env bash
# Configures and builds into BUILD_DIR (default build/). Extra args go to cmake's configure,
# e.g. scripts/build.sh -DORCH_SANITIZE='address;undefined'. Incremental on re-runs.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j"${JOBS:-2}"

#!/usr/bin/env bash
# Configures and builds into BUILD_DIR (default build/). Extra args go to cmake's configure,
# e.g. scripts/build.sh -DORCH_SANITIZE='address;undefined'. Incremental on re-runs; with
# ccache (installed by install-deps.sh) object files are shared between build trees and clones.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  # Paths relative to the repository root, so that another clone hits the same cache entries.
  export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
  export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "${launcher[@]}" "$@" >/dev/null
cmake --build "$build" -j"${JOBS:-2}"

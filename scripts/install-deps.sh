#!/usr/bin/env bash
# Installs what building, testing and the demo need, from Debian 12's packages only.
set -euo pipefail
pkgs=(g++ cmake make pkg-config libboost-dev libboost-system-dev libconcurrentqueue-dev
      rapidjson-dev libsimdjson-dev libyaml-cpp-dev doctest-dev libsystemd-dev libcli11-dev libbenchmark-dev curl clang-format ccache
      libhiredis-dev redis-server nginx-light)
# redis-server and nginx-light: more than one daemon (DESIGN 10; the two-daemon test and
# scripts/demo.sh --two-daemons run them on loopback). Installing redis-server also starts
# Debian's own instance on 6379; the tests and the demo start their own on free ports.
[ "${WITH_BENCH:-0}" = 1 ] && pkgs+=(wrk python3-fastapi uvicorn)  # FastAPI: the seed design, bench only
# scripts/fuzz.sh: clang with libFuzzer (libclang-rt-14-dev holds libclang_rt.fuzzer).
[ "${WITH_FUZZ:-0}" = 1 ] && pkgs+=(clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

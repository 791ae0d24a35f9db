#!/usr/bin/env bash
# Configures and builds modelvet (CMake, Release) into build/. The binary is build/modelvet.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
# ccache (from setup.sh) makes rebuilds and further build trees (sanitizers, fuzzing) cheap.
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${LAUNCHER[@]}" "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"

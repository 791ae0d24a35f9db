#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UBSan: configures build-asan with
# -DMODELVET_SANITIZE=ON (gcc, -O1 -g1, ccache), builds everything, and runs every ctest test
# (what CI runs, from scripts/test.sh). The supervisor and the test binaries run with leak
# checking; the harness, exec'd inside the jail, gets its own options from the jail
# (sandbox/jail.cpp: harness_env) and no RLIMIT_AS (sandbox/limits.h), which reports and
# `modelvet doctor` state. No process the threaded supervisor starts runs its code after a bare
# fork (process/helper_mode.h): gcc 12's ASan allocator has no fork handler.
#   scripts/sanitize.sh [--build-only] [--unit] [ctest args...]   BUILD_DIR (build-asan), JOBS (nproc)
#   --unit: only the modules' unit tests that start no jail (process, trace, prescan, policy,
#   harness): a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
build_only=0
unit=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1; shift ;;
    --unit) unit=1; shift ;;
    *) break ;;
  esac
done
UNIT_MODULES=(process trace prescan policy harness)
TARGETS=()
if [ "$unit" = 1 ]; then
  for m in "${UNIT_MODULES[@]}"; do TARGETS+=(--target "${m}_tests"); done
fi

LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
start=$(date +%s)
# -O1: sanitizer reports stay readable and the build stays within CI's budget; asserts are on.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DMODELVET_SANITIZE=ON "${LAUNCHER[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" "${TARGETS[@]}"
built=$(date +%s)
echo "sanitize.sh: ASan+UBSan build took $((built - start)) s"
[ "$build_only" = 1 ] && exit 0

# Every report is fatal and carries a stack. Leaks in the supervisor and the tests fail them;
# scripts/lsan.supp lists only what embedded CPython keeps by design.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:print_summary=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# The corpus sweep detonates every 6th sample (each harness is instrumented, several times slower).
export MODELVET_SWEEP_STRIDE=${MODELVET_SWEEP_STRIDE:-6}
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cd "$BUILD_DIR"
status=0
# Instrumented code runs several times slower: a test that missed one of its own deadlines gets
# one more try (ctest prints both); a test failing twice fails the run.
SELECT=()
if [ "$unit" = 1 ]; then SELECT=(-L "^($(IFS='|'; echo "${UNIT_MODULES[*]}"))\$"); fi
ctest --output-on-failure --timeout 1800 --repeat until-pass:2 "${SELECT[@]}" "$@" || status=$?
echo "sanitize.sh: ASan+UBSan suite took $(($(date +%s) - built)) s (exit $status)"
exit $status

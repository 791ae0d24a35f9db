#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UBSan: configures build-asan with
# -DMODELVET_SANITIZE=ON (gcc, -O1 -g1, ccache), builds everything, and runs every ctest test.
# The supervisor and the test binaries run with leak checking; the harness, exec'd inside the
# jail, gets its own options from the jail (sandbox/jail.cpp: harness_env) and no RLIMIT_AS
# (sandbox/limits.h), which reports and `modelvet doctor` state.
#   scripts/sanitize.sh [--build-only] [ctest args...]     BUILD_DIR (build-asan), JOBS (nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
build_only=0
if [ "${1:-}" = "--build-only" ]; then build_only=1; shift; fi

LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
start=$(date +%s)
# -O1: sanitizer reports stay readable and the build stays within CI's budget; asserts are on.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DMODELVET_SANITIZE=ON "${LAUNCHER[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
built=$(date +%s)
echo "sanitize.sh: ASan+UBSan build took $((built - start)) s"
[ "$build_only" = 1 ] && exit 0

# Every report is fatal and carries a stack. Leaks in the supervisor and the tests fail them;
# scripts/lsan.supp lists only what embedded CPython keeps by design.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:print_summary=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cd "$BUILD_DIR"
status=0
ctest --output-on-failure --timeout 1800 "$@" || status=$?
echo "sanitize.sh: ASan+UBSan suite took $(($(date +%s) - built)) s (exit $status)"
exit $status

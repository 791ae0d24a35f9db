#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, -fsanitize=fuzzer,address,undefined) in build-fuzz,
# writes their seed corpora (fuzz/seeds.py: regression corpus + hand-written inputs), runs each
# target for a bounded time, one at a time, and replays fuzz/regressions/.
#   scripts/fuzz.sh [--smoke] [--no-build] [TARGET...]
#   FUZZ_SECONDS   seconds per target (60; --smoke: 15)
#   FUZZ_BUILD_DIR build tree (build-fuzz)      CORPUS_DIR  regression corpus (build/corpus)
#   FUZZ_OUT       crashes, logs, grown corpora (FUZZ_BUILD_DIR/fuzz-out)
# Prints per target: executions, exec/s, coverage (cov, ft). Exits 1 on any crash, leak,
# timeout or out-of-memory input (kept in FUZZ_OUT/crashes/), 2 on a setup failure.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
build=1
targets=()
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $a" >&2; exit 2 ;;
    *) targets+=("$a") ;;
  esac
done
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
CORPUS_DIR=${CORPUS_DIR:-build/corpus}
OUT=${FUZZ_OUT:-$BUILD_DIR/fuzz-out}
SECONDS_PER=${FUZZ_SECONDS:-$([ "$smoke" = 1 ] && echo 15 || echo 60)}
JOBS=${JOBS:-$(nproc)}
PYTHON=${PYTHON:-/usr/bin/python3}

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 2; }
done

if [ "$build" = 1 ]; then
  LAUNCHER=()
  if command -v ccache >/dev/null; then
    LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  start=$(date +%s)
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DMODELVET_FUZZ=ON "${LAUNCHER[@]}" >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target fuzz_targets
  echo "fuzz.sh: fuzz targets built in $(($(date +%s) - start)) s"
fi

all_targets=(fuzz_pickle fuzz_zip fuzz_7z fuzz_tar fuzz_npy fuzz_hdf5 fuzz_sniff fuzz_prescan
             fuzz_policy fuzz_trace_event fuzz_trace_header fuzz_trace_file
             fuzz_manifest fuzz_hub_json fuzz_scanner_report fuzz_safetensors fuzz_gguf)
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

rm -rf "$OUT/seeds" "$OUT/logs"
mkdir -p "$OUT/seeds" "$OUT/logs" "$OUT/crashes" "$OUT/corpus"
"$PYTHON" fuzz/seeds.py --out "$OUT/seeds" --corpus "$CORPUS_DIR" --policy policies/default.json >/dev/null

# Every sanitizer report is fatal and has a stack; libFuzzer turns each into a saved input.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:allocator_may_return_null=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

max_len_of() {
  case "$1" in
    fuzz_policy|fuzz_trace_event|fuzz_trace_header|fuzz_hub_json|fuzz_manifest|fuzz_scanner_report) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

# The smoke (CI) starts every target from the same seed: a finding there is the same finding on
# a rerun, not luck of the draw; long runs explore from a fresh one each time.
SEED=()
[ "$smoke" = 1 ] && SEED=(-seed=1)
failed=()
printf '%-22s %12s %10s %8s %8s  %s\n' target executions exec/s cov ft result > "$OUT/summary.txt"
for t in "${targets[@]}"; do
  bin="$BUILD_DIR/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz.sh: $bin is not built" >&2; exit 2; }
  mkdir -p "$OUT/corpus/$t" "$OUT/seeds/$t"
  log="$OUT/logs/$t.log"
  echo "fuzz.sh: $t for ${SECONDS_PER}s"
  rc=0
  # The grown corpus comes first: new inputs are saved there and seed the next run.
  nice "$bin" "${SEED[@]}" -max_total_time="$SECONDS_PER" -max_len="$(max_len_of "$t")" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -timeout=25 -print_final_stats=1 -artifact_prefix="$OUT/crashes/$t-" \
    "$OUT/corpus/$t" "$OUT/seeds/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc, see $log)"
    failed+=("$t")
    grep -E '^(==[0-9]+==ERROR|SUMMARY:|.*runtime error:|artifact_prefix|Test unit written)' "$log" | head -5 >&2 || true
  fi
  printf '%-22s %12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result" | tee -a "$OUT/summary.txt"
done

# Past findings, each replayed once (fuzz/regressions/<target>/).
if ! ctest --test-dir "$BUILD_DIR" -R '^fuzz_regression_' --output-on-failure >"$OUT/logs/regressions.log" 2>&1; then
  echo "fuzz.sh: a fuzz regression failed again (see $OUT/logs/regressions.log)" >&2
  failed+=(regressions)
fi

echo
cat "$OUT/summary.txt"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs in $OUT/crashes/)" >&2
  exit 1
fi
echo "fuzz.sh: no findings (${#targets[@]} targets, ${SECONDS_PER}s each)"

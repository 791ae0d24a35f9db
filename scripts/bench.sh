#!/usr/bin/env bash
# Benchmarks (medians and ratios; the machines are shared and noisy, so never assert on time in
# unit tests). Run after ./scripts/build.sh, as root.
#   1. jail setup + teardown cost, as root and rootless (as nobody)
#   2. tracer overhead: a syscall-heavy load untraced, under modelvet's tracer, under strace -f
#   3. throughput: files/s scanning the regression corpus with --jobs 2, as root and rootless
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: run as root" >&2; exit 2; }
B=build

echo "== 1. jail setup and teardown"
"$B/tests/jail_bench" "${JAIL_RUNS:-50}"
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
echo -n "rootless: "
"${AS_NOBODY[@]}" "$B/tests/jail_bench" "${JAIL_RUNS:-50}"

echo "== 2. tracer overhead"
if [ -x "$B/tests/tracer_bench" ]; then
  "$B/tests/tracer_bench" "${TRACER_ROUNDS:-5}"
else
  echo "tracer_bench not built"
fi

echo "== 3. scan throughput on the regression corpus"
n=$(wc -l < "$B/corpus/manifest.jsonl")
for mode in root rootless; do
  run=("$B/modelvet")
  [ "$mode" = rootless ] && run=("${AS_NOBODY[@]}" "$B/modelvet")
  start=$(date +%s.%N)
  "${run[@]}" scan --quiet --format json --jobs 2 "$B/corpus" > /tmp/modelvet-bench-scan.json 2>/dev/null || true
  end=$(date +%s.%N)
  python3 -c "import sys; n=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print(f'{sys.argv[4]}: {n} files in {s:.1f} s: {n/s:.2f} files/s (--jobs 2)')" "$n" "$start" "$end" "$mode"
done

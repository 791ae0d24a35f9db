#!/usr/bin/env bash
# Benchmarks (medians and ratios; the machines are shared and noisy, so never assert on time in
# unit tests). Run after ./scripts/build.sh, as root.
#   1. jail setup + teardown cost, as root and rootless (as nobody)
#   2. tracer overhead: a syscall-heavy load untraced, under modelvet's tracer, under strace -f
#   3. throughput: files/s scanning the regression corpus with --jobs 2, as root and rootless
#   4. batch throughput side by side (benign files only): modelvet batch (jail + tracer) on 40
#      small torch checkpoints and 40 small pickles (exec'd jails, then jails forked from a zygote,
#      the default), with the median memory each jail added (its memory cgroup's peak),
#      the same torch files loaded naively (a fresh
#      python3 per file, no sandbox), the same under strace -f, and the static pre-scan alone
#   5. a Hub-sized checkpoint: one modelvet scan of a HUB_GIB (2) GiB torch.save'd state dict,
#      its wall time, what the report says was mapped or read, the harness's peak RSS and the
#      jail's peak memory (its v1 memory cgroup's max_usage_in_bytes, page cache included)
# ./scripts/bench.sh [batch|hub]   (that section only). BUILD_DIR (build), BENCH_FILES (40),
# BENCH_ROUNDS (1: rounds of each batch run; the per-file timings give the medians), HUB_GIB (2).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: run as root" >&2; exit 2; }
B=${BUILD_DIR:-build}
ONLY=${1:-all}

if [ "$ONLY" = all ]; then
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
fi

PY=/usr/bin/python3
if [ "$ONLY" = all ] || [ "$ONLY" = batch ]; then
echo "== 4. batch throughput, benign files (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
N=${BENCH_FILES:-40}
ROUNDS=${BENCH_ROUNDS:-1}
T=$(mktemp -d /tmp/modelvet-bench-batch-XXXXXX)
trap 'rm -rf "$T"' EXIT
# Benign files written by the real libraries: small state dicts (torch.save) and plain pickles.
$PY - "$T" "$N" <<'PYEOF'
import os, pickle, sys
import torch
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{d}/torch"); os.makedirs(f"{d}/pickle")
torch.manual_seed(0)
for i in range(n):
    m = torch.nn.Sequential(torch.nn.Linear(16, 8 + i % 5), torch.nn.ReLU(), torch.nn.Linear(8 + i % 5, 2))
    torch.save(m.state_dict(), f"{d}/torch/m{i:02d}.pt")
    with open(f"{d}/pickle/p{i:02d}.pkl", "wb") as f:
        pickle.dump({"name": f"model-{i}", "weights": [[float(j * i) for j in range(32)] for _ in range(8)],
                     "meta": {"epoch": i, "tags": ("bench", i)}}, f, protocol=4)
PYEOF
ls "$T"/torch/*.pt > "$T/torch.txt"
ls "$T"/pickle/*.pkl > "$T/pickle.txt"
declare -A RATE MEM
# modelvet batch, the default --jobs: files/s over the whole run (median of ROUNDS rounds).
# Extra arguments go to batch (--launch zygote: jails forked from a zygote, its default --jobs).
batch_rate() {
  local name=$1 list=$2 r rates=()
  shift 2
  for ((r = 0; r < ROUNDS; r++)); do
    local start end
    start=$(date +%s.%N)
    "$B/modelvet" batch --quiet "$@" --output "$T/out-$r.jsonl" "$list" 2>/dev/null || true
    end=$(date +%s.%N)
    local bad
    bad=$($PY -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; print(sum(r["verdict"]!="benign" for r in rows), len(rows))' "$T/out-$r.jsonl")
    [ "$bad" = "0 $N" ] || echo "  (warning: $list gave non-benign/total $bad)" >&2
    # Each jail's own memory (its memory cgroup's peak: pages it shares with a zygote are the zygote's).
    $PY -c 'import json,sys; [print(json.loads(l).get("memory", {}).get("jail_peak_bytes", 0)) for l in open(sys.argv[1])]' \
      "$T/out-$r.jsonl" >> "$T/mem-$name"
    rm -f "$T/out-$r.jsonl"
    rates+=("$($PY -c "print($N/($end-$start))")")
  done
  local rate mem
  rate=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  mem=$(sort -g "$T/mem-$name" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] / 1048576}')
  echo "$rate $mem"
}
# One fresh process per file, sequential: files/s = 1 / median seconds per file.
per_file_rate() {
  local s=() f
  for f in $(cat "$T/torch.txt"); do
    local start end
    start=$(date +%s.%N)
    "$@" "$f" >/dev/null 2>&1
    end=$(date +%s.%N)
    s+=("$($PY -c "print($end-$start)")")
  done
  printf '%s\n' "${s[@]}" | sort -g | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.3f %.3f\n", 1/m, m}'
}
naive_load() { $PY -c 'import sys, torch; torch.load(sys.argv[1])' "$1"; }
strace_load() { strace -f -o /dev/null $PY -c 'import sys, torch; torch.load(sys.argv[1])' "$1"; }
jobs=$($PY -c "import os; m=[int(l.split()[1])*1024 for l in open('/proc/meminfo') if l.startswith('MemAvailable:')][0]; c=os.cpu_count(); print(max(1,min(2*c, m//(768<<20), 256)))")
read -r RATE[batch_torch] MEM[batch_torch] < <(batch_rate batch_torch "$T/torch.txt" --launch exec)
read -r RATE[batch_pickle] MEM[batch_pickle] < <(batch_rate batch_pickle "$T/pickle.txt" --launch exec)
read -r RATE[zygote_torch] MEM[zygote_torch] < <(batch_rate zygote_torch "$T/torch.txt" --launch zygote)
read -r RATE[zygote_pickle] MEM[zygote_pickle] < <(batch_rate zygote_pickle "$T/pickle.txt" --launch zygote)
zjobs=$($PY -c "import os; m=[int(l.split()[1])*1024 for l in open('/proc/meminfo') if l.startswith('MemAvailable:')][0]; c=os.cpu_count(); print(max(1,min(16*c, m//(128<<20), 256)))")
read -r naive_rate naive_s < <(per_file_rate naive_load)
read -r strace_rate strace_s < <(per_file_rate strace_load)
RATE[prescan]=$("$B/tests/prescan_bench" 20 $(cat "$T/torch.txt") | awk '{print $1}')
RATE[prescan_pickle]=$("$B/tests/prescan_bench" 20 $(cat "$T/pickle.txt") | awk '{print $1}')
$PY - "$N" "$jobs" "$zjobs" "${RATE[batch_torch]}" "${RATE[batch_pickle]}" "${RATE[zygote_torch]}" "${RATE[zygote_pickle]}" "$naive_rate" "$naive_s" "$strace_rate" "$strace_s" "${RATE[prescan]}" "${RATE[prescan_pickle]}" \
  "${MEM[batch_torch]}" "${MEM[batch_pickle]}" "${MEM[zygote_torch]}" "${MEM[zygote_pickle]}" <<'PYEOF'
import sys
n, jobs, zjobs = sys.argv[1], sys.argv[2], sys.argv[3]
bt, bp, zt, zp, nv, nvs, st, sts, ps, pp, mbt, mbp, mzt, mzp = map(float, sys.argv[4:])
rows = [
  (f"modelvet batch --launch exec, {n} torch checkpoints (jail + eBPF tracer, --jobs {jobs})", bt, mbt),
  (f"modelvet batch --launch exec, {n} pickles (jail + eBPF tracer, --jobs {jobs})", bp, mbp),
  (f"modelvet batch (zygote, the default), {n} torch checkpoints (--jobs {zjobs})", zt, mzt),
  (f"modelvet batch (zygote, the default), {n} pickles (--jobs {zjobs})", zp, mzp),
  (f"naive: fresh python3 -c 'torch.load(f)' per file, no sandbox (median {nvs:.2f} s/file)", nv, None),
  (f"the same under strace -f (median {sts:.2f} s/file)", st, None),
  (f"static pre-scan alone, torch checkpoints (prescan_bench)", ps, None),
  (f"static pre-scan alone, pickles (prescan_bench)", pp, None),
]
w = max(len(r[0]) for r in rows)
print(f"{'what':<{w}}  {'files/s':>9}  {'vs naive':>9}  {'MB/jail':>8}")
for name, rate, mem in rows:
    print(f"{name:<{w}}  {rate:>9.2f}  {rate / nv:>8.2f}x  {'' if mem is None else f'{mem:.1f}':>8}")
print("MB/jail: median over the files of the jail's memory cgroup peak (every process of the jail,")
print("page cache it faulted in included; a forked jail's pages still shared with its zygote are the zygote's)")
PYEOF
fi

if [ "$ONLY" = all ] || [ "$ONLY" = hub ]; then
GIB=${HUB_GIB:-2}
echo "== 5. a Hub-sized checkpoint: ${GIB} GiB torch.save'd state dict, one modelvet scan (load: $(cut -d' ' -f1-3 /proc/loadavg))"
H=$(mktemp -d /tmp/modelvet-bench-hub-XXXXXX)
trap 'rm -rf "$H" ${T:+"$T"}' EXIT
# 256 MiB float32 tensors; written by the real torch.save (STORED, 64-byte-aligned members).
$PY - "$H/hub.pt" "$GIB" <<'PYEOF'
import sys, torch
path, gib = sys.argv[1], float(sys.argv[2])
torch.save({f"layers.{i}.weight": torch.full((16384, 4096), float(i)) for i in range(max(1, round(gib * 4)))}, path)
PYEOF
start=$(date +%s.%N)
"$B/modelvet" scan --quiet --format json "$H/hub.pt" > "$H/report.json" 2>/dev/null &
scan=$!
# The jail's memory cgroup is named after its staging dir, tmp.<supervisor pid>.*; polled until the scan ends.
peak=0
while kill -0 "$scan" 2>/dev/null; do
  for f in /sys/fs/cgroup/memory/modelvet-tmp."$scan".*/memory.max_usage_in_bytes; do
    [ -r "$f" ] && v=$(cat "$f" 2>/dev/null) && [ "${v:-0}" -gt "$peak" ] && peak=$v
  done
  sleep 0.05
done
wait "$scan" || true
end=$(date +%s.%N)
$PY - "$H/report.json" "$(stat -c %s "$H/hub.pt")" "$start" "$end" "$peak" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
size, wall, peak = int(sys.argv[2]), float(sys.argv[4]) - float(sys.argv[3]), int(sys.argv[5])
m = r.get("load", {}).get("materialisation") or {}
mib = lambda b: f"{b / 2**20:.0f} MiB"
print(f"file {mib(size)}: verdict {r['verdict']} in {wall:.1f} s wall (load {r.get('timing_ms', {}).get('load', '?')} ms)")
print(f"storages {m.get('storages')}: mapped {m.get('mapped')} ({mib(m.get('bytes_mapped', 0))}), read {m.get('read')} ({mib(m.get('bytes_read', 0))})")
print(f"harness peak RSS {mib(m.get('peak_rss_bytes', 0))}; jail memory cgroup peak {mib(peak) if peak else 'n/a (no v1 memory cgroup)'}")
PYEOF
fi

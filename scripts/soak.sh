#!/usr/bin/env bash
# Soak: many mixed detonations in ONE `modelvet batch`, watching the supervisor the whole time.
#
#   scripts/soak.sh [MODELVET [CORPUS_DIR]]      (as root: real jails, the eBPF tracer)
#
# The set: every file of the regression corpus (build/corpus) once (a spread of three quarters of
# the set when SOAK_FILES is smaller), then distinct variants of its
# pickles (a no-op `M <n> 0` — push an int, pop it — after the protocol header, so each variant
# is new content and is detonated, not answered as a duplicate) until SOAK_FILES files.
# While the batch runs, every SOAK_INTERVAL seconds: the supervisor's open fds, its RSS, its live
# descendants (bridges, reapers, jails), and the result lines written. After it:
#   - every file has exactly one whole result line;
#   - fds: once a quarter of the files is done, the low-water mark of the last quarter of samples
#     is within SOAK_FD_SLACK of the first quarter's (a leak of one fd per detonation would show hundreds);
#   - memory: the same for RSS, within SOAK_RSS_SLACK_MB;
#   - processes: no process the supervisor ever had below it is alive 2 s after it exited;
#   - mounts, cgroups, staging dirs: none named after the supervisor is left;
#   - verdicts: SOAK_SAMPLE files spread over the set, each verified alone with `modelvet scan`,
#     get the verdict the batch gave them.
# Prints a summary; exits 1 on any leak or mismatch, 2 when it cannot run, 77 when not root.
#
# Environment: SOAK_FILES (500), SOAK_JOBS (batch's default), SOAK_SAMPLE (24; `all`: every file,
# by one `scan --launch exec`), SOAK_INTERVAL
# (1), SOAK_FD_SLACK (16), SOAK_RSS_SLACK_MB (64), SOAK_DIR (a fresh /tmp/modelvet-soak-*, kept
# on failure), SOAK_NICE (10).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${MODELVET:-$here/../build/modelvet}}
corpus=${2:-${SOAK_CORPUS:-$(dirname "$bin")/corpus}}
if [ "$(id -u)" -ne 0 ]; then
  echo "soak.sh: needs root (real jails and the eBPF tracer); skipped" >&2
  exit 77
fi
[ -x "$bin" ] || { echo "soak.sh: no modelvet binary at $bin" >&2; exit 2; }
[ -f "$corpus/manifest.jsonl" ] || { echo "soak.sh: no corpus at $corpus (build the corpus target)" >&2; exit 2; }
"$bin" doctor >/dev/null 2>&1 || { echo "soak.sh: modelvet doctor says this host cannot run jails" >&2; exit 2; }

exec nice -n "${SOAK_NICE:-10}" /usr/bin/python3 - "$bin" "$corpus" <<'PYTHON'
import json, os, shutil, signal, subprocess, sys, tempfile, time

binary, corpus = sys.argv[1], sys.argv[2]
n_files = int(os.environ.get("SOAK_FILES", "500"))
every_file = os.environ.get("SOAK_SAMPLE", "24") == "all"
n_sample = 0 if every_file else int(os.environ.get("SOAK_SAMPLE", "24"))
interval = float(os.environ.get("SOAK_INTERVAL", "1"))
fd_slack = int(os.environ.get("SOAK_FD_SLACK", "16"))
rss_slack_kb = int(os.environ.get("SOAK_RSS_SLACK_MB", "64")) * 1024
jobs = os.environ.get("SOAK_JOBS", "")
work = os.environ.get("SOAK_DIR") or tempfile.mkdtemp(prefix="modelvet-soak-", dir="/tmp")
os.makedirs(work, exist_ok=True)
set_dir = os.path.join(work, "set")
shutil.rmtree(set_dir, ignore_errors=True)
os.makedirs(set_dir)

# ---- the mixed set ------------------------------------------------------------------------
rows = [json.loads(l) for l in open(os.path.join(corpus, "manifest.jsonl")) if l.strip()]
sources = []
for r in rows:
    p = os.path.join(corpus, r["file"])
    # Files only: a SavedModel directory inside a walked directory gets no batch line today
    # (measured: batch skips it), which would be counted here as a lost file.
    if os.path.isfile(p):
        sources.append((r["file"], p))
sources.sort()
files = []
def add(name, path):
    files.append(path)
# A short run keeps a quarter for variants, so both kinds are in every soak.
n_corpus = len(sources) if n_files >= len(sources) else max(1, n_files * 3 // 4)
step = max(1, len(sources) // n_corpus)
for rel, src in sources[::step][:n_corpus]:
    dst = os.path.join(set_dir, rel.replace("/", "__"))
    shutil.copyfile(src, dst)
    add(rel, dst)
# Pickles with a protocol header (not torch's legacy magic, which the sniffer reads at offset 2).
pickles = []
for rel, src in sources:
    if os.path.isfile(src):
        with open(src, "rb") as f:
            head = f.read(3)
        if len(head) == 3 and head[0] == 0x80 and head[2] != 0x8A:
            pickles.append((rel, src))
k = 0
while len(files) < n_files and pickles:
    rel, src = pickles[k % len(pickles)]
    data = open(src, "rb").read()
    variant = data[:2] + b"M" + (k % 65536).to_bytes(2, "little") + b"0" + data[2:]
    dst = os.path.join(set_dir, "v%04d__%s" % (k, rel.replace("/", "__")))
    with open(dst, "wb") as f:
        f.write(variant)
    add(rel, dst)
    k += 1
print(f"soak: {len(files)} files ({len(files) - k} corpus files, {k} pickle variants) in {set_dir}", flush=True)

# ---- the batch, watched --------------------------------------------------------------------
def proc_table():
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        table[int(d)] = (int(rest[1]), rest[19], rest[0])  # ppid, starttime, state
    return table

def descendants(root, table):
    kids, frontier = set(), {root}
    while frontier:
        frontier = {p for p, (pp, _, _) in table.items() if pp in frontier and p not in kids}
        kids |= frontier
    return kids

out_path = os.path.join(work, "batch.jsonl")
if os.path.exists(out_path):
    os.remove(out_path)
cmd = [binary, "batch", "--quiet", "--output", out_path] + (["--jobs", jobs] if jobs else []) + [set_dir]
t0 = time.monotonic()
err = open(os.path.join(work, "batch.stderr"), "wb")
batch = subprocess.Popen(cmd, stderr=err, stdout=subprocess.DEVNULL)
pid = batch.pid
samples, seen = [], {}  # seen: pid -> starttime of every process below the supervisor
def count_lines():
    try:
        with open(out_path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0
while batch.poll() is None:
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        break
    table = proc_table()
    kids = descendants(pid, table)
    for p in kids:
        seen.setdefault(p, table[p][1])
    samples.append({"t": time.monotonic() - t0, "lines": count_lines(), "fds": fds, "rss_kb": rss, "procs": len(kids)})
    time.sleep(interval)
rc = batch.wait()
elapsed = time.monotonic() - t0

# ---- checks --------------------------------------------------------------------------------
problems = []
lines = open(out_path, "rb").read().split(b"\n") if os.path.exists(out_path) else []
if lines and lines[-1] == b"":
    lines.pop()
else:
    problems.append("the output's last line is torn (no newline)")
results = {}
for l in lines:
    try:
        j = json.loads(l)
    except ValueError:
        problems.append(f"not a JSON line: {l[:80]!r}")
        continue
    results.setdefault(j.get("path"), []).append(j)
if rc not in (0, 1, 2):
    problems.append(f"batch exited {rc}")
missing = [f for f in files if f not in results]
twice = [p for p, js in results.items() if len(js) > 1]
if missing:
    problems.append(f"{len(missing)} files have no result line (first: {missing[0]})")
if twice:
    problems.append(f"{len(twice)} files have more than one line (first: {twice[0]})")
verdicts = {}
for p, js in results.items():
    verdicts[js[0].get("verdict")] = verdicts.get(js[0].get("verdict"), 0) + 1
duplicates = sum(1 for js in results.values() if js[0].get("duplicate_of"))

# Steady state: once a quarter of the files is written (before that the supervisor is still
# growing into its working set: tracer maps, one malloc arena per worker thread).
steady = [s for s in samples if s["lines"] >= len(files) // 4] or samples
q = max(1, len(steady) // 4)
def low(key, part):
    return min(s[key] for s in part) if part else 0
fd_first, fd_last = low("fds", steady[:q]), low("fds", steady[-q:])
rss_first, rss_last = low("rss_kb", steady[:q]), low("rss_kb", steady[-q:])
fd_max = max((s["fds"] for s in samples), default=0)
rss_max = max((s["rss_kb"] for s in samples), default=0)
procs_max = max((s["procs"] for s in samples), default=0)
if len(steady) >= 8:
    if fd_last - fd_first > fd_slack:
        problems.append(f"fd leak: low-water mark {fd_first} → {fd_last} (slack {fd_slack})")
    if rss_last - rss_first > rss_slack_kb:
        problems.append(f"memory growth: RSS low-water mark {rss_first // 1024} → {rss_last // 1024} MiB (slack {rss_slack_kb // 1024})")
else:
    problems.append(f"only {len(steady)} steady-state samples: too short to judge fds and memory (raise SOAK_FILES)")

time.sleep(2)
table = proc_table()
alive = [p for p, st in seen.items() if p in table and table[p][1] == st and table[p][2] != "Z"]
if alive:
    problems.append(f"{len(alive)} processes of the supervisor outlived it (first: pid {alive[0]})")
prefix = f"modelvet-jail-{pid}."
staging = [d for d in os.listdir("/tmp") if d.startswith(prefix)]
if staging:
    problems.append(f"{len(staging)} staging dirs left (first: /tmp/{staging[0]})")
mounts = [l for l in open("/proc/self/mountinfo") if prefix in l]
if mounts:
    problems.append(f"{len(mounts)} mounts left (first: {mounts[0].strip()})")
cgroups = []
for top in ("/sys/fs/cgroup",):
    for dirpath, dirnames, _ in os.walk(top):
        for d in dirnames:
            if prefix in d:  # v2 modelvet/<staging name>, v1 modelvet-<staging name>
                cgroups.append(os.path.join(dirpath, d))
        if dirpath.count("/") > 6:
            dirnames[:] = []
if cgroups:
    problems.append(f"{len(cgroups)} cgroups left (first: {cgroups[0]})")

# Verdicts: a spread of files, each verified alone (SOAK_SAMPLE=all: every file, by one `scan`
# whose files each get their own exec'd jail, no zygote, no batch machinery).
mismatches = []
if every_file:
    picked = list(files)
    single = subprocess.run([binary, "scan", "--format", "json", "--quiet", "--launch", "exec", "--jobs", "2"] + picked,
                            capture_output=True)
    try:
        alone = {r["path"]: r.get("verdict") for r in json.loads(single.stdout)["results"]}
    except (ValueError, KeyError, TypeError):
        alone = {}
    for f in picked:
        got, want = alone.get(f, f"no report (exit {single.returncode})"), results.get(f, [{}])[0].get("verdict")
        if got != want:
            mismatches.append(f"{os.path.basename(f)}: batch {want}, alone {got}")
else:
    picked = files[:: max(1, len(files) // n_sample)][:n_sample] if n_sample > 0 else []
for f in ([] if every_file else picked):
    single = subprocess.run([binary, "scan", "--format", "json", "--quiet", f], capture_output=True)
    try:
        got = json.loads(single.stdout)["results"][0].get("verdict")
    except (ValueError, KeyError, IndexError):
        got = f"no report (exit {single.returncode})"
    want = results.get(f, [{}])[0].get("verdict")
    if got != want:
        mismatches.append(f"{os.path.basename(f)}: batch {want}, alone {got}")
for m in mismatches:
    problems.append("verdict differs: " + m)

# ---- summary -------------------------------------------------------------------------------
with open(os.path.join(work, "samples.jsonl"), "w") as f:
    for s in samples:
        f.write(json.dumps(s) + "\n")
print(f"soak: {len(results)} results of {len(files)} files in {elapsed:.0f} s ({len(files) / max(elapsed, 1):.2f} files/s), "
      f"batch exit {rc}; verdicts {dict(sorted(verdicts.items()))}, {duplicates} answered as duplicates")
print(f"soak: supervisor fds first/last/max {fd_first}/{fd_last}/{fd_max} (quarter low-water marks, and peak); "
      f"RSS first/last/max {rss_first // 1024}/{rss_last // 1024}/{rss_max // 1024} MiB")
print(f"soak: processes below it at most {procs_max} ({len(seen)} seen in all), left after it {len(alive)}; "
      f"staging dirs left {len(staging)}, mounts {len(mounts)}, cgroups {len(cgroups)}")
print(f"soak: verdicts of {len(picked)} files verified alone: {len(picked) - len(mismatches)} equal, {len(mismatches)} differ")
print(f"soak: samples in {work}/samples.jsonl")
if problems:
    for p in problems:
        print("soak: FAIL: " + p)
    sys.exit(1)
print("soak: ok")
shutil.rmtree(set_dir, ignore_errors=True)
PYTHON

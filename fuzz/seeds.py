#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (scripts/fuzz.sh runs this at fuzz time).

  seeds.py --out DIR [--corpus build/corpus] [--policy policies/default.json]

DIR/<target>/ gets representative files of the regression corpus, picked by content (magic
bytes, not names), plus small inputs written here: containers built with the standard library,
policies derived from the default policy, a trace, Hub JSON and scanner reports. Nothing is
loaded or unpickled: files are only read as bytes and copied.
"""
import argparse
import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile

MAX_SEED = 64 * 1024  # the fuzzers' -max_len for binary inputs
PER_TARGET = 40


def magic_of(b):
    if b[:4] == b"PK\x03\x04" or b[:4] == b"PK\x05\x06":
        return "zip"
    if b[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if len(b) > 262 and b[257:262] == b"ustar":
        return "tar"
    if b[:6] == b"\x93NUMPY":
        return "npy"
    if b[:4] == b"GGUF":
        return "gguf"
    if b"\x89HDF\r\n\x1a\n" in b[:4096]:
        return "hdf5"
    if b[:1] == b"\x80" or b[:1] in (b"(", b"c", b"]", b"}"):
        return "pickle"
    if b[:2] in (b"\x1f\x8b", b"BZ", b"\xfd7") or b[:1] == b"x":
        return "compressed"
    return "other"


def corpus_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "CMakeFiles")
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            if f.endswith((".cmake", ".jsonl", ".json")) or f == "Makefile":
                continue
            size = os.path.getsize(p)
            if 0 < size <= MAX_SEED:
                yield p


class Seeds:
    def __init__(self, out):
        self.out = out
        self.counts = {}

    def add(self, target, data, name=None):
        if isinstance(data, str):
            data = data.encode()
        if self.counts.get(target, 0) >= PER_TARGET * 2:
            return
        d = os.path.join(self.out, target)
        os.makedirs(d, exist_ok=True)
        name = name or hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        self.counts[target] = self.counts.get(target, 0) + 1


def from_corpus(seeds, root):
    by_kind = {}
    for p in corpus_files(root):
        with open(p, "rb") as f:
            b = f.read()
        by_kind.setdefault(magic_of(b), []).append(b)
    targets = {"pickle": ["fuzz_pickle"], "zip": ["fuzz_zip"], "7z": ["fuzz_7z"], "tar": ["fuzz_tar"],
               "npy": ["fuzz_npy"], "hdf5": ["fuzz_hdf5"], "compressed": ["fuzz_tar"],
               "gguf": ["fuzz_gguf"]}
    for kind, files in sorted(by_kind.items()):
        step = max(1, len(files) // PER_TARGET)
        picked = files[::step][:PER_TARGET]
        for t in targets.get(kind, []):
            for b in picked:
                seeds.add(t, b)
        # The sniffer and the whole pre-scan see a few of every kind, behind the name-hint byte.
        for i, b in enumerate(picked[:8]):
            seeds.add("fuzz_sniff", bytes([i]) + b[:4096])
            seeds.add("fuzz_prescan", bytes([i]) + b)
    manifest = os.path.join(root, "manifest.jsonl")
    if os.path.exists(manifest):
        with open(manifest, "rb") as f:
            lines = f.read().splitlines()[:20]
        seeds.add("fuzz_manifest", b"\x01" + b"\n".join(lines) + b"\n")


def small_containers(seeds):
    """Benign containers written with the standard library, for formats the corpus may lack."""
    p = pickle.dumps({"weight": [1.0, 2.0], "name": "layer"}, protocol=2)
    seeds.add("fuzz_pickle", p)
    seeds.add("fuzz_pickle", pickle.dumps([1, (2, 3), {"a": b"x"}], protocol=0))
    seeds.add("fuzz_pickle", pickle.dumps({"k": list(range(5))}, protocol=5))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", p)
        zf.writestr("archive/version", "3\n")
    seeds.add("fuzz_zip", z.getvalue())
    seeds.add("fuzz_prescan", b"\x01" + z.getvalue())
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in (("sys_info", p), ("pickle", p), ("storages", b"\0" * 16)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    seeds.add("fuzz_tar", t.getvalue())
    seeds.add("fuzz_prescan", b"\x01" + t.getvalue())
    import gzip, zlib
    seeds.add("fuzz_tar", gzip.compress(p))
    seeds.add("fuzz_tar", zlib.compress(p))
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + p
    seeds.add("fuzz_npy", npy)
    seeds.add("fuzz_prescan", b"\x04" + npy)
    h5 = b"\x89HDF\r\n\x1a\n" + b"\0" * 504 + json.dumps(
        {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {"name": "l", "function": "lambda x: x"}},
                                                          {"class_name": "Dense", "config": {"units": 2}}]}}).encode()
    seeds.add("fuzz_hdf5", h5)
    seeds.add("fuzz_prescan", b"\x05" + h5)


def gguf(seeds):
    """A small GGUF v3 file (metadata, a chat template, one tensor info), and its v2 twin."""
    def string(text):
        b = text.encode()
        return struct.pack("<Q", len(b)) + b
    template = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] }}"
                "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant' }}{% endif %}")
    kvs = [string("general.architecture") + struct.pack("<I", 8) + string("llama"),
           string("llama.context_length") + struct.pack("<II", 4, 2048),
           string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + string("<s>") + string("</s>") + string("hi"),
           string("tokenizer.chat_template") + struct.pack("<I", 8) + string(template)]
    tensor = string("token_embd.weight") + struct.pack("<IQQIQ", 2, 4, 3, 0, 0)
    for version in (3, 2):
        data = b"GGUF" + struct.pack("<IQQ", version, 1, len(kvs)) + b"".join(kvs) + tensor + bytes(48)
        seeds.add("fuzz_gguf", data, f"v{version}.gguf")
        seeds.add("fuzz_sniff", b"\x00" + data)
        seeds.add("fuzz_prescan", b"\x00" + data)


def policies(seeds, policy_path):
    with open(policy_path, "rb") as f:
        text = f.read()
    seeds.add("fuzz_policy", text, "default.json")
    doc = json.loads(text)
    # One seed per rule: a policy holding only it, so each matcher shape starts small.
    for i, rule in enumerate(doc.get("rules", [])[:PER_TARGET]):
        small = {k: v for k, v in doc.items() if k not in ("rules", "allow", "checks")}
        small["rules"] = [rule]
        seeds.add("fuzz_policy", json.dumps(small), f"rule{i:03d}.json")
    seeds.add("fuzz_policy", json.dumps({"name": "tiny", "version": "1", "rules": [
        {"id": "net.any", "severity": "malicious", "attack": "T1071", "explain": "connected to {addr}",
         "match": {"source": "kernel", "kind": "connect", "fields": {"addr": {"cidr": "0.0.0.0/0"}, "port": {"range": [1, 65535]}}}},
        {"id": "exec.shell", "severity": "suspicious", "explain": "ran {filename}",
         "match": {"kind": "exec", "fields": {"filename": {"glob": "/bin/*"}, "argv": {"regex": "^-c$"}}}}]}), "tiny.json")


TRACE_HEADER = {
    "modelvet_trace": 2,
    "tool": {"name": "modelvet", "version": "0.1.0"},
    "host": {"kernel": "6.1.0", "sandbox": "namespaces+seccomp", "tracer": "ebpf"},
    "policy": {"name": "default", "sha256": "0" * 64},
    "sample": {"format": "pickle", "loader": "pickle", "path": "/tmp/s/m.pkl", "sha256": "1" * 64, "size": 42},
    "run": {"clean_teardown": True, "error": "", "events_truncated": False, "harness_end": "exit 0", "harness_exit": 0,
            "limits_hit": [], "malformed_event_lines": 0, "output_tail": "", "ran": True, "timed_out": False,
            "timeout_ms": 30000, "timing_ms": {"run": 1900, "setup": 28, "teardown": 56, "total": 2000},
            "unattributed_sessions": 0},
    "context": {"decoy_files": ["/home/alice/.aws/credentials"], "decoy_secrets": {"~/.aws/credentials": "AKIAFUZZSEEDFUZZSEED"},
                "exec_t_ns": 1000, "harness_pid": 14, "home": "/home/alice", "jail_init_pid": 12,
                "model_path": "/home/alice/models/m.pkl"},
    "tracer": {"backend": "ebpf", "dropped": 0, "events": 5, "per_buffer": {}},
    "sandbox": {"isolation": "namespaces+seccomp"},
    "static": {"anomalies": [], "flagged": []},
}
TRACE_EVENTS = [
    {"t_ns": 1000, "source": "kernel", "kind": "exec", "pid": 14, "ppid": 12, "filename": "/dev/fd/5", "argv": ["modelvet", "__harness"], "ret": 0},
    {"t_ns": 2000, "source": "python", "kind": "phase", "pid": 2, "phase": "load"},
    {"t_ns": 3000, "source": "kernel", "kind": "open", "pid": 14, "path": "/home/alice/.aws/credentials", "flags": 0, "flags_str": "O_RDONLY", "ret": 3},
    {"t_ns": 4000, "source": "kernel", "kind": "connect", "pid": 14, "addr": "127.0.0.1", "port": 4444, "family": "inet", "ret": 0},
    {"t_ns": 5000, "source": "net", "kind": "http", "pid": 14, "method": "POST", "host": "exfil.invalid", "body_preview": "AKIAFUZZSEEDFUZZSEED"},
    {"t_ns": 6000, "source": "python", "kind": "call", "pid": 2, "func": "os.system", "args": ["id"]},
    {"t_ns": 7000, "source": "python", "kind": "phase", "pid": 2, "phase": "shutdown"},
]


def traces(seeds):
    header = json.dumps(TRACE_HEADER, sort_keys=True)
    seeds.add("fuzz_trace_header", header, "header.json")
    for i, e in enumerate(TRACE_EVENTS):
        seeds.add("fuzz_trace_event", json.dumps(e, sort_keys=True), f"event{i}.json")
    seeds.add("fuzz_trace_file", "\n".join([header] + [json.dumps(e, sort_keys=True) for e in TRACE_EVENTS]) + "\n", "trace.jsonl")


def batch_inputs(seeds):
    seeds.add("fuzz_manifest", b"\x01" + b'{"path": "models--org--name/snapshots/abc/model.bin", "prior": {"status": "unsafe"}}\n'
              b'{"file": "a.pkl", "prior": {"scanner": "picklescan", "severity": "dangerous", "globals": ["os.system"]}}\n'
              b'{"path": "a.pkl", "prior": {"scanner": "modelscan", "severity": "CRITICAL", "mentions": 2}}\n# comment\r\n\n', "jsonl")
    seeds.add("fuzz_manifest", b"\x00model.pt\nsub/dir/weights.bin\r\n# c\n/abs/path.pkl\n", "txt")
    hub = [{"type": "file", "path": "pytorch_model.bin", "size": 1443, "securityFileStatus": {"status": "unsafe", "violation": "pickle import os.system"}},
           {"type": "file", "path": "config.json", "securityFileStatus": {"status": "safe"}},
           {"type": "file", "path": "model.pkl", "securityFileStatus": {"status": "suspicious", "mentions": 3}},
           {"type": "directory", "path": "sub"}]
    seeds.add("fuzz_hub_json", json.dumps(hub), "paths-info.json")
    seeds.add("fuzz_hub_json", json.dumps({"status": "unsafe", "flagged": True}), "prior.json")
    seeds.add("fuzz_hub_json", "models--org--name/snapshots/0123abcd/sub/model.bin", "cache-path")
    picklescan = ("/data/model.pt:archive/data.pkl: dangerous import 'posix system' FOUND\n"
                  "/data/other.pkl: suspicious import 'builtins getattr' FOUND (promoted by --strict)\n"
                  "----------- SCAN SUMMARY -----------\nScanned files: 2\nInfected files: 1\nDangerous globals: 1\n")
    seeds.add("fuzz_scanner_report", b"\x00" + picklescan.encode(), "picklescan.log")
    seeds.add("fuzz_scanner_report", b"\x01" + picklescan.encode(), "picklescan.txt")
    modelscan = {"summary": {"total_issues": 2}, "issues": [
        {"description": "Use of unsafe operator 'system' from module 'posix'", "operator": "system", "module": "posix",
         "source": "model.pt:archive/data.pkl", "scanner": "modelscan.scanners.PyTorchUnsafeOpScan", "severity": "CRITICAL"},
        {"severity": "MEDIUM", "details": {"module": "builtins", "operator": "getattr", "source": "other.pkl"}}],
        "errors": [], "skipped": {"skipped_files": []}}
    seeds.add("fuzz_scanner_report", b"\x02" + json.dumps(modelscan).encode(), "modelscan.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--corpus", default="build/corpus")
    ap.add_argument("--policy", default="policies/default.json")
    a = ap.parse_args()
    seeds = Seeds(a.out)
    if os.path.isdir(a.corpus):
        from_corpus(seeds, a.corpus)
    else:
        print(f"seeds.py: no regression corpus at {a.corpus}: hand-written seeds only")
    small_containers(seeds)
    gguf(seeds)
    policies(seeds, a.policy)
    traces(seeds)
    batch_inputs(seeds)
    for t, n in sorted(seeds.counts.items()):
        print(f"seeds.py: {t}: {n} seeds")


if __name__ == "__main__":
    main()

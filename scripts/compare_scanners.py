#!/usr/bin/env python3
"""Side-by-side: what static scanners would say of the regression corpus vs modelvet's verdicts.

Usage: compare_scanners.py CORPUS_DIR SCAN_JSON [--subset PREFIX]
  CORPUS_DIR  holds manifest.jsonl (labels); SCAN_JSON is `modelvet scan --format json` over it.
  --subset    only the samples whose manifest path starts with PREFIX (e.g. benign/library/, the
              files written by the real libraries), and a rates table: modelvet's false-malicious
              rate next to each scanner's dangerous-flag rate on the benign ones.

The real tools are used when installed (picklescan, modelscan and fickling are not packaged for
Debian and this machine has no PyPI); otherwise the columns below are modelvet's re-implementation
of their lists, and the script says so.

The static columns apply picklescan's, modelscan's and fickling's published unsafe-globals lists (encoded as
data in prescan/scanner_lists.json) to modelvet's own static parse of each file. That is an upper
bound on what those tools report: the real tools also stop at zips with bad CRCs, 7z archives
and broken streams that modelvet's lenient parser walks through. A second table covers the
formats of issue #12 (Keras, GGUF, ONNX, archives, safetensors, HDF5): per format and label,
what each scanner flags among the files it reads at all, and "not read" where it reads none.
"""
import argparse
import importlib.util
import json
import os
import shutil
import sys

SCANNERS = ("picklescan", "modelscan", "fickling")
# What each scanner reads at all, from its documentation: a file in another format is neither
# flagged nor cleared by it ("not read"), however it behaves when loaded.
READS = {
    "picklescan": {"pickle", "dill", "paddle", "joblib", "pytorch-zip", "pytorch-legacy", "torchscript",
                   "7z-pytorch", "numpy-npy", "numpy-npz", "zip"},
    "modelscan": {"pickle", "dill", "joblib", "pytorch-zip", "pytorch-legacy", "numpy-npy", "numpy-npz",
                  "keras-h5", "keras-v3", "savedmodel", "zip"},
    "fickling": {"pickle", "dill", "paddle", "joblib", "pytorch-zip", "pytorch-legacy", "torchscript"},
}
# The formats issue #12 added: the per-format table below.
NEW_FORMATS = ("keras-v3", "keras-h5", "savedmodel", "gguf", "onnx", "tar", "nemo", "zip", "safetensors", "hdf5")


def real_tools():
    """Which of the real scanners this machine has (a CLI on PATH or an importable module)."""
    return [s for s in SCANNERS if shutil.which(s) or importlib.util.find_spec(s) is not None]


def flagged_by(result, scanner, severities=("dangerous",)):
    for f in result.get("static", {}).get("flagged", []):
        if f.get("by_scanner", {}).get(scanner) in severities:
            return True
    return False


def cell(row, scanner):
    return f"{row[scanner]} ({row[scanner + '_any']})"


def pct(n, d):
    return f"{n}/{d} ({100.0 * n / d:.0f}%)" if d else "0/0"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("scan")
    parser.add_argument("--subset", default="")
    args = parser.parse_args()
    corpus, scan = args.corpus, args.scan
    labels, formats = {}, {}
    with open(os.path.join(corpus, "manifest.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if row["file"].startswith(args.subset):
                labels[os.path.normpath(os.path.join(corpus, row["file"]))] = row["label"]
                formats[os.path.normpath(os.path.join(corpus, row["file"]))] = row["format"]
    data = json.load(open(scan))
    results = data["results"] if isinstance(data, dict) else data
    installed = real_tools()
    print(f"real scanners installed: {', '.join(installed) or 'none'}; columns from prescan/scanner_lists.json"
          " (modelvet's re-implementation of their unsafe-globals lists) applied to modelvet's static parse",
          file=sys.stderr)
    tools = ["picklescan", "modelscan", "fickling", "modelvet"]
    table = {label: {t: 0 for t in tools} | {t + "_any": 0 for t in tools} | {"n": 0}
             for label in ("malicious", "suspicious", "benign")}
    def label_of(r):
        path = r["path"] if os.path.isabs(r["path"]) else os.path.join(corpus, r["path"])
        return labels.get(os.path.normpath(path)) or labels.get(os.path.normpath(r["path"]))

    for r in results:
        label = label_of(r)
        if label is None:
            continue
        row = table[label]
        row["n"] += 1
        for scanner in ("picklescan", "modelscan", "fickling"):
            row[scanner] += flagged_by(r, scanner)
            row[scanner + "_any"] = row.get(scanner + "_any", 0) + flagged_by(r, scanner, ("dangerous", "suspicious"))
        row["modelvet"] += r["verdict"] in ("malicious", "suspicious")
    print("| label (files) | flagged by picklescan | flagged by modelscan | flagged by fickling | modelvet malicious/suspicious |")
    print("|---|---|---|---|---|")
    for label, row in table.items():
        print(f"| {label} ({row['n']}) | {cell(row, 'picklescan')} | {cell(row, 'modelscan')} | {cell(row, 'fickling')} | {row['modelvet']} |")
    def format_of(r):
        path = r["path"] if os.path.isabs(r["path"]) else os.path.join(corpus, r["path"])
        return formats.get(os.path.normpath(path)) or formats.get(os.path.normpath(r["path"]))

    format_table(results, label_of, format_of)
    benign = [r for r in results if label_of(r) == "benign"]
    if args.subset and benign:
        n = len(benign)
        false_malicious = sum(r["verdict"] == "malicious" for r in benign)
        not_benign = sum(r["verdict"] != "benign" for r in benign)
        print()
        print(f"| on {n} benign files under {args.subset} | rate |")
        print("|---|---|")
        for scanner in SCANNERS:
            print(f"| {scanner}: flagged dangerous | {pct(sum(flagged_by(r, scanner) for r in benign), n)} |")
        print(f"| modelvet: malicious (false-malicious rate) | {pct(false_malicious, n)} |")
        print(f"| modelvet: anything but benign | {pct(not_benign, n)} |")


def format_table(results, label_of, format_of):
    """Per new format and label: what each scanner says (flagged / files, or not read) and how
    many modelvet verdicts equal the label."""
    rows = {}
    for r in results:
        label, fmt = label_of(r), format_of(r)
        if label is None or fmt not in NEW_FORMATS:
            continue
        row = rows.setdefault((fmt, label), {"n": 0, "modelvet": 0} | {s: 0 for s in SCANNERS})
        row["n"] += 1
        row["modelvet"] += r["verdict"] == label
        for scanner in SCANNERS:
            row[scanner] += flagged_by(r, scanner, ("dangerous", "suspicious"))
    if not rows:
        return
    print()
    print("| format, label (files) | picklescan | modelscan | fickling | modelvet verdict = label |")
    print("|---|---|---|---|---|")
    for (fmt, label), row in sorted(rows.items(), key=lambda kv: (NEW_FORMATS.index(kv[0][0]), kv[0][1])):
        cells = [f"{row[s]} flagged" if fmt in READS[s] else "not read" for s in SCANNERS]
        print(f"| {fmt}, {label} ({row['n']}) | {' | '.join(cells)} | {row['modelvet']}/{row['n']} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Side-by-side: what static scanners would say of the regression corpus vs modelvet's verdicts.

Usage: compare_scanners.py CORPUS_DIR SCAN_JSON
  CORPUS_DIR  holds manifest.jsonl (labels); SCAN_JSON is `modelvet scan --format json` over it.

The static columns apply picklescan's, modelscan's and fickling's published unsafe-globals lists (encoded as
data in prescan/scanner_lists.json) to modelvet's own static parse of each file. That is an upper
bound on what those tools report: the real tools also stop at zips with bad CRCs, 7z archives
and broken streams that modelvet's lenient parser walks through.
"""
import json
import os
import sys


def flagged_by(result, scanner, severities=("dangerous",)):
    for f in result.get("static", {}).get("flagged", []):
        if f.get("by_scanner", {}).get(scanner) in severities:
            return True
    return False


def cell(row, scanner):
    return f"{row[scanner]} ({row[scanner + '_any']})"


def main():
    corpus, scan = sys.argv[1], sys.argv[2]
    labels = {}
    with open(os.path.join(corpus, "manifest.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            labels[os.path.normpath(os.path.join(corpus, row["file"]))] = row["label"]
    results = json.load(open(scan))["results"]
    tools = ["picklescan", "modelscan", "fickling", "modelvet"]
    table = {label: {t: 0 for t in tools} | {t + "_any": 0 for t in tools} | {"n": 0}
             for label in ("malicious", "suspicious", "benign")}
    for r in results:
        label = labels.get(os.path.normpath(r["path"]))
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


if __name__ == "__main__":
    main()

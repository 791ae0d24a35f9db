#!/usr/bin/python3
"""Writes modelvet's labeled regression corpus (or the small demo subset) and its manifest.

    generate.py --out DIR [--demo]

DIR/manifest.jsonl gets one JSON object per sample: file, label, technique, format,
description, expect_evidence (see README.md). Generating never loads or runs a payload: pickles
are assembled opcode by opcode or serialized from harmless objects by the real libraries.
Run with Debian's /usr/bin/python3 (it has torch, numpy, joblib, dill, h5py, py7zr, sklearn).
"""
import argparse
import os
import shutil
import sys

# Set iteration order (TorchScript constants, frozensets) follows the string hash seed: fix it.
# Threaded BLAS/OpenMP reductions make some scikit-learn fits differ in the last bits: one thread.
if os.environ.get("PYTHONHASHSEED") != "0" or os.environ.get("OMP_NUM_THREADS") != "1":
    os.execve(sys.executable, [sys.executable, *sys.argv],
              {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import benign  # noqa: E402
import evasion  # noqa: E402
import formats  # noqa: E402
import library  # noqa: E402
import malicious  # noqa: E402
import suspicious  # noqa: E402
import triggers  # noqa: E402
import twins  # noqa: E402
from catalog import LABELS, MANIFEST, label_counts, write_samples  # noqa: E402


def all_samples():
    samples = [*malicious.samples(), *twins.samples(), *suspicious.samples(), *benign.samples(), *library.samples(),
               *formats.samples(), *triggers.samples(), *evasion.samples()]
    for key in ("file", "technique"):
        values = [getattr(s, key) for s in samples]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise SystemExit(f"duplicate {key}: {dupes}")
    for s in samples:
        if s.label not in LABELS:
            raise SystemExit(f"{s.file}: bad label {s.label}")
    return samples


def clear_previous(out):
    """Removes what an earlier run wrote (so dropped samples do not linger), nothing else."""
    if not os.path.exists(os.path.join(out, MANIFEST)):
        return
    for label in LABELS:
        shutil.rmtree(os.path.join(out, label), ignore_errors=True)
    os.remove(os.path.join(out, MANIFEST))


def write_corpus(out, demo):
    if demo:  # the demo subset needs none of the library-written files (pandas, xgboost, torchvision…)
        samples = [s for s in [*malicious.samples(), *suspicious.samples(), *benign.samples()] if s.demo]
    else:
        samples = all_samples()
    os.makedirs(out, exist_ok=True)
    clear_previous(out)
    write_samples(out, samples)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--demo", action="store_true", help="only the small demo subset")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    samples = write_corpus(args.out, args.demo)
    if not args.quiet:
        print(f"corpus: {len(samples)} samples in {args.out} {label_counts(samples)}")


if __name__ == "__main__":
    main()

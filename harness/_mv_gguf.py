"""GGUF (llama.cpp): what llama-cpp-python does with a file before and at its first chat request.

llama.cpp itself is not packaged, so the load is emulated: the metadata key/values are read by
the bounded reader below (the `gguf` package is not packaged either), the tensors are not loaded.
What runs code is real: `Llama.__init__` builds a `Jinja2ChatFormatter` for
`tokenizer.chat_template` (and each `tokenizer.chat_template.<name>`), with the bos/eos token
texts, and the chat completion renders it. Up to llama-cpp-python 0.2.71 that was

    jinja2.Environment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True).from_string(template)
    .render(messages=..., eos_token=..., bos_token=..., raise_exception=raise_exception,
            add_generation_prompt=True, functions=None, function_call=None, tools=None, tool_choice=None)

with no sandbox (CVE-2024-34359): a template that climbs to `os` runs as the server. It is
rendered here with the real jinja2, exactly so.
"""
import os
import struct

import _sitehooks

MAGIC = b"GGUF"
MAX_KVS = 1 << 16
MAX_ARRAY = 1 << 24
MAX_STRING = 64 << 20
MAX_DEPTH = 4
MAX_TOKENS_KEPT = 1 << 20
TEMPLATE_KEY = "tokenizer.chat_template"
# Token lookups are by index into tokenizer.ggml.tokens (llama_token_get_text).
FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# The messages a chat client sends; a second, user-only set for templates that refuse a system turn.
MESSAGES = [
    [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello! What can you do?"}],
    [{"role": "user", "content": "Hello! What can you do?"}],
]


class GGUFError(ValueError):
    pass


class _Reader:
    """Reads only what the file holds: each declared length is checked against the bytes left."""

    def __init__(self, f, size):
        self.f, self.size, self.pos = f, size, 0
        self.big = False
        self.len_fmt = "<Q"

    def take(self, n):
        if n > self.size - self.pos:
            raise GGUFError("truncated: %d bytes needed at offset %d, %d left" % (n, self.pos, self.size - self.pos))
        data = self.f.read(n)
        if len(data) != n:
            raise GGUFError("short read at offset %d" % self.pos)
        self.pos += n
        return data

    def unpack(self, fmt):
        if self.big:
            fmt = ">" + fmt[1:]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def length(self):
        return self.unpack(self.len_fmt)

    def string(self):
        n = self.length()
        if n > MAX_STRING:
            raise GGUFError("string of %d bytes declared (cap %d)" % (n, MAX_STRING))
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, vtype, depth=0):
        if vtype in FIXED:
            return self.unpack(FIXED[vtype])
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            if depth >= MAX_DEPTH:
                raise GGUFError("arrays nested deeper than %d" % MAX_DEPTH)
            etype = self.unpack("<I")
            n = self.length()
            if n > MAX_ARRAY:
                raise GGUFError("array of %d elements declared (cap %d)" % (n, MAX_ARRAY))
            minimum = struct.calcsize(FIXED[etype]) if etype in FIXED else struct.calcsize(self.len_fmt) if etype == STRING else 12
            if etype not in FIXED and etype not in (STRING, ARRAY):
                raise GGUFError("array of unknown type %d" % etype)
            if n * minimum > self.size - self.pos:
                raise GGUFError("array of %d elements declared, %d bytes left" % (n, self.size - self.pos))
            return [self.value(etype, depth + 1) for _ in range(n)]
        raise GGUFError("unknown value type %d" % vtype)


def read_metadata(path):
    """(version, tensor_count, {key: value}) of a GGUF file; GGUFError when llama.cpp would refuse it."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        r = _Reader(f, size)
        if r.take(4) != MAGIC:
            raise GGUFError("not a GGUF file (bad magic)")
        version = r.unpack("<I")
        if version > 0xFFFF and 1 <= struct.unpack(">I", struct.pack("<I", version))[0] <= 3:
            r.big = True
            version = struct.unpack(">I", struct.pack("<I", version))[0]
        if version not in (1, 2, 3):
            raise GGUFError("unsupported GGUF version %d" % version)
        if version == 1:
            r.len_fmt = "<I"
        tensors = r.length()
        kv_count = r.length()
        if kv_count > MAX_KVS:
            raise GGUFError("%d key/values declared (cap %d)" % (kv_count, MAX_KVS))
        metadata = {}
        for _ in range(kv_count):
            key = r.string()
            vtype = r.unpack("<I")
            metadata[key] = r.value(vtype)
    return version, tensors, metadata


def _token_text(metadata, key):
    """llama-cpp-python: token_get_text(token_bos()) when the id is set, else ""."""
    tokens = metadata.get("tokenizer.ggml.tokens")
    token_id = metadata.get(key)
    if isinstance(token_id, int) and isinstance(tokens, list) and 0 <= token_id < len(tokens):
        return str(tokens[token_id])
    return ""


def _emit(event, **fields):
    fields["event"] = event
    _sitehooks.emit("audit", fields)


def _raise_exception(message):
    raise ValueError(message)


def load_gguf(path):
    """Returns (summary, library_version). The metadata read stands in for llama.cpp's; the chat
    templates are compiled and rendered with the real jinja2, as Llama() and its chat handler do."""
    import jinja2

    version, tensors, metadata = read_metadata(path)
    choices = {name[len("tokenizer."):]: t for name, t in metadata.items()
               if name.startswith(TEMPLATE_KEY + ".") and isinstance(t, str)}
    if isinstance(metadata.get(TEMPLATE_KEY), str):
        choices["chat_template.default"] = metadata[TEMPLATE_KEY]
    bos_token = _token_text(metadata, "tokenizer.ggml.bos_token_id")
    eos_token = _token_text(metadata, "tokenizer.ggml.eos_token_id")
    summary = {"gguf_version": version, "tensors": tensors, "metadata_keys": len(metadata),
               "architecture": str(metadata.get("general.architecture", "")), "templates": {}}
    for name, template in choices.items():
        _emit("modelvet.gguf.chat_template", name=name, size=len(template), renderer="jinja2 %s (real)" % jinja2.__version__)
        # Llama.__init__: Jinja2ChatFormatter(template=..., eos_token=..., bos_token=...)
        # A template that does not compile makes Llama() raise: so does this load.
        environment = jinja2.Environment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True)
        compiled = environment.from_string(template)
        # The chat completion: Jinja2ChatFormatter.__call__ renders it.
        rendered, last = None, None
        for messages in MESSAGES:
            try:
                rendered = compiled.render(messages=messages, eos_token=eos_token, bos_token=bos_token,
                                           raise_exception=_raise_exception, add_generation_prompt=True,
                                           functions=None, function_call=None, tools=None, tool_choice=None)
                break
            except Exception as error:  # raise_exception for a turn order it refuses: try the next set
                last = error
        summary["templates"][name] = rendered[:2000] if rendered is not None else "render failed: %s" % last
        _emit("modelvet.gguf.rendered", name=name, ok=rendered is not None,
              prompt_chars=len(rendered) if rendered is not None else 0,
              error="" if rendered is not None else "%s: %s" % (type(last).__name__, str(last)[:200]))
    label = "jinja2 %s (real); llama.cpp load emulated: metadata read, tensors not loaded" % jinja2.__version__
    return summary, label

"""ONNX: the real `onnx` package (Debian's 1.12) loads the model as `onnx.load(path)` does, and an
inference session's custom-op registration is emulated (onnxruntime is not packaged).

`onnx.load(path)` is `load_model_from_string(bytes)` then `load_external_data_for_model(model,
dirname(path))`: every tensor whose data is EXTERNAL has its `location` joined to the model's
directory and opened. onnx 1.12 strips leading '/' and '.' from the location (`_sanitize_path`)
and nothing else; onnx < 1.13 strips nothing (CVE-2022-25882), < 1.16 follows `a/../../x`
(CVE-2024-27318). A location that leaves the directory is reported before the real load reads
what it reaches (`modelvet.onnx.external_data_escape`).

onnxruntime resolves a custom-op domain from a native library the victim registers with
`SessionOptions.register_custom_ops_library(path)`, which is `dlopen(path)` and a call of its
`RegisterCustomOps`. The emulation does the dlopen (`ctypes.CDLL`) only for a domain in the
model's `opset_import` or a node that names a library (a path, `.so`, `.dll`, `.dylib`):
`modelvet.onnx.custom_op_library` says it is emulated.
"""
import os
import posixpath

import _sitehooks

MAX_SUMMARY_TENSORS = 50
MAX_TENSOR_ELEMENTS = 1 << 20
BUILTIN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}


def _emit(event, **fields):
    fields["event"] = event
    _sitehooks.emit("audit", fields)


def names_native_library(domain):
    d = domain.lower()
    return "/" in d or "\\" in d or d.endswith((".so", ".dll", ".dylib")) or ".so." in d


def _escapes(location):
    if not location:
        return False
    if location.startswith(("/", "\\")) or (len(location) > 1 and location[1] == ":"):
        return True
    norm = posixpath.normpath(location.replace("\\", "/"))
    return norm == ".." or norm.startswith("../")


def _graphs(graph, depth=0):
    """The graph and its subgraphs (If/Loop/Scan bodies), bounded."""
    yield graph
    if depth >= 16:
        return
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g, depth + 1)
            for g in attr.graphs:
                yield from _graphs(g, depth + 1)


def _domains(model):
    """Operator domains the runtime must resolve: opset_import, every node's (functions too)."""
    seen = []
    for opset in model.opset_import:
        seen.append(opset.domain)
    for graph in _graphs(model.graph):
        for node in graph.node:
            seen.append(node.domain)
    for function in model.functions:
        for node in function.node:
            seen.append(node.domain)
    out = []
    for d in seen:
        if d not in out:
            out.append(d)
    return out


def _report_external(onnx, model, base_dir):
    from onnx import external_data_helper

    count = 0
    for tensor in external_data_helper._get_all_tensors(model):
        if not external_data_helper.uses_external_data(tensor):
            continue
        count += 1
        location = external_data_helper.ExternalDataInfo(tensor).location
        sanitized = location.lstrip("/.") if hasattr(external_data_helper, "_sanitize_path") else location
        opened = os.path.join(base_dir, sanitized)
        if _escapes(location) or _escapes(sanitized):
            _emit("modelvet.onnx.external_data_escape", tensor=tensor.name[:200], location=location[:500],
                  opened=opened[:500], follows=_escapes(sanitized),
                  reason="the external data location leaves the model's directory"
                         + ("" if _escapes(sanitized) else "; onnx %s strips its leading '/' and '.' and opens %s"
                            % (onnx.__version__, opened)))
    return count


def _register_custom_ops(domains, base_dir):
    """SessionOptions.register_custom_ops_library(path), emulated: dlopen the library the domain names."""
    import ctypes

    loaded = []
    for domain in domains:
        if not names_native_library(domain):
            continue
        path = domain if os.path.isabs(domain) else os.path.join(base_dir, domain)
        _emit("modelvet.onnx.custom_op_library", domain=domain[:500], path=path[:500],
              emulated="onnxruntime SessionOptions.register_custom_ops_library (onnxruntime is not packaged)")
        try:
            ctypes.CDLL(path)
            loaded.append(domain)
        except OSError as error:
            _emit("modelvet.onnx.custom_op_library_failed", domain=domain[:500], error=str(error)[:300])
    return loaded


def _summary(model, domains, external, libraries):
    from onnx import numpy_helper

    tensors = {}
    for init in list(model.graph.initializer)[:MAX_SUMMARY_TENSORS]:
        n = 1
        for d in init.dims:
            n *= max(int(d), 0)
        if n <= MAX_TENSOR_ELEMENTS:
            tensors[init.name] = numpy_helper.to_array(init)  # what a runtime reads: the bytes, loaded
        else:
            tensors[init.name] = "%d elements (not materialised)" % n
    return {"ir_version": model.ir_version, "producer": model.producer_name,
            "opset_import": [(o.domain, o.version) for o in model.opset_import],
            "nodes": [(n.op_type, n.domain) for n in list(model.graph.node)[:200]],
            "domains": domains, "external_tensors": external, "custom_op_libraries": libraries,
            "initializers": tensors}


def load_onnx(path):
    """Returns (summary, library_version)."""
    import onnx
    from onnx import external_data_helper

    # onnx.load(path), in its two steps, so escaping locations are reported before they are read.
    with open(path, "rb") as f:
        model = onnx.load_model_from_string(f.read())
    base_dir = os.path.dirname(path)
    external = _report_external(onnx, model, base_dir)
    external_data_helper.load_external_data_for_model(model, base_dir)
    domains = _domains(model)
    custom = [d for d in domains if d not in BUILTIN_DOMAINS]
    if custom:
        _emit("modelvet.onnx.domains", domains=custom[:50])
    libraries = _register_custom_ops(domains, base_dir)
    label = "onnx %s (real onnx.load); custom-op libraries: onnxruntime emulated" % onnx.__version__
    return _summary(model, domains, external, libraries), label

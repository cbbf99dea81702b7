"""Model loading for the CLI: ONNX files -> Relax IRModule, with clear errors for bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class InputError(Exception):
    """Bad user input (missing file, not ONNX, unsupported op, bad shape string); the CLI exits with 2."""


@dataclass
class ModelInfo:
    """Input/output names, shapes and dtypes of a loaded model."""

    inputs: list[tuple[str, list[int], str]]
    outputs: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored in artifacts)."""
        return {"inputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in self.inputs], "outputs": self.outputs}


_SHAPE_RE = re.compile(r"^\s*([^:\s]+)\s*:\s*\[\s*(\d+(?:\s*,\s*\d+)*)?\s*\]\s*$")


def parse_input_shapes(text: str | None) -> dict[str, list[int]]:
    """Parse tvmc-style shapes: ``"input:[1,3,224,224] mask:[1,128]"`` (spaces or semicolons between inputs)."""
    if not text:
        return {}
    shapes: dict[str, list[int]] = {}
    for part in re.split(r"[;\s]+(?=[^\s\[\],:]+\s*:)", text.strip()):
        match = _SHAPE_RE.match(part)
        if not match:
            raise InputError(f"bad --input-shapes entry {part!r}: expected NAME:[D1,D2,...] with positive integers")
        dims = [int(d) for d in match.group(2).split(",")] if match.group(2) else []
        if any(d <= 0 for d in dims):
            raise InputError(f"bad --input-shapes entry {part!r}: dimensions must be positive")
        shapes[match.group(1)] = dims
    return shapes


_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
                10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}
MAX_INPUT_ELEMENTS = 2**31 - 1  # TVM indexes a buffer with int32 by default; larger inputs/outputs refused
ONNX_DOMAINS = ("", "ai.onnx")  # the standard operator set; custom-domain ops of the same name differ in meaning


def load_onnx(path: str | Path, input_shapes: dict[str, list[int]] | None = None) -> tuple[Any, ModelInfo]:
    """Load and validate an ONNX model; returns (Relax IRModule, ModelInfo). Raises InputError on bad input."""
    import onnx

    path = Path(path)
    if not path.exists():
        raise InputError(f"model file not found: {path}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        raise InputError(f"{path} is not a valid ONNX model: {str(exc).splitlines()[0][:200]}") from exc
    _check_supported(model)
    newest = onnx.defs.onnx_opset_version()
    too_new = [f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import
               if o.domain in ONNX_DOMAINS and o.version > newest]
    if too_new:
        raise InputError(f"{path} needs opset {too_new[0]}; the installed onnx knows up to {newest}")
    if not model.graph.output:
        raise InputError(f"{path} has no graph outputs: nothing to compute")
    initializers = {init.name for init in model.graph.initializer}
    input_shapes = dict(input_shapes or {})
    inputs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        ttype = value.type.tensor_type
        if not value.type.HasField("tensor_type") or not ttype.HasField("shape"):
            raise InputError(f"input {value.name!r} has no tensor shape (rank unknown); only tensor inputs with a "
                             "shape are supported")
        dims = [d.dim_value if d.dim_value > 0 else None for d in ttype.shape.dim]
        shape = input_shapes.pop(value.name, None)
        if shape is None:
            if any(d is None for d in dims):
                raise InputError(f"input {value.name!r} has a dynamic shape {dims}; give it with --input-shapes")
            shape = [int(d) for d in dims]
        elif len(shape) != len(dims):
            raise InputError(f"--input-shapes {value.name}: rank {len(shape)} does not match the model's {len(dims)}")
        if ttype.elem_type not in _ONNX_DTYPES:
            raise InputError(f"input {value.name!r} has an unsupported element type "
                             f"{onnx.TensorProto.DataType.Name(ttype.elem_type) if ttype.elem_type else 'UNDEFINED'}")
        check_elements(f"input {value.name!r}", shape)
        inputs.append((value.name, shape, _ONNX_DTYPES[ttype.elem_type]))
    if input_shapes:
        raise InputError(f"--input-shapes names unknown inputs: {sorted(input_shapes)}")
    from tvm.relax.frontend.onnx import from_onnx

    try:  # ONNX's own strict shape inference names an inconsistent node (TVM may import some of them silently)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        raise InputError(f"{path}: inconsistent shapes or types: {str(exc).strip().splitlines()[0][:200]}") from None
    mod, message = _import_quietly(from_onnx, model, {n: s for n, s, _ in inputs})
    if message:
        raise InputError(f"cannot import {path}: {message}")
    for shape in _output_shapes(mod["main"].ret_ty):
        if any(d <= 0 for d in shape):
            raise InputError(f"{path}: an output has shape {shape}: the model's shapes are inconsistent "
                             "(e.g. a pooling window larger than its input)")
        check_elements(f"{path}: an output", shape)
    return mod, ModelInfo(inputs, [o.name for o in model.graph.output])


def check_elements(what: str, shape: list[int]) -> None:
    """Refuse a tensor (`what`, e.g. "input 'x'") with more than MAX_INPUT_ELEMENTS elements."""
    elements = 1
    for d in shape:
        elements *= int(d)
    if elements > MAX_INPUT_ELEMENTS:
        raise InputError(f"{what} of shape {shape} has {elements:.3g} elements (limit {MAX_INPUT_ELEMENTS:.3g})")


def _output_shapes(ty: Any) -> list[list[int]]:
    """The static shapes of a Relax function's return type (a tensor or nested tuples of tensors)."""
    fields = getattr(ty, "fields", None)
    if fields is not None:
        return [s for f in fields for s in _output_shapes(f)]
    values = getattr(getattr(ty, "shape", None), "values", None) or []
    return [[int(v.value) for v in values if hasattr(v, "value")]]


def _import_quietly(from_onnx: Any, model: Any, shapes: dict[str, list[int]]) -> tuple[Any, str | None]:
    """(module, None), or (None, the error's last line) when TVM's importer fails.

    A failed import leaves a half-built BlockBuilder whose C++ destructor warns on file descriptor 2; that warning
    is dropped (bad input gets one line). Whatever else is written there is passed on.
    """
    import gc
    import os
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            mod, message = _import(from_onnx, model, shapes)
            gc.collect()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        lines = [ln for ln in capture.read().decode(errors="replace").splitlines(keepends=True)
                 if "BlockBuilder destroyed with remaining blocks" not in ln]
    sys.stderr.write("".join(lines))
    return mod, message


def _import(from_onnx: Any, model: Any, shapes: dict[str, list[int]]) -> tuple[Any, str | None]:
    try:
        return from_onnx(model, shape_dict=shapes, keep_params_in_input=False), None
    except Exception as exc:
        return None, str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__


def _check_supported(model: Any) -> None:
    from tvm.relax.frontend.onnx import onnx_frontend

    supported = set(onnx_frontend._get_convert_map())
    nodes = list(_all_nodes(model.graph))
    custom = sorted({f"{n.domain}.{n.op_type}" for n in nodes if n.domain not in ONNX_DOMAINS})
    if custom:
        raise InputError(f"custom-domain ONNX operator(s) not supported: {', '.join(custom)[:200]}")
    missing = sorted({n.op_type for n in nodes if n.op_type not in supported})
    if missing:
        raise InputError(f"unsupported ONNX operator(s): {', '.join(missing)[:200]}")


def _all_nodes(graph: Any) -> Any:
    """Every node of `graph` and of the subgraphs in its nodes' attributes (If / Loop / Scan bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)

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


_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16"}


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
    initializers = {init.name for init in model.graph.initializer}
    input_shapes = dict(input_shapes or {})
    inputs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        ttype = value.type.tensor_type
        dims = [d.dim_value if d.dim_value > 0 else None for d in ttype.shape.dim]
        shape = input_shapes.pop(value.name, None)
        if shape is None:
            if any(d is None for d in dims):
                raise InputError(f"input {value.name!r} has a dynamic shape {dims}; give it with --input-shapes")
            shape = [int(d) for d in dims]
        elif len(shape) != len(dims):
            raise InputError(f"--input-shapes {value.name}: rank {len(shape)} does not match the model's {len(dims)}")
        inputs.append((value.name, shape, _ONNX_DTYPES.get(ttype.elem_type, "float32")))
    if input_shapes:
        raise InputError(f"--input-shapes names unknown inputs: {sorted(input_shapes)}")
    from tvm.relax.frontend.onnx import from_onnx

    try:
        mod = from_onnx(model, shape_dict={n: s for n, s, _ in inputs}, keep_params_in_input=False)
    except Exception as exc:
        raise InputError(f"cannot import {path}: {str(exc).strip().splitlines()[-1][:200]}") from exc
    return mod, ModelInfo(inputs, [o.name for o in model.graph.output])


def _check_supported(model: Any) -> None:
    from tvm.relax.frontend.onnx import onnx_frontend

    supported = set(onnx_frontend._get_convert_map())
    missing = sorted({n.op_type for n in model.graph.node if n.op_type not in supported})
    if missing:
        raise InputError(f"unsupported ONNX operator(s): {', '.join(missing)}")

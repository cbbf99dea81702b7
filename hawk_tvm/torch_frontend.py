"""PyTorch input: torch.export programs (saved .pt2 files or nn.Modules exported here) -> Relax IRModule.

Goes through TVM's `tvm.relax.frontend.torch.from_exported_program` (which runs torch's core-ATen decompositions
first); errors are `InputError`s of one line: torch missing, a file that is not a saved program, a module
torch.export cannot trace, an operator the frontend has no converter for (named), a dynamic dimension not given.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .frontend import InputError, ModelInfo, _import_quietly, _output_shapes, check_elements

INSTALL_HINT = "PyTorch is not installed: pip install 'hawk-tvm[torch]'"


def require_torch() -> Any:
    """The `torch` module, or InputError with the install hint."""
    try:
        import torch
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return torch


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def load_pt2(path: str | Path, input_shapes: dict[str, list[int]] | None = None) -> tuple[Any, ModelInfo, Any]:
    """Load a program saved with `torch.export.save`; returns (Relax IRModule, ModelInfo, ExportedProgram)."""
    torch = require_torch()
    path = Path(path)
    if not path.exists():
        raise InputError(f"model file not found: {path}")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not a saved torch.export program: not a zip archive")
    try:
        with _quiet_logger("torch.export"):  # a failed load logs its traceback before raising
            program = torch.export.load(str(path))
    except Exception as exc:
        raise InputError(f"{path} is not a saved torch.export program: {_first_line(exc)}") from None
    if not isinstance(program, torch.export.ExportedProgram):
        raise InputError(f"{path} is not a saved torch.export program: it holds a {type(program).__name__}")
    mod, info = import_program(program, input_shapes, what=str(path))
    return mod, info, program


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Messages of logger `name` below ERROR dropped for the duration."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def export_module(model: Any, example_inputs: Any) -> Any:
    """`torch.export.export(model, example_inputs)` in eval mode, or InputError naming why it cannot be exported."""
    torch = require_torch()
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"expected a torch.nn.Module or torch.export.ExportedProgram, got {type(model).__name__}")
    if example_inputs is None:
        raise InputError("example_inputs are needed to export an nn.Module (a tuple of tensors of the input shapes)")
    args = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    args = tuple(torch.from_numpy(a) if _is_numpy(a) else a for a in args)
    model.eval()
    try:
        with torch.no_grad():
            return torch.export.export(model, args)
    except Exception as exc:
        raise InputError(f"torch.export cannot export {type(model).__name__}: {_first_line(exc)}") from None


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "dtype")


def _dims(program: Any) -> list[tuple[str, list[Any], str]]:
    """(name, dims, dtype) of each user input; a dynamic dimension is its symbol's name (a str)."""
    torch = require_torch()
    kinds = torch.export.graph_signature.InputKind
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    out = []
    for spec in program.graph_signature.input_specs:
        if spec.kind is not kinds.USER_INPUT:
            continue
        name = spec.arg.name
        val = placeholders[name].meta.get("val") if name in placeholders else None
        if val is None or not hasattr(val, "shape"):
            raise InputError(f"input {name!r} is not a tensor; only tensor inputs are supported")
        dims = [int(d) if isinstance(d, int) or str(d).isdigit() else str(d) for d in val.shape]
        out.append((name, dims, str(val.dtype).replace("torch.", "")))
    return out


def unsupported_ops(program: Any) -> list[str]:
    """Operators of the (decomposed) program that TVM's torch frontend cannot convert."""
    from tvm.relax.frontend.torch.exported_program_translator import ExportedProgramImporter

    supported = ExportedProgramImporter().convert_map
    return sorted({n.target.__name__ for n in program.graph.nodes
                   if n.op == "call_function" and getattr(n.target, "__name__", str(n.target)) not in supported})


def import_program(program: Any, input_shapes: dict[str, list[int]] | None = None,
                   what: str = "the program") -> tuple[Any, ModelInfo]:
    """ExportedProgram -> (Relax IRModule with static shapes, ModelInfo); InputError on anything unsupported."""
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    shapes = dict(input_shapes or {})
    try:
        decomposed = program.run_decompositions()
    except Exception as exc:
        raise InputError(f"cannot decompose {what} to core ATen: {_first_line(exc)}") from None
    missing = unsupported_ops(decomposed)
    if missing:
        raise InputError(f"unsupported torch operator(s) in {what}: {', '.join(missing)[:200]}")
    inputs, bind = [], {}
    for name, dims, dtype in _dims(decomposed):
        given = shapes.pop(name, None)
        if given is not None and len(given) != len(dims):
            raise InputError(f"--input-shapes {name}: rank {len(given)} does not match the program's {len(dims)}")
        if given is None:
            if any(isinstance(d, str) for d in dims):
                raise InputError(f"input {name!r} has a dynamic shape {dims}; give it with --input-shapes "
                                 f"(or input_shapes=)")
            given = dims
        for d, g in zip(dims, given):
            if isinstance(d, str):
                if bind.get(d, g) != g:
                    raise InputError(f"dynamic dimension {d} is given as both {bind[d]} and {g}")
                bind[d] = g
            elif d != g:
                raise InputError(f"--input-shapes {name}: {given} does not match the program's static shape {dims}")
        check_elements(f"input {name!r}", given)
        inputs.append((name, [int(g) for g in given], dtype))
    if shapes:
        raise InputError(f"--input-shapes names unknown inputs: {sorted(shapes)}")

    def convert(ep: Any, shape_dict: Any = None, keep_params_in_input: bool = False) -> Any:
        return from_exported_program(ep, run_ep_decomposition=False)

    mod, message = _import_quietly(convert, decomposed, {})
    if message:
        raise InputError(f"cannot import {what}: {message}")
    if bind:
        mod = relax.transform.BindSymbolicVars(bind, "main")(mod)
    mod = fold_batch_norms(full_as_broadcast(mod))
    for shape in _output_shapes(mod["main"].ret_ty):
        if any(d <= 0 for d in shape):
            raise InputError(f"{what}: an output has shape {shape}: the program's shapes are inconsistent")
    return mod, ModelInfo(inputs, _output_names(decomposed))


def full_as_broadcast(mod: Any) -> Any:
    """`full(shape, v)` / `full_like(x, v)` with a non-finite scalar `v` (torch's -inf attention masks) as
    `broadcast_to(v, shape)`: the same tensor, but TVM 0.27's legalisation of `full` fails on an infinite or NaN
    fill value (topi.full tests `"float" in dtype` on a DataType, a TypeError), so a plain build would fail too."""
    import numpy as np
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    from .passes.canonicalize import rewrite_relax_functions

    @mutator
    class _FullRewriter(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            call = super().visit_call_(call)
            name = getattr(call.op, "name", "")
            fill = call.args[1] if name in ("relax.full", "relax.full_like") else None
            if isinstance(fill, tvm.ir.GenericConst) and isinstance(fill.value, tvm.runtime.Tensor):
                value = fill.value.numpy()
                if value.size == 1 and not np.isfinite(value).all():
                    dtype = str(call.ty.dtype)
                    shape = call.args[0] if name == "relax.full" else call.args[0].ty.shape
                    return relax.op.broadcast_to(relax.const(value.reshape(()).astype(dtype), dtype), shape)
            return call

    return rewrite_relax_functions(_FullRewriter(mod), mod)


def fold_batch_norms(mod: Any) -> Any:
    """Inference batch norms folded the way torch.onnx.export folds them: into the preceding conv2d's weights and a
    bias add where the conv's weights are constants, the rest as a per-channel scale and shift. The torch frontend
    imports `batch_norm` as its own operator, which stands between a conv2d and its ReLU and keeps them from fusing
    (ResNet-18 at 64x64: 28 tasks, 12 of them batch norms, against 20 with them folded)."""
    import tvm
    from tvm import relax

    passes = [relax.transform.FoldBatchnormToConv2D(), relax.transform.DecomposeOpsForInference(),
              relax.transform.FoldConstant()]
    return tvm.transform.Sequential(passes)(mod)


def _output_names(program: Any) -> list[str]:
    torch = require_torch()
    kinds = torch.export.graph_signature.OutputKind
    specs = [s for s in program.graph_signature.output_specs if s.kind in (kinds.USER_OUTPUT, kinds.LOSS_OUTPUT)]
    return [getattr(s.arg, "name", f"output_{i}") for i, s in enumerate(specs)]

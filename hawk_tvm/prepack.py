"""Constant-parameter prepacking: a schedule may relayout a weight that is a compile-time constant.

A convolution's HWIO weight read by a register tile of VEC output channels strides by the whole output-channel
extent between consecutive input channels (2 KB for 512 channels): two cache lines per 4 KB page, which defeats
the hardware prefetchers. Packed as [O/VEC, H, W, I, VEC] the panel a tile reads is one contiguous stream (the
blocked filter formats of oneDNN and MLAS do the same). Measured here on a ResNet-50 7x7x512 3x3 conv, 2 cores:
18.2 ms -> 3.7 ms together with a one-vector register tile and an input-channel-blocked reduction.

Hawk's one packing convention ("block the last axis, blocks outermost"):

    shape (d0, ..., dn-1)  ->  (dn-1 / F, d0, ..., dn-2, F),   x[i0, ..., in-1] -> y[in-1 // F, i0, ..., in-1 % F]

The schedule applies it with `sch.pack_param` (a TensorIR `transform_layout` of the parameter buffer), so the
PrimFunc's signature changes; the compile then packs the constant at every call site once, at compile time
(`repack_call_sites`), and measurement packs the random inputs the same way (`pack_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import HawkError


def packed_shape(shape: Sequence[int], factor: int) -> tuple[int, ...]:
    """The shape of a parameter of `shape` packed by `factor` (its last extent must divide by it)."""
    *lead, last = (int(s) for s in shape)
    return (last // factor, *lead, factor)


def pack_array(array: np.ndarray, factor: int) -> np.ndarray:
    """Apply the packing convention to a numpy array (a contiguous copy)."""
    *lead, last = array.shape
    blocked = array.reshape(*lead, last // factor, factor)
    return np.ascontiguousarray(np.moveaxis(blocked, -2, 0))


def index_map(factor: int) -> Callable[..., list[Any]]:
    """The convention as an index function for `Schedule.transform_layout` (which builds the IndexMap in the
    buffer's index dtype)."""

    def fn(*axes: Any) -> list[Any]:
        return [axes[-1] // factor, *axes[:-1], axes[-1] % factor]

    return fn


def param_shapes(func: Any) -> list[tuple[int, ...]]:
    """The static shape of each parameter of a PrimFunc."""
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo

    return [tuple(int(d) for d in info.shape) for info in ArgInfo.from_prim_func(func)]


def infer_packing(before: Sequence[Sequence[int]], scheduled: Any) -> tuple[dict[int, int], HawkError | None]:
    """{parameter position: factor} for the parameters whose shape the scheduled PrimFunc changed from `before`;
    an error when a parameter changed shape in any way other than the packing convention."""
    before = [tuple(int(d) for d in s) for s in before]
    after = param_shapes(scheduled)
    if len(before) != len(after):
        return {}, HawkError("layout", f"parameter count changed: {len(before)} -> {len(after)}")
    packing: dict[int, int] = {}
    for i, (old, new) in enumerate(zip(before, after)):
        if old == new:
            continue
        factor = new[-1] if new else 0
        if factor <= 0 or not old or old[-1] % factor or packed_shape(old, factor) != new:
            return {}, HawkError("layout", f"parameter {i} changed shape {list(old)} -> {list(new)}")
        packing[i] = factor
    return packing, None


def pack_inputs(arrays: Sequence[np.ndarray], packing: dict[int, int]) -> list[np.ndarray]:
    """The inputs of the original signature, packed for a scheduled PrimFunc with `packing`."""
    return [pack_array(a, packing[i]) if i in packing else a for i, a in enumerate(arrays)]


def constant_params(mod: Any) -> dict[str, set[int]]:
    """For each PrimFunc called from Relax, the positions of its parameters that are a relax.Constant at every
    call site (candidates for compile-time prepacking)."""
    import tvm
    import tvm_ffi
    from tvm import relax
    from tvm.ir.expr import Constant

    found: dict[str, set[int]] = {}

    def visit(call: Any) -> bool:
        args = list(call.args)
        if not args or not isinstance(args[0], tvm.ir.GlobalVar) or len(args) < 2:
            return True
        name = args[0].name_hint
        inputs = list(args[1].fields) if isinstance(args[1], relax.Tuple) else []
        const = {i for i, a in enumerate(inputs) if isinstance(a, Constant)}
        found[name] = found[name] & const if name in found else const
        return True

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            tvm_ffi.structural_walk(func, [(relax.Call, visit)])
    return found


def install_packed(mod: Any, name: str, func: Any, packing: dict[int, int]) -> Any:
    """Install `func` (whose parameters in `packing` are packed) as `name`: under a fresh GlobalVar, because a
    GlobalVar carries its callee's signature, with every `call_tir` of it now passing the packed constants.
    Raises ValueError (leaving `mod` untouched) when an argument to pack is not a constant at some call site."""
    import tvm
    from tvm import relax
    from tvm.ir.expr import Constant

    old = mod.get_global_var(name)
    builder = relax.BlockBuilder(tvm.get_global_func("ir.Module_Remove")(mod.clone(), old))
    new = builder.add_func(func, name)  # a fresh GlobalVar typed by the new signature
    out = builder.get()

    @relax.expr_functor.mutator
    class _Repack(relax.PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            call = super().visit_call_(call)
            if len(call.args) < 2 or not call.args[0].same_as(old):
                return call
            inputs = list(call.args[1].fields)
            for i, factor in packing.items():
                if not isinstance(inputs[i], Constant):
                    raise ValueError(f"{name}: parameter {i} is not a constant at a call site; cannot prepack")
                inputs[i] = relax.const(pack_array(inputs[i].value.numpy(), factor))
            return relax.Call(call.op, [new, relax.Tuple(inputs), *call.args[2:]], call.attrs, call.ty_args)

    for gvar, f in list(out.functions_items()):
        if isinstance(f, relax.Function):
            out[gvar] = _Repack(out).visit_expr(f)
    return out

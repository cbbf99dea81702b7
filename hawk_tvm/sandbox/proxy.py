"""ScheduleProxy, what a program sees as `sch`, and the TIR analyses behind Hawk's schedule helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ..analysis.workload import region_buffer_name
from ..hardware.profile import dtype_bytes
from .checker import ALLOWED_METHODS
from .guards import Limits
from .limits import Refused

_EXTENSIONS = ("block_names", "iter_kinds", "extents", "num_reads", "param_reads", "offchip_reads", "read_bytes",
               "writes_param", "plain_cache_read", "pack_param", "conv_as_gemm", "fmap_nc1hwc0")


class ScheduleProxy:
    """What a program sees as `sch`: whitelisted methods of a `tvm.s_tir.Schedule`, plus Hawk helpers."""

    __slots__ = ("_budget", "_constants", "_main", "_sch")

    def __init__(self, sch: Any, budget: Limits, main: str | None, constants: Iterable[int] = ()) -> None:
        object.__setattr__(self, "_sch", sch)
        object.__setattr__(self, "_budget", budget)
        object.__setattr__(self, "_main", main)
        object.__setattr__(self, "_constants", frozenset(int(i) for i in constants))

    def __getattr__(self, name: str) -> Any:
        if name not in ALLOWED_METHODS:
            raise Refused(f"sch.{name} is not an allowed schedule method")
        if name == "inline_injective":
            return self._inline_injective
        if name == "main_loops":
            return self._main_loops
        if name in _EXTENSIONS:
            return getattr(self, "_" + name)
        method = getattr(self._sch, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._budget.tick()
            if name == "annotate":
                _check_annotation(args, kwargs)
            return method(*args, **kwargs)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        raise Refused("assigning attributes of sch is not allowed")

    def _block(self, block: Any) -> Any:
        """Count one schedule call and resolve `block` (a BlockRV or a block name) to a BlockRV."""
        self._budget.tick()
        return block_rv(self._sch, block)

    def _main_loops(self) -> list[Any]:
        self._budget.tick()
        return self._sch.get_loops(self._sch.get_sblock(self._main))

    def _block_names(self) -> list[str]:
        """Names of the blocks that remain, in program order."""
        self._budget.tick()
        return [self._sch.get(b).name_hint for b in _all_blocks(self._sch)]

    def _iter_kinds(self, block: Any) -> str:
        """'S'/'R' per iterator of `block` (a BlockRV or a name), e.g. 'SSR'."""
        rv = self._block(block)
        return "".join("R" if int(iv.iter_type) == 2 else "S" for iv in self._sch.get(rv).iter_vars)

    def _extents(self, block: Any) -> list[int]:
        """Extents of the loops around `block` (a BlockRV or a name), outer to inner; -1 for a symbolic one (a
        tail tile's loop after compute_at)."""
        from tvm import tirx

        rv = self._block(block)
        out = []
        for loop in self._sch.get_loops(rv):
            ext = self._sch.get(loop).extent
            out.append(int(ext.value) if isinstance(ext, tirx.IntImm) else -1)
        return out

    def _num_reads(self, block: Any) -> int:
        """How many buffer regions `block` (a BlockRV or a name) reads (valid `cache_read` indices)."""
        rv = self._block(block)
        return len(self._sch.get(rv).reads)

    def _param_names(self) -> set[str]:
        func = self._sch.mod["main"]
        return {str(getattr(p, "name", "")) for p in func.params}

    def _param_reads(self, block: Any) -> list[int]:
        """Indices of the reads of `block` that are function parameters (off-chip inputs, not intermediates)."""
        rv = self._block(block)
        params = self._param_names()
        return [i for i, r in enumerate(self._sch.get(rv).reads) if region_buffer_name(r) in params]

    def _offchip_reads(self, block: Any) -> list[int]:
        """Indices of the reads of `block` whose buffer is off chip (global scope): operator inputs and
        intermediates left in global memory, the reads a vector or cube stage has to copy on chip first."""
        rv = self._block(block)
        return [i for i, r in enumerate(self._sch.get(rv).reads) if _region_scope(r) == "global"]

    def _read_bytes(self, block: Any) -> list[int]:
        """Size in bytes of the whole buffer behind each read of `block` (a broadcast operand is smaller than
        what the block writes); -1 where the buffer has a symbolic shape."""
        rv = self._block(block)
        return [_region_bytes(r) for r in self._sch.get(rv).reads]

    def _plain_cache_read(self, block: Any, index: int, scope: str) -> Any:
        """Cache read `index` of `block` into `scope` so that the block indexes the cache with plain iterators.

        Where the access already is plain iterators and constants this is `cache_read` (the buffer's own layout);
        where it is a folded expression (a reshape inlined into its consumer: `(k // 64 + i) % 128`) the cache is
        laid out by the block iterators the access uses (`reindex_cache_read`), because TVM's buffer compaction
        cannot bound such an expression and would keep the whole buffer for every tile."""
        from tvm.tirx import IndexMap
        from tvm.tirx.analysis import undefined_vars

        rv = self._block(block)
        stmt = self._sch.get(rv)
        region = stmt.reads[index].region
        iters = {iv.var.name for iv in stmt.iter_vars}
        used = {v.name for r in region for v in undefined_vars(r.min)}
        plain = all(_is_plain_index(r.min, iters) for r in region)
        keep = [i for i, iv in enumerate(stmt.iter_vars) if iv.var.name in used]
        if plain or not keep:
            return self._sch.cache_read(rv, index, scope, [rv])
        index_map = IndexMap.from_func(lambda *vs: [vs[i] for i in keep], ndim=len(stmt.iter_vars))
        return self._sch.reindex_cache_read(rv, index, scope, index_map)

    def _pack_param(self, block: Any, index: int, factor: int) -> bool:
        """Relayout the parameter behind read `index` of `block` by Hawk's packing convention (last axis blocked
        by `factor`, blocks outermost; hawk_tvm.prepack) when that parameter is a compile-time constant at every
        call site (CONST_PARAMS): the compile packs the constant once. Returns False, changing nothing, when it
        is not a constant or its last extent does not divide by `factor`."""
        from ..prepack import index_map

        rv = self._block(block)
        region = self._sch.get(rv).reads[index]
        buffer = _region_buffer(region)
        names = [str(getattr(p, "name", "")) for p in self._sch.mod["main"].params]
        name = region_buffer_name(region)
        position = names.index(name) if name in names else None
        factor = int(factor)
        if position is None or position not in self._constants or factor < 1:
            return False
        shape = [int(d) for d in buffer.shape]
        if not shape or shape[-1] % factor:
            return False
        self._sch.transform_layout(rv, ("read", index), index_map(factor))
        return True

    def _conv_as_gemm(self, block: Any, row: int = 0) -> list[Any] | None:
        """An NCHW conv2d block as an implicit GEMM in place (sandbox.conv): [M, N, K, load3d geometry, ...] or None;
        `row` pads output rows to that width (row < 0: geometry only)."""
        from .conv import conv_as_gemm

        return conv_as_gemm(self._sch, self._block(block), int(row))

    def _fmap_nc1hwc0(self, block: Any, c0: int, flat: bool = False, group: int = 0, merge: int = 1) -> None:
        """Lay the feature map written by `block` out as NC1HWC0 with channels padded to `c0` (sandbox.conv);
        `flat` merges H and W (1x1 stride-1 convs); `group` / `merge`: grouped convs (see sandbox.conv)."""
        from .conv import fmap_nc1hwc0

        fmap_nc1hwc0(self._sch, self._block(block), c0, bool(flat), int(group), int(merge))

    def _writes_param(self, block: Any) -> bool:
        """Whether `block` writes a function parameter (an output of the operator)."""
        rv = self._block(block)
        params = self._param_names()
        return any(region_buffer_name(w) in params for w in self._sch.get(rv).writes)

    def _inline_injective(self, keep: Iterable[str] = ()) -> int:
        """Inline every injective block other than `keep` (producers into consumers, then epilogues)."""
        return inline_injective_blocks(
            self._sch, set(keep) | ({self._main} if self._main else set()), self._budget.tick
        )


def block_rv(sch: Any, block: Any) -> Any:
    """`block` as a BlockRV of `sch`: a name is looked up, a BlockRV is returned as it is."""
    return sch.get_sblock(block) if isinstance(block, str) else block


def _is_plain_index(expr: Any, iters: set[str]) -> bool:
    """Whether an index is a constant or one of the block's iterators."""
    from tvm import tirx

    return isinstance(expr, tirx.IntImm) or (isinstance(expr, tirx.Var) and expr.name in iters)


def _region_buffer(region: Any) -> Any:
    """The buffer a read/write region refers to (TensorRegion.source or BufferRegion.buffer)."""
    source = getattr(region, "source", None)
    return source if source is not None else region.buffer


def _region_scope(region: Any) -> str:
    """Storage scope of the buffer of a region ("global" when unset)."""
    scope = _region_buffer(region).scope
    return str(scope() if callable(scope) else scope) or "global"


def _region_bytes(region: Any) -> int:
    """Bytes of the whole buffer a read/write region refers to; -1 for a symbolic shape."""
    buffer = _region_buffer(region)
    try:
        n = math.prod(int(d) for d in buffer.shape)
    except (TypeError, ValueError):
        return -1
    return n * dtype_bytes(str(buffer.dtype))


def _check_annotation(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse annotations that make the code generator read files or splice in foreign code
    (``pragma_import_llvm`` / ``pragma_import_c`` take a file path or LLVM IR / C text)."""
    key = args[1] if len(args) > 1 else kwargs.get("ann_key")
    if not isinstance(key, str):
        raise Refused("annotation key must be a string")
    if "import" in key.lower():
        raise Refused(f"annotation {key!r} is not allowed")


def inline_injective_blocks(sch: Any, keep: set[str], tick: Callable[[], None] = lambda: None) -> int:
    """Inline blocks not in `keep` where TVM allows it; returns how many were inlined."""
    from tvm.s_tir.schedule import ScheduleError

    inlined = 0
    changed = True
    while changed:
        changed = False
        root = sch.get_sblock("root") if _has_block(sch, "root") else None
        blocks = sch.get_child_blocks(root) if root is not None else []
        for block in blocks:
            name = sch.get(block).name_hint
            if name in keep:
                continue
            for inline in (sch.compute_inline, sch.reverse_compute_inline):
                tick()
                try:
                    inline(block)
                except (ScheduleError, RuntimeError, ValueError):
                    continue
                inlined += 1
                changed = True
                break
            if changed:
                break
    return inlined


def _all_blocks(sch: Any) -> list[Any]:
    """Every block under root, depth first, in program order."""
    out: list[Any] = []

    def visit(rv: Any) -> None:
        for child in sch.get_child_blocks(rv):
            out.append(child)
            visit(child)

    visit(sch.get_sblock("root"))
    return out


def _has_block(sch: Any, name: str) -> bool:
    try:
        sch.get_sblock(name)
    except Exception:
        return False
    return True


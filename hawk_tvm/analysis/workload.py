"""Workload extraction: op class, loop nest, shapes, dtypes, FLOPs and bytes of one PrimFunc."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..hardware.profile import dtype_bytes

OP_CLASSES = (
    "matmul",
    "batch_matmul",
    "conv2d",
    "depthwise_conv2d",
    "pool",
    "reduction",
    "softmax",
    "norm",
    "elementwise",
    "injective",
)

@dataclass
class BlockInfo:
    """One block of the PrimFunc: its iterators and what its body computes."""

    name: str
    iter_kinds: str  # "S"/"R" per block iterator, e.g. "SSR"
    extents: list[int]
    reads: list[str]
    writes: list[str]
    ops: set[str] = field(default_factory=set)  # mul, add, max, exp, sqrt, div, ...


@dataclass
class Workload:
    """What Hawk knows about an operator before scheduling it."""

    name: str
    op_class: str
    main_block: str
    blocks: list[BlockInfo]
    spatial: list[int]
    reduce: list[int]
    dtype: str
    in_dtype: str
    arg_shapes: list[tuple[int, ...]]
    arg_dtypes: list[str]
    flops: float
    bytes: float
    structural_key: str
    output_indices: list[int] = field(default_factory=list)
    script: str = ""
    module: Any = None  # the operator as an IRModule with one PrimFunc "main" (operator_module; set by analyze)

    @property
    def block_names(self) -> list[str]:
        """All block names in program order."""
        return [b.name for b in self.blocks]

    def program_env(self, hw_facts: dict[str, Any]) -> dict[str, Any]:
        """The names a schedule program sees (docs/schedule-programs.md)."""
        return {
            "MAIN": self.main_block,
            "BLOCKS": list(self.block_names),
            "OP": self.op_class,
            "SPATIAL": list(self.spatial),
            "REDUCE": list(self.reduce),
            "DTYPE": self.dtype,
            "IN_DTYPE": self.in_dtype,
            "READS": len(next(b for b in self.blocks if b.name == self.main_block).reads),
            "HW": dict(hw_facts),
            "CONST_PARAMS": [],  # parameter positions that are compile-time constants (set by the compile)
        }

    def syntactic_text(self) -> str:
        """Normalised loop-nest tokens for the syntactic retrieval space."""
        main = next(b for b in self.blocks if b.name == self.main_block)
        tokens = [
            f"op_{self.op_class}",
            f"pattern_{main.iter_kinds}",
            f"iters_{len(main.iter_kinds)}",
            f"reduce_{len(self.reduce)}",
            f"blocks_{len(self.blocks)}",
            f"dtype_{self.dtype}",
            f"rank_{len(self.spatial)}",
        ]
        tokens += [f"block_{_normalise_block_name(b.name)}" for b in self.blocks]
        tokens += [f"intrin_{op}" for op in sorted(set().union(*(b.ops for b in self.blocks)))]
        others = [b for b in self.blocks if b.name != self.main_block]
        if others:
            tokens.append("epilogue_elementwise" if all("R" not in b.iter_kinds for b in others) else "multi_reduce")
        return " ".join(tokens)

    def summary(self) -> dict[str, Any]:
        """Short JSON-safe description."""
        return {
            "name": self.name,
            "op_class": self.op_class,
            "main_block": self.main_block,
            "spatial": self.spatial,
            "reduce": self.reduce,
            "dtype": self.dtype,
            "flops": self.flops,
            "bytes": self.bytes,
        }


def _normalise_block_name(name: str) -> str:
    base = name.lower().strip("_")
    for prefix in ("t_", "compute_"):
        base = base.removeprefix(prefix)
    return "".join(ch for ch in base if ch.isalpha() or ch == "_").strip("_") or "block"


def _body_ops(block: Any) -> set[str]:
    import tvm
    import tvm_ffi
    from tvm import tirx

    ops: set[str] = set()
    kinds = {tirx.Mul: "mul", tirx.Add: "add", tirx.Max: "max", tirx.Div: "div", tirx.Select: "select"}
    callbacks = [(cls, lambda _n, name=name: ops.add(name)) for cls, name in kinds.items()]
    extra = {"Min": "min", "Sub": "sub", "FloorDiv": "div", "FloorMod": "mod", "Cast": "cast"}
    for attr, name in extra.items():
        if hasattr(tirx, attr):
            callbacks.append((getattr(tirx, attr), lambda _n, name=name: ops.add(name)))

    def on_call(node: Any) -> None:
        op_name = getattr(getattr(node, "op", None), "name", "")
        short = op_name.split(".")[-1]
        if short:
            ops.add(short)

    callbacks.append((tvm.ir.Call, on_call))
    tvm_ffi.structural_walk(block.body, callbacks)
    if block.init is not None:
        ops.add("init")
    return ops


def _block_infos(func: Any) -> list[BlockInfo]:
    import tvm
    from tvm.s_tir import Schedule

    sch = Schedule(tvm.IRModule({"main": func}))
    infos: list[BlockInfo] = []
    for rv in sch.get_child_blocks(sch.get_sblock("root")):
        _collect(sch, rv, infos)
    return infos


def region_buffer_name(region: Any) -> str:
    """Name of the buffer a block read/write region refers to (TensorRegion.source or BufferRegion.buffer)."""
    source = getattr(region, "source", None)
    if source is None:
        source = getattr(region, "buffer", None)
    name = getattr(source, "name", None)
    if name is None:
        name = getattr(getattr(source, "buffer", None), "name", source)
    return str(name)


def _collect(sch: Any, rv: Any, out: list[BlockInfo]) -> None:
    block = sch.get(rv)
    kinds, extents = [], []
    for iv in block.iter_vars:
        kinds.append("R" if int(iv.iter_type) == 2 else "S")
        extents.append(int(iv.dom.extent) if hasattr(iv.dom.extent, "value") else 1)
    out.append(
        BlockInfo(
            name=block.name_hint,
            iter_kinds="".join(kinds),
            extents=extents,
            reads=[region_buffer_name(r) for r in block.reads],
            writes=[region_buffer_name(w) for w in block.writes],
            ops=_body_ops(block),
        )
    )
    for child in sch.get_child_blocks(rv):
        _collect(sch, child, out)


def _classify(blocks: list[BlockInfo], main: BlockInfo, arg_shapes: list[tuple[int, ...]]) -> str:
    all_ops = set().union(*(b.ops for b in blocks))
    n_reduce_blocks = sum(1 for b in blocks if "R" in b.iter_kinds)
    if "R" not in main.iter_kinds:
        out_shape = arg_shapes[-1] if arg_shapes else ()
        same_shapes = all(tuple(s) == tuple(out_shape) or len(s) == 0 for s in arg_shapes)
        simple = all(b.iter_kinds == main.iter_kinds for b in blocks)
        return "elementwise" if same_shapes and simple else "injective"
    if "exp" in all_ops and n_reduce_blocks >= 2:
        return "softmax"
    if ("sqrt" in all_ops or "rsqrt" in all_ops) and n_reduce_blocks >= 1:
        return "norm"
    n_s, n_r = main.iter_kinds.count("S"), main.iter_kinds.count("R")
    has_mul = "mul" in main.ops
    if has_mul and len(main.reads) >= 2:
        if n_r == 1 and n_s == 2:
            return "matmul"
        if n_r == 1 and n_s >= 3:
            return "batch_matmul"
        if n_r == 3 and n_s == 4:
            return "conv2d"
        if n_r == 2 and n_s == 4:
            return "depthwise_conv2d"
    if n_r == 2 and n_s == 4 and ("max" in main.ops or not has_mul):
        return "pool"
    return "reduction"


def _pick_main(blocks: list[BlockInfo]) -> BlockInfo:
    reducing = [b for b in blocks if "R" in b.iter_kinds]
    if reducing:
        return max(reducing, key=lambda b: (_prod(b.extents), "mul" in b.ops))
    return blocks[-1]


def _prod(values: list[int]) -> int:
    result = 1
    for v in values:
        result *= max(1, int(v))
    return result


def _arg_infos(func: Any) -> list[Any]:
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo

    return list(ArgInfo.from_prim_func(func))


def structural_key_of(func: Any) -> str:
    """A name-independent key of a PrimFunc's computation and shapes (used to de-duplicate tasks)."""
    import tvm_ffi

    bare = func.without_attr("global_symbol") if "global_symbol" in (func.attrs or {}) else func
    return hashlib.sha1(str(tvm_ffi.structural_hash(bare, map_free_vars=True)).encode()).hexdigest()[:16]


def operator_module(func: Any) -> Any:
    """The operator as an IRModule whose one PrimFunc is "main" (what candidates are applied to and measured)."""
    import tvm

    return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})


def analyze(func: Any, name: str = "main") -> Workload:
    """Analyse a PrimFunc (TensorIR with blocks) into a Workload."""
    blocks = _block_infos(func)
    if not blocks:
        raise ValueError(f"{name}: PrimFunc has no blocks to schedule")
    main = _pick_main(blocks)
    arg_shapes, arg_dtypes = [], []
    for info in _arg_infos(func):
        arg_shapes.append(tuple(int(d) for d in info.shape))
        arg_dtypes.append(str(info.dtype))
    written = {w for b in blocks for w in b.writes}
    param_names = [str(getattr(p, "name", "")) for p in func.params]
    outputs = [i for i, n in enumerate(param_names) if n in written] or [len(param_names) - 1]
    op_class = _classify(blocks, main, arg_shapes)
    spatial = [e for k, e in zip(main.iter_kinds, main.extents) if k == "S"]
    reduce = [e for k, e in zip(main.iter_kinds, main.extents) if k == "R"]
    flops = 0.0
    for b in blocks:
        per_point = 2.0 if ("mul" in b.ops and "add" in b.ops) else 1.0
        flops += per_point * _prod(b.extents)
    nbytes = float(sum(_prod(list(s)) * dtype_bytes(d) for s, d in zip(arg_shapes, arg_dtypes)))
    out_dtype = arg_dtypes[-1] if arg_dtypes else "float32"
    in_dtype = arg_dtypes[0] if arg_dtypes else out_dtype
    structural_key = structural_key_of(func)
    return Workload(
        name=name,
        op_class=op_class,
        main_block=main.name,
        blocks=blocks,
        spatial=spatial,
        reduce=reduce,
        dtype=out_dtype,
        in_dtype=in_dtype,
        arg_shapes=arg_shapes,
        arg_dtypes=arg_dtypes,
        flops=flops,
        bytes=nbytes,
        structural_key=structural_key,
        output_indices=outputs,
        script=func.script() if hasattr(func, "script") else str(func),
        module=operator_module(func),
    )

"""Loop-tree extraction: a scheduled PrimFunc, partly lowered, as a small Python tree the simulator analyses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..hardware.profile import dtype_bytes
from .intrinsics import INTRIN_ATTR, LOAD3D_ATTR, load3d_geometry

SERIAL, PARALLEL, VECTORIZED, UNROLLED = 0, 1, 2, 3
PIPELINE_STAGE = "software_pipeline_stage"
DOUBLE_BUFFER = "double_buffer_scope"


@dataclass
class BufferInfo:
    """A buffer as the simulator sees it."""

    name: str
    scope: str
    dtype: str
    shape: tuple[int, ...]
    handle: Any = field(repr=False, compare=False, default=None)

    @property
    def elem_bytes(self) -> int:
        """Bytes per element."""
        return dtype_bytes(self.dtype)

    @property
    def nbytes(self) -> int:
        """Allocated bytes (0 for symbolic shapes)."""
        return math.prod(self.shape) * self.elem_bytes if all(s >= 0 for s in self.shape) else 0


@dataclass
class Access:
    """One buffer access of a leaf: buffer and index expressions."""

    buffer: BufferInfo
    indices: list[Any]


@dataclass
class Leaf:
    """A statement the hardware executes: ``move`` (copy across scopes), ``fill``, ``compute`` or ``mma``.

    `nest` holds the loops folded into a move (one DMA transfer covers them), outermost first.
    """

    kind: str
    name: str
    store: Access | None
    loads: list[Access]
    ops: int = 0
    nest: list[Loop] = field(default_factory=list)
    fused: int = 0  # multiply-adds (``c + a * b``) among `ops`: one vector multiply-accumulate instruction each
    intrin: dict[str, Any] | None = None
    double_buffered: bool = False
    valid: float = 1.0  # padded move (``if_then_else(in_bounds, load, 0)``): share of the tile read from the source

    @property
    def elements(self) -> int:
        """Elements per execution (a move's whole transfer)."""
        return math.prod(lp.extent for lp in self.nest) if self.nest else 1

    def buffers(self) -> list[BufferInfo]:
        """Every buffer the leaf touches."""
        return ([self.store.buffer] if self.store else []) + [a.buffer for a in self.loads]


@dataclass
class Loop:
    """A loop with a constant extent (a symbolic one: its upper bound over the enclosing loops, else 1)."""

    var: Any
    name: str
    extent: int
    kind: int
    annotations: dict[str, Any]
    body: list[Node] = field(default_factory=list)
    overlapped: bool = False

    @property
    def pipelined(self) -> bool:
        """Software-pipelined (stages overlap across iterations)."""
        return PIPELINE_STAGE in self.annotations


@dataclass
class Seq:
    """Statements run in order, with the buffers allocated at this point; `weight` < 1 under a rare branch."""

    body: list[Node] = field(default_factory=list)
    allocs: list[BufferInfo] = field(default_factory=list)
    weight: float = 1.0
    name: str = ""


Node = Loop | Seq | Leaf


def prepare(mod: Any) -> Any:
    """Partly lower a scheduled module for analysis: blocks opaque, allocations placed and compacted."""
    import tvm
    from tvm import s_tir

    seq = tvm.transform.Sequential([
        s_tir.transform.CanonicalizeLoop(),
        s_tir.transform.LowerInitBlock(),
        s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
        s_tir.transform.ConvertBlocksToOpaque(),
        s_tir.transform.CompactBufferAllocation(),
        s_tir.transform.StmtSimplify(),
    ])
    return seq(mod)


def buffer_info(buf: Any) -> BufferInfo:
    """BufferInfo of a TVM buffer."""
    shape = tuple(int(s.value) if hasattr(s, "value") else -1 for s in buf.shape)
    return BufferInfo(str(buf.name), str(buf.scope()) or "global", str(buf.dtype), shape, buf)


class _Extractor:
    """Builds the tree from the partly lowered PrimFunc."""

    def __init__(self) -> None:
        import tvm
        from tvm import tirx

        self.tvm, self.tirx = tvm, tirx
        names = ("Add", "Sub", "Mul", "Div", "Mod", "FloorDiv", "FloorMod", "Min", "Max", "Select",
                 "EQ", "NE", "LT", "LE", "GT", "GE", "And", "Or", "Not")
        ops = [getattr(tirx, n) for n in names if isinstance(getattr(tirx, n, None), type)]
        call = getattr(tvm.ir, "Call", None) or getattr(tirx, "Call", None)
        if isinstance(call, type):
            ops.append(call)
        self.op_types = tuple(ops)
        self.load_type = tvm.ir.TensorLoad
        self.buffers: dict[int, BufferInfo] = {}
        self.loops: list[Loop] = []

    def info(self, buf: Any) -> BufferInfo:
        key = int(buf.id_)
        if key not in self.buffers:
            self.buffers[key] = buffer_info(buf)
        return self.buffers[key]

    def expr(self, value: Any) -> tuple[list[Access], int, int]:
        """(loads, element ops, multiply-adds among them) of an expression."""
        import tvm_ffi

        tirx = self.tirx
        loads: list[Access] = []
        ops = [0, 0]

        def on_load(node: Any, visitor: Any) -> None:
            loads.append(Access(self.info(node.source), list(node.indices)))

        def on_add(node: Any, visitor: Any) -> None:
            ops[0] += 1
            if isinstance(self.uncast(node.a), tirx.Mul) or isinstance(self.uncast(node.b), tirx.Mul):
                ops[1] += 1
            visitor.default_visit(node)

        def on_op(node: Any, visitor: Any) -> None:
            ops[0] += 1
            visitor.default_visit(node)

        def other(node: Any, visitor: Any) -> None:
            visitor.default_visit(node)

        tvm_ffi.structural_visit(value, [(self.load_type, on_load), (tirx.Add, on_add), (self.op_types, on_op),
                                         (object, other)])
        return loads, ops[0], ops[1]

    def stmt(self, s: Any, db: bool = False) -> list[Node]:
        tirx, s_tir = self.tirx, self.tvm.s_tir
        if isinstance(s, tirx.SeqStmt):
            return [n for child in s.seq for n in self.stmt(child, db)]
        if isinstance(s, tirx.For):
            return [self.loop(s, db)]
        if isinstance(s, s_tir.SBlockRealize):
            return self.block(s.block, db)
        if isinstance(s, tirx.BufferStore):
            return [self.store(s, db)]
        if isinstance(s, tirx.IfThenElse):
            then = Seq(self.stmt(s.then_case, db), weight=self.branch_weight(s.condition))
            out: list[Node] = [then]
            if s.else_case is not None:
                out.append(Seq(self.stmt(s.else_case, db), weight=1.0 - then.weight if then.weight < 1 else 1.0))
            return out
        body = getattr(s, "body", None)
        return self.stmt(body, db) if body is not None else []

    def branch_weight(self, cond: Any) -> float:
        """Fraction of iterations a condition holds: ``v == c`` on a loop var counts once per loop."""
        tirx = self.tirx
        if isinstance(cond, tirx.And):
            return self.branch_weight(cond.a) * self.branch_weight(cond.b)
        if isinstance(cond, tirx.EQ):
            for side in (cond.a, cond.b):
                for lp in self.loops:
                    if lp.var.same_as(side):
                        return 1.0 / max(1, lp.extent)
        return 1.0

    def loop(self, s: Any, db: bool) -> Node:
        ext = int(s.extent.value) if hasattr(s.extent, "value") else self.extent_bound(s.extent)
        ann = {str(k): v for k, v in s.annotations.items()}
        lp = Loop(s.loop_var, str(s.loop_var.name), ext, int(s.kind), ann)
        self.loops.append(lp)
        try:
            lp.body = self.stmt(s.body, db)
        finally:
            self.loops.pop()
        inner = lp.body[0] if len(lp.body) == 1 else None
        if isinstance(inner, Seq) and len(inner.body) == 1 and not inner.allocs and inner.weight == 1.0:
            inner = inner.body[0]
        if isinstance(inner, Leaf) and inner.kind == "move" and lp.kind in (SERIAL, VECTORIZED) and not lp.annotations:
            inner.nest.insert(0, lp)  # one DMA transfer covers this loop (unrolled loops issue one each)
            return inner
        if any(isinstance(n, Leaf) and n.double_buffered for n in _flat(lp.body)):
            lp.overlapped = True
        return lp

    def extent_bound(self, extent: Any) -> int:
        """The largest value a loop extent that depends on enclosing loops can take (a tail tile's copy is charged
        as a full one, never as a single iteration); 1 when it cannot be bounded."""
        from tvm.sym import Analyzer

        tirx, tvm = self.tirx, self.tvm
        ana = Analyzer()
        for lp in self.loops:
            dt = str(lp.var.ty)
            ana.bind(lp.var, tvm.ir.Range.from_min_extent(tirx.const(0, dt), tirx.const(max(1, lp.extent), dt)))
        bound = ana.const_int_bound(extent).max_value
        return int(bound) if 0 < bound < 1 << 31 else 1

    def block(self, blk: Any, db: bool) -> list[Node]:
        ann = {str(k): v for k, v in blk.annotations.items()}
        if INTRIN_ATTR in ann:
            return [self.mma(blk, str(ann[INTRIN_ATTR]))]
        db = db or DOUBLE_BUFFER in ann
        body = self.stmt(blk.body, db)
        if LOAD3D_ATTR in ann:  # an img2col copy L1 -> L0A: checked and charged as the MTE1 load3d instruction
            geo = load3d_geometry(str(ann[LOAD3D_ATTR]))
            for leaf in _flat(body):
                if isinstance(leaf, Leaf):
                    leaf.intrin = {"name": "load3d", "geometry": geo, "raw": str(ann[LOAD3D_ATTR])}
        allocs = [self.info(b) for b in blk.alloc_buffers]
        if not allocs:
            return body
        return [Seq(body, allocs, name=str(blk.name_hint))]

    def store(self, s: Any, db: bool) -> Leaf:
        dst = Access(self.info(s.buffer), list(s.indices))
        loads, ops, fused = self.expr(s.value)
        value = self.uncast(s.value)
        valid = 1.0
        padded = self.padded_load(value)
        if padded is not None:
            value, valid = padded
        if not loads:
            kind = "fill"
        elif isinstance(value, self.load_type) and len(loads) == 1 and loads[0].buffer.scope != dst.buffer.scope:
            kind = "move"
        else:
            kind, valid = "compute", 1.0
        return Leaf(kind, dst.buffer.name, dst, loads, ops, double_buffered=db, valid=valid, fused=fused)

    def uncast(self, value: Any) -> Any:
        """`value` without the casts around it (casts are free: the data a statement moves or combines)."""
        while isinstance(value, self.tirx.Cast):
            value = value.value
        return value

    def padded_load(self, value: Any) -> tuple[Any, float] | None:
        """``if_then_else(cond, load, constant)``: a transfer that reads the valid region and fills the rest with
        the constant, as the movers do (Ascend C DataCopyPad, ND2NZ copies to fractal-padded tiles); returns the
        load and the share of the tile `cond` keeps (over the enclosing loops), else None."""
        tirx = self.tirx
        call = getattr(self.tvm.ir, "Call", None) or getattr(tirx, "Call", None)
        if not (isinstance(value, call) and str(getattr(value.op, "name", "")).endswith(".if_then_else")):
            return None
        cond, then, other = value.args
        then = self.uncast(then)
        consts = (tirx.IntImm, tirx.FloatImm)
        if isinstance(then, consts) and not isinstance(other, consts):  # if_then_else(out_of_bounds, 0, load)
            kept = self.padded_load(other) or (other, 1.0)
            if isinstance(kept[0], self.load_type):
                dropped = self.valid_fraction(cond)  # 1.0 means "cannot tell": keep the whole transfer
                return kept[0], kept[1] * (1.0 - dropped) if dropped < 1.0 else kept[1]
        inner = self.padded_load(then)  # nested bounds (conv padding inside a GEMM-tile padding)
        if inner is not None and isinstance(other, (tirx.IntImm, tirx.FloatImm)):
            return inner[0], inner[1] * self.valid_fraction(cond)
        if not isinstance(then, self.load_type) or not isinstance(other, (tirx.IntImm, tirx.FloatImm)):
            return None
        return then, self.valid_fraction(cond)

    def valid_fraction(self, cond: Any) -> float:
        """Share of the iterations of the enclosing loops where `cond` (a conjunction of ``expr < c``-style
        bounds) holds, from the bounds of each side; 1.0 where it cannot tell."""
        tirx, tvm = self.tirx, self.tvm
        if isinstance(cond, tirx.And):
            return self.valid_fraction(cond.a) * self.valid_fraction(cond.b)
        from tvm.sym import Analyzer

        ana = Analyzer()
        for lp in self.loops:
            dt = str(lp.var.ty)
            ana.bind(lp.var, tvm.ir.Range.from_min_extent(tirx.const(0, dt), tirx.const(max(1, lp.extent), dt)))
        if not isinstance(cond, (tirx.LT, tirx.LE, tirx.GT, tirx.GE)):
            return 1.0
        lo, hi = (cond.a, cond.b) if isinstance(cond, (tirx.LT, tirx.LE)) else (cond.b, cond.a)  # lo < hi
        closed = 1 if isinstance(cond, (tirx.LE, tirx.GE)) else 0
        if isinstance(hi, tirx.IntImm) == isinstance(lo, tirx.IntImm):
            return 1.0
        b = ana.const_int_bound(lo if isinstance(hi, tirx.IntImm) else hi)
        span = b.max_value - b.min_value + 1
        if span <= 0 or span > 1 << 40:
            return 1.0
        kept = hi.value - b.min_value if isinstance(hi, tirx.IntImm) else b.max_value - lo.value  # [min, c) or (c, max]
        return min(1.0, max(0.0, (kept + closed) / span))

    def mma(self, blk: Any, name: str) -> Leaf:
        writes = [self.info(r.source) for r in blk.writes]
        reads = [self.info(r.source) for r in blk.reads if not any(r.source.same_as(w.handle) for w in writes)]
        c = writes[0] if writes else None
        a, b = ([*reads, None, None])[:2]
        info: dict[str, Any] = {"name": name}
        if a is not None and b is not None and c is not None and len(a.shape) == 2 and len(c.shape) == 2:
            info.update(m=c.shape[0], n=c.shape[1], k=a.shape[1], in_dtype=a.dtype, out_dtype=c.dtype,
                        scope_a=a.scope, scope_b=b.scope, scope_c=c.scope)
        loads = [Access(x, []) for x in (a, b) if x is not None]
        return Leaf("mma", name, Access(c, []) if c else None, loads, intrin=info)


def _flat(nodes: list[Node]) -> list[Node]:
    """The nodes of the list and, through Seq, their direct statements (not into loops)."""
    out: list[Node] = []
    for n in nodes:
        out.append(n)
        if isinstance(n, Seq):
            out.extend(_flat(n.body))
    return out


@dataclass
class Tree:
    """The extracted program: top-level nodes, function parameters, and every buffer seen."""

    body: list[Node]
    params: list[BufferInfo]
    buffers: list[BufferInfo]


def extract(mod: Any, prepared: bool = False) -> Tree:
    """Tree of the module's main PrimFunc (partly lowered with `prepare` unless `prepared`)."""
    import tvm

    from .functional import main_func

    if isinstance(mod, tvm.tirx.PrimFunc):
        mod = tvm.IRModule({"main": mod})
    lowered = mod if prepared else prepare(mod)
    func = main_func(lowered)
    ex = _Extractor()
    params = [ex.info(p) for p in func.params if hasattr(p, "shape")]
    body = ex.stmt(func.body)
    return Tree(body, params, list(ex.buffers.values()))


def walk(nodes: list[Node]) -> list[tuple[Node, list[Loop]]]:
    """Every node with its enclosing loops (outermost first), pre-order."""
    out: list[tuple[Node, list[Loop]]] = []

    def go(ns: list[Node], stack: list[Loop]) -> None:
        for n in ns:
            out.append((n, stack))
            if isinstance(n, Loop):
                go(n.body, [*stack, n])
            elif isinstance(n, Seq):
                go(n.body, stack)

    go(nodes, [])
    return out

"""ScheduleSandbox: checks an untrusted schedule program against a whitelist and applies it to a Schedule."""

from __future__ import annotations

import ast
import copy
import functools
import math
import operator
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .analysis.workload import dtype_bytes, region_buffer_name
from .errors import HawkError

# Schedule methods a program may call (tvm.s_tir.Schedule). Nothing that reads or writes files,
# nothing that hands out the raw IR objects (mod, state, trace, get), nothing random.
ALLOWED_METHODS = frozenset(
    {
        "get_sblock",
        "get_loops",
        "get_child_blocks",
        "get_producers",
        "get_consumers",
        "get_output_blocks",
        "split",
        "fuse",
        "reorder",
        "merge",
        "add_unit_loop",
        "loop_partition",
        "parallel",
        "vectorize",
        "unroll",
        "bind",
        "cache_read",
        "cache_write",
        "reindex",
        "reindex_cache_read",
        "reindex_cache_write",
        "cache_inplace",
        "set_scope",
        "compute_at",
        "reverse_compute_at",
        "compute_inline",
        "reverse_compute_inline",
        "decompose_reduction",
        "decompose_padding",
        "pad_einsum",
        "rfactor",
        "blockize",
        "tensorize",
        "annotate",
        "unannotate",
        "storage_align",
        "transform_layout",
        "transform_block_layout",
        # Hawk extensions (trusted helpers implemented below)
        "inline_injective",
        "main_loops",
        "block_names",
        "iter_kinds",
        "extents",
        "num_reads",
        "param_reads",
        "offchip_reads",
        "read_bytes",
        "plain_cache_read",
        "pack_param",
        "writes_param",
    }
)


class _Refused(Exception):
    """Internal: a construct outside the whitelist, or a program that exceeded a budget."""


MAX_PROGRAM_CHARS = 20_000
MAX_DEPTH = 40  # deepest AST nesting (deeper trees crash the compiler's recursion)
MAX_LITERAL = 1 << 20  # no number above this (huge allocations, pow bombs)
MAX_INT = 1 << 62  # no integer value above this at run time
MAX_STRING = 200
MAX_LOOP_RANGE = 1024  # bounded loops over small ranges only
MAX_SEQUENCE = 10_000  # longest list/tuple/str a program may build
MAX_ELEMENTS = 2_000_000  # elements a program may build in total (all lists/tuples/strings together)
MAX_ITERATIONS = 10_000  # loop iterations per program (all loops together)
MAX_STARRED = 256  # longest sequence a `*x` may spread
MAX_STARS = 8  # `*x` per call or display
MAX_ZIP = 8  # iterables zip may take
MAX_DIVISOR_ARG = 1 << 40  # divisors(n) costs sqrt(n)
MAX_STEPS = 2_000  # schedule calls per program
DEFAULT_TIMEOUT_S = 10.0


def bounded_range(*args: int) -> range:
    """`range` limited to MAX_LOOP_RANGE iterations."""
    r = range(*[int(a) for a in args])
    if len(r) > MAX_LOOP_RANGE:
        raise _Refused(f"range of {len(r)} iterations exceeds {MAX_LOOP_RANGE}")
    return r


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}
_OP_SYMBOLS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_SEQUENCES = (list, tuple, str)


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise _Refused(f"integer larger than {MAX_INT}")
    return value


def _binop(op: str, a: Any, b: Any) -> Any:
    """Arithmetic with size guards: no sequence, string or integer that grows past the limits."""
    if op not in _OPS:
        raise _Refused(f"operator {op} not allowed")
    if op == "%" and isinstance(a, (str, bytes)):
        raise _Refused("string formatting with % is not allowed")
    if op == "*":
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, _SEQUENCES) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                raise _Refused(f"sequence repetition longer than {MAX_SEQUENCE}")
    if op == "+" and isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES) and len(a) + len(b) > MAX_SEQUENCE:
        raise _Refused(f"sequence concatenation longer than {MAX_SEQUENCE}")
    if op == "**" and isinstance(b, (int, float)) and abs(b) > 64:
        raise _Refused("exponent too large")
    return _check_int(_OPS[op](a, b))


class _Limits:
    """Per-run budgets (schedule calls, loop iterations, elements built) and the guarded builtins bound to them.

    They bound a program's work without a timer, so a program cannot run away even off the main thread
    (where the SIGALRM time limit does not apply).
    """

    def __init__(
        self, max_steps: int = MAX_STEPS, max_iterations: int = MAX_ITERATIONS, max_elements: int = MAX_ELEMENTS
    ) -> None:
        self.max_steps, self.max_iterations, self.max_elements = max_steps, max_iterations, max_elements
        self.steps = self.iterations = self.elements_built = 0

    @property
    def used(self) -> int:
        """Schedule calls so far."""
        return self.steps

    def tick(self) -> None:
        """Count one schedule call."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise _Refused(f"more than {self.max_steps} schedule calls")

    def iteration(self) -> None:
        """Count one loop iteration."""
        self.iterations += 1
        if self.iterations > self.max_iterations:
            raise _Refused(f"more than {self.max_iterations} loop iterations")

    def built(self, n: int) -> None:
        """Count n elements built."""
        self.elements_built += max(0, int(n))
        if self.elements_built > self.max_elements:
            raise _Refused(f"program built more than {self.max_elements} elements")

    def binop(self, op: str, a: Any, b: Any) -> Any:
        """`_binop` that also charges the elements it builds."""
        result = _binop(op, a, b)
        if isinstance(result, _SEQUENCES) and result is not a and result is not b:
            self.built(len(result))
        return result

    def star(self, value: Any) -> list[Any]:
        """The target of `*value`, bounded."""
        items = self.list(value, limit=MAX_STARRED)
        return items

    def list(self, iterable: Iterable[Any] = (), limit: int = MAX_SEQUENCE) -> list[Any]:
        """`list` that stops at `limit` elements."""
        out: list[Any] = []
        for item in iterable:
            out.append(item)
            if len(out) > limit:
                raise _Refused(f"sequence longer than {limit}")
        self.built(len(out))
        return out

    def tuple(self, iterable: Iterable[Any] = ()) -> tuple[Any, ...]:
        """`tuple` that stops at MAX_SEQUENCE elements."""
        return tuple(self.list(iterable))

    def sum(self, iterable: Iterable[Any], start: Any = 0) -> Any:
        """`sum` of numbers only (no list or string concatenation)."""
        total = start
        for item in self.list(iterable):
            if not isinstance(item, (int, float)) or not isinstance(total, (int, float)):
                raise _Refused("sum is for numbers only")
            total = _check_int(total + item)
        return total

    def zip(self, *iterables: Iterable[Any]) -> Iterable[tuple[Any, ...]]:
        """`zip` of at most MAX_ZIP iterables."""
        if len(iterables) > MAX_ZIP:
            raise _Refused(f"zip of more than {MAX_ZIP} sequences")
        return zip(*iterables, strict=False)

    def int(self, *args: Any) -> int:
        """`int` with the integer bound."""
        return _check_int(int(*args))

    def divisors(self, n: int) -> list[int]:
        """`divisors` charged for its sqrt(n) work."""
        n = int(n)
        if n > MAX_DIVISOR_ARG:
            raise _Refused(f"divisors of a number above {MAX_DIVISOR_ARG}")
        self.built(math.isqrt(max(n, 0)))
        return divisors(n)

    def largest_divisor(self, n: int, cap: int, multiple: int = 1) -> int:
        """`largest_divisor` charged like `divisors`."""
        self.divisors(n)
        return largest_divisor(n, cap, multiple)

    def scope(self, env: Mapping[str, Any]) -> dict[str, Any]:
        """Globals for one run: guarded builtins, helpers, the environment, the instrumentation hooks."""
        guarded = {
            "range": bounded_range,
            "list": self.list,
            "tuple": self.tuple,
            "sum": self.sum,
            "zip": self.zip,
            "int": self.int,
            "divisors": self.divisors,
            "largest_divisor": self.largest_divisor,
        }
        scope: dict[str, Any] = {"__builtins__": {}, **SAFE_BUILTINS, **HELPERS, **guarded, **env}
        scope.update(_hawk_binop=self.binop, _hawk_iter=self.iteration, _hawk_star=self.star)
        return scope


class _Instrument(ast.NodeTransformer):
    """Routes arithmetic, augmented assignment, loop bodies and `*x` through the run's guards.

    Applied after the whitelist check, so the `_hawk_*` names it inserts are unreachable from programs.
    """

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(_guard_call(node.op, node.left, node.right), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        target = node.target
        if isinstance(target, ast.Name):
            load: ast.expr = ast.Name(target.id, ast.Load())
        elif isinstance(target, ast.Subscript):
            load = ast.Subscript(copy.deepcopy(target.value), copy.deepcopy(target.slice), ast.Load())
        else:  # refused by the whitelist check; kept for safety
            raise _Refused("augmented assignment to this target is not allowed")
        return ast.copy_location(ast.Assign([target], _guard_call(node.op, load, node.value)), node)

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        tick = ast.Expr(ast.Call(ast.Name("_hawk_iter", ast.Load()), [], []))
        node.body = [tick, *node.body]
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = ast.Call(ast.Name("_hawk_star", ast.Load()), [node.value], [])
        return node


def _guard_call(op: ast.operator, left: ast.expr, right: ast.expr) -> ast.Call:
    symbol = _OP_SYMBOLS.get(type(op))
    if symbol is None:
        raise _Refused(f"operator {type(op).__name__} not allowed")
    return ast.Call(ast.Name("_hawk_binop", ast.Load()), [ast.Constant(symbol), left, right], [])


def _compile_guarded(source: str, mode: str) -> Any:
    tree = _Instrument().visit(ast.parse(source, mode=mode))
    return compile(ast.fix_missing_locations(tree), "<hawk-" + mode + ">", mode)


SAFE_BUILTINS: dict[str, Any] = {
    "min": min,
    "max": max,
    "abs": abs,
    "len": len,
    "range": bounded_range,
    "int": int,
    "list": list,
    "tuple": tuple,
    "enumerate": enumerate,
    "zip": zip,
    "sum": sum,
    "reversed": reversed,
    "True": True,
    "False": False,
    "None": None,
}

_ALLOWED_NODES: tuple[type, ...] = (
    ast.Module,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Call,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.keyword,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.If,
    ast.For,
    ast.Pass,
    ast.Continue,
    ast.Break,
    ast.Starred,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.FloorDiv,
    ast.Mod,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
)


@functools.lru_cache(maxsize=4096)
def _divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(sorted(set(small + [n // d for d in small])))


def ceil_div(a: int, b: int) -> int:
    """Ceiling division."""
    return -(-int(a) // int(b))


def divisors(n: int) -> list[int]:
    """Divisors of n in increasing order."""
    return list(_divisors(int(n)))


def largest_divisor(n: int, cap: int, multiple: int = 1) -> int:
    """Largest divisor of n that is <= cap and a multiple of `multiple` (falls back to the largest <= cap)."""
    cands = [d for d in divisors(n) if d <= max(1, int(cap))]
    aligned = [d for d in cands if d % max(1, int(multiple)) == 0]
    return max(aligned or cands or [1])


HELPERS: dict[str, Callable[..., Any]] = {
    "ceil_div": ceil_div,
    "divisors": divisors,
    "largest_divisor": largest_divisor,
}


@dataclass
class ProgramEnv:
    """The names a program sees besides `sch` and the helpers (workload facts, HW, parameters)."""

    values: dict[str, Any] = field(default_factory=dict)


def check_program(source: str, extra_names: Iterable[str] = ()) -> HawkError | None:
    """Parse and check `source` against the whitelist; None when acceptable."""
    return _check_source(source, "exec")


def check_expression(source: str) -> HawkError | None:
    """Check a single expression (a `when` test or a parameter expression)."""
    return _check_source(source, "eval")


def _check_source(source: str, mode: str) -> HawkError | None:
    if not isinstance(source, str):
        return HawkError("sandbox.refused", f"program must be text, not {type(source).__name__}")
    if len(source) > MAX_PROGRAM_CHARS:
        return HawkError("sandbox.refused", f"program longer than {MAX_PROGRAM_CHARS} characters")
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as err:
        where = f" in expression {source!r}" if mode == "eval" else f" (line {err.lineno})"
        return HawkError("sandbox.syntax", f"{err.msg}{where}", {"line": err.lineno})
    except (RecursionError, MemoryError, ValueError) as err:
        return HawkError("sandbox.refused", f"program cannot be parsed safely ({type(err).__name__})")
    try:
        _check_tree(tree)
    except _Refused as err:
        return HawkError("sandbox.refused", str(err))
    return None


def _check_depth(tree: ast.AST) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Refused(f"expression nested deeper than {MAX_DEPTH} (line {getattr(node, 'lineno', '?')})")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_tree(tree: ast.AST) -> None:
    _check_depth(tree)
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression):
            continue
        line = getattr(node, "lineno", "?")
        if not isinstance(node, _ALLOWED_NODES):
            raise _Refused(f"construct {type(node).__name__} is not allowed (line {line})")
        parent = parents.get(node)
        called = isinstance(parent, ast.Call) and parent.func is node
        if isinstance(node, ast.Name):
            _check_name(node, called)
        if isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id == "sch"):
                raise _Refused(f"attribute access .{node.attr} is only allowed on sch (line {line})")
            if node.attr not in ALLOWED_METHODS:
                raise _Refused(f"sch.{node.attr} is not an allowed schedule method")
            if not called:
                raise _Refused(f"sch.{node.attr} may only be called, not used as a value (line {line})")
        if isinstance(node, ast.Constant):
            _check_constant(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not _small_int_literal(node.right):
            raise _Refused("exponent must be a small literal")
        if isinstance(node, ast.AugAssign):
            if not isinstance(node.target, (ast.Name, ast.Subscript)):
                raise _Refused(f"augmented assignment to {type(node.target).__name__} is not allowed")
            if isinstance(node.op, ast.Pow) and not _small_int_literal(node.value):
                raise _Refused("exponent must be a small literal")
        if isinstance(node, ast.For):
            _check_loop(node)
        if isinstance(node, (ast.Call, ast.List, ast.Tuple)):
            items = node.args if isinstance(node, ast.Call) else node.elts
            if sum(isinstance(x, ast.Starred) for x in items) > MAX_STARS:
                raise _Refused(f"more than {MAX_STARS} starred arguments (line {line})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in _CALLABLE_NAMES:
            raise _Refused(f"call of {node.func.id!r} is not allowed")
        if isinstance(node, ast.Call) and not isinstance(node.func, (ast.Name, ast.Attribute)):
            raise _Refused("only direct calls of named helpers or sch methods are allowed")


def _check_name(node: ast.Name, called: bool) -> None:
    if node.id.startswith("_") or node.id in _FORBIDDEN_NAMES:
        raise _Refused(f"name {node.id!r} is not allowed")
    if isinstance(node.ctx, ast.Store) and node.id in _PROTECTED_NAMES:
        raise _Refused(f"assigning to {node.id!r} is not allowed")
    if node.id in _CALLABLE_NAMES and not called:
        raise _Refused(f"helper {node.id!r} may only be called, not used as a value")


_FORBIDDEN_NAMES = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "type",
        "object",
        "super",
        "input",
        "help",
        "breakpoint",
        "memoryview",
        "bytearray",
        "bytes",
        "classmethod",
        "staticmethod",
        "property",
        "isinstance",
        "issubclass",
        "id",
        "hash",
        "iter",
        "next",
        "print",
        "format",
        "chr",
        "ord",
        "callable",
        "__builtins__",
        "__import__",
        "import_module",
    }
)
_CALLABLE_NAMES = frozenset(set(SAFE_BUILTINS) | set(HELPERS)) - {"True", "False", "None"}
_PROTECTED_NAMES = _CALLABLE_NAMES | {"sch"}


def _small_int_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value <= 64


def _check_constant(value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int) and abs(value) > MAX_LITERAL:
        raise _Refused(f"literal {value} is too large")
    if isinstance(value, float) and (abs(value) > MAX_LITERAL or math.isnan(value)):
        raise _Refused(f"literal {value} is not allowed")
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise _Refused("string literal too long")
    if not isinstance(value, (int, float, str)):
        raise _Refused(f"literal of type {type(value).__name__} is not allowed")


def _check_loop(node: ast.For) -> None:
    if node.orelse:
        raise _Refused("for-else is not allowed")
    it = node.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
        for arg in it.args:
            if not isinstance(arg, (ast.Constant, ast.Name, ast.Call, ast.BinOp, ast.Subscript, ast.UnaryOp)):
                raise _Refused("range bounds must be simple expressions")
        return
    if isinstance(it, (ast.Name, ast.List, ast.Tuple, ast.Call, ast.Subscript)):
        return  # iterating a list of loop RVs / enumerate / zip; bounded at run time
    raise _Refused("for loops may only iterate range(...) or a list")


_EXTENSIONS = ("block_names", "iter_kinds", "extents", "num_reads", "param_reads", "offchip_reads", "read_bytes",
               "writes_param", "plain_cache_read", "pack_param")


class ScheduleProxy:
    """What a program sees as `sch`: whitelisted methods of a `tvm.s_tir.Schedule`, plus Hawk helpers."""

    __slots__ = ("_budget", "_constants", "_main", "_sch")

    def __init__(self, sch: Any, budget: _Limits, main: str | None, constants: Iterable[int] = ()) -> None:
        object.__setattr__(self, "_sch", sch)
        object.__setattr__(self, "_budget", budget)
        object.__setattr__(self, "_main", main)
        object.__setattr__(self, "_constants", frozenset(int(i) for i in constants))

    def __getattr__(self, name: str) -> Any:
        if name not in ALLOWED_METHODS:
            raise _Refused(f"sch.{name} is not an allowed schedule method")
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
        raise _Refused("assigning attributes of sch is not allowed")

    def _main_loops(self) -> list[Any]:
        self._budget.tick()
        return self._sch.get_loops(self._sch.get_sblock(self._main))

    def _block_names(self) -> list[str]:
        """Names of the blocks that remain, in program order."""
        self._budget.tick()
        return [self._sch.get(b).name_hint for b in _all_blocks(self._sch)]

    def _iter_kinds(self, block: Any) -> str:
        """'S'/'R' per iterator of `block` (a BlockRV or a name), e.g. 'SSR'."""
        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
        return "".join("R" if int(iv.iter_type) == 2 else "S" for iv in self._sch.get(rv).iter_vars)

    def _extents(self, block: Any) -> list[int]:
        """Extents of the loops around `block` (a BlockRV or a name), outer to inner."""
        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
        return [int(self._sch.get(loop).extent) for loop in self._sch.get_loops(rv)]

    def _num_reads(self, block: Any) -> int:
        """How many buffer regions `block` (a BlockRV or a name) reads (valid `cache_read` indices)."""
        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
        return len(self._sch.get(rv).reads)

    def _param_names(self) -> set[str]:
        func = self._sch.mod["main"]
        return {str(getattr(p, "name", "")) for p in func.params}

    def _param_reads(self, block: Any) -> list[int]:
        """Indices of the reads of `block` that are function parameters (off-chip inputs, not intermediates)."""
        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
        params = self._param_names()
        return [i for i, r in enumerate(self._sch.get(rv).reads) if region_buffer_name(r) in params]

    def _offchip_reads(self, block: Any) -> list[int]:
        """Indices of the reads of `block` whose buffer is off chip (global scope): operator inputs and
        intermediates left in global memory, the reads a vector or cube stage has to copy on chip first."""
        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
        return [i for i, r in enumerate(self._sch.get(rv).reads) if _region_scope(r) == "global"]

    def _read_bytes(self, block: Any) -> list[int]:
        """Size in bytes of the whole buffer behind each read of `block` (a broadcast operand is smaller than
        what the block writes); -1 where the buffer has a symbolic shape."""
        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
        return [_region_bytes(r) for r in self._sch.get(rv).reads]

    def _plain_cache_read(self, block: Any, index: int, scope: str) -> Any:
        """Cache read `index` of `block` into `scope` so that the block indexes the cache with plain iterators.

        Where the access already is plain iterators and constants this is `cache_read` (the buffer's own layout);
        where it is a folded expression (a reshape inlined into its consumer: `(k // 64 + i) % 128`) the cache is
        laid out by the block iterators the access uses (`reindex_cache_read`), because TVM's buffer compaction
        cannot bound such an expression and would keep the whole buffer for every tile."""
        from tvm.tirx import IndexMap
        from tvm.tirx.analysis import undefined_vars

        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
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
        from .prepack import index_map

        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
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

    def _writes_param(self, block: Any) -> bool:
        """Whether `block` writes a function parameter (an output of the operator)."""
        self._budget.tick()
        rv = self._sch.get_sblock(block) if isinstance(block, str) else block
        params = self._param_names()
        return any(region_buffer_name(w) in params for w in self._sch.get(rv).writes)

    def _inline_injective(self, keep: Iterable[str] = ()) -> int:
        """Inline every injective block other than `keep` (producers into consumers, then epilogues)."""
        return inline_injective_blocks(
            self._sch, set(keep) | ({self._main} if self._main else set()), self._budget.tick
        )


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
        raise _Refused("annotation key must be a string")
    if "import" in key.lower():
        raise _Refused(f"annotation {key!r} is not allowed")


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


@contextmanager
def _time_limit(seconds: float):
    """Raise TimeoutError after `seconds` (SIGALRM on the main thread; no limit elsewhere)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise TimeoutError(f"program ran longer than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def evaluate_expression(source: str, env: Mapping[str, Any]) -> tuple[Any, HawkError | None]:
    """Evaluate a checked expression with the sandbox names (no `sch`)."""
    err = check_expression(source)
    if err:
        return None, err
    bad = _bad_env_names(env)
    if bad:
        return None, HawkError("sandbox.refused", f"environment names not allowed: {bad}")
    scope = _Limits().scope(_private_copy(env))
    try:
        with _time_limit(2.0):
            return eval(_compile_guarded(source, "eval"), scope), None
    except TimeoutError as exc:
        return None, HawkError("sandbox.timeout", str(exc))
    except _Refused as exc:
        return None, HawkError("sandbox.refused", str(exc))
    except (RecursionError, MemoryError) as exc:
        return None, HawkError("sandbox.refused", f"expression exhausted {type(exc).__name__}")
    except Exception as exc:
        return None, HawkError("program", f"{type(exc).__name__}: {exc}")


def _bad_env_names(env: Mapping[str, Any]) -> list[str]:
    """Environment names a program must not be handed (private, forbidden, or shadowing sch and the helpers)."""
    reserved = _FORBIDDEN_NAMES | _PROTECTED_NAMES
    return [k for k in env if not isinstance(k, str) or k.startswith("_") or k in reserved]


def _private_copy(env: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of the environment, so that a program cannot change what the next one sees."""
    try:
        return copy.deepcopy(dict(env))
    except Exception:
        return dict(env)


class ScheduleSandbox:
    """Applies untrusted schedule programs. `apply` never raises for anything the program does."""

    def __init__(
        self,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_steps: int = MAX_STEPS,
        max_iterations: int = MAX_ITERATIONS,
        max_elements: int = MAX_ELEMENTS,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_steps = max_steps
        self.max_iterations = max_iterations
        self.max_elements = max_elements

    def apply(self, mod: Any, program: str, env: Mapping[str, Any] | None = None) -> tuple[Any, HawkError | None]:
        """Run `program` on a fresh `Schedule(mod)`; returns (schedule, None) or (None, error)."""
        from tvm.s_tir import Schedule
        from tvm.s_tir.schedule import ScheduleError

        env = dict(env or {})
        err = check_program(program, env.keys())
        if err:
            return None, err
        bad = _bad_env_names(env)
        if bad:
            return None, HawkError("sandbox.refused", f"environment names not allowed: {bad}")
        sch = Schedule(mod, error_render_level="fast")
        limits = _Limits(self.max_steps, self.max_iterations, self.max_elements)
        scope = limits.scope(_private_copy(env))
        scope["sch"] = ScheduleProxy(sch, limits, env.get("MAIN"), env.get("CONST_PARAMS", ()))
        try:
            with _time_limit(self.timeout_s):
                exec(_compile_guarded(program, "exec"), scope)
        except TimeoutError as exc:
            return None, HawkError("sandbox.timeout", str(exc))
        except _Refused as exc:
            return None, HawkError("sandbox.refused", str(exc))
        except ScheduleError as exc:
            return None, HawkError("schedule", short_schedule_error(str(exc)))
        except RecursionError:
            return None, HawkError("sandbox.refused", "recursion too deep")
        except MemoryError:
            return None, HawkError("sandbox.refused", "program exhausted memory")
        except Exception as exc:
            return None, HawkError("program", f"{type(exc).__name__}: {short_schedule_error(str(exc))}")
        return sch, None


def short_schedule_error(message: str) -> str:
    """TVM's one-line reason from a ScheduleError / TVM error text."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("Error message:"):
            return ln[len("Error message:") :].strip()[:400]
    return (lines[-1] if lines else message)[:400]

"""Run-time guards: per-run budgets, guarded builtins, and the AST instrumentation that routes a program's
arithmetic, loops and `*x` through them."""

from __future__ import annotations

import ast
import copy
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .helpers import HELPERS, SAFE_BUILTINS, divisors, largest_divisor, vector_chunk
from .limits import (
    MAX_COMPARED,
    MAX_DIVISOR_ARG,
    MAX_ELEMENTS,
    MAX_INT,
    MAX_ITERATIONS,
    MAX_SEQUENCE,
    MAX_STARRED,
    MAX_STEPS,
    MAX_ZIP,
    Refused,
    bounded_range,
)

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
        raise Refused(f"integer larger than {MAX_INT}")
    return value


def _binop(op: str, a: Any, b: Any) -> Any:
    """Arithmetic with size guards: no sequence, string or integer that grows past the limits."""
    if op not in _OPS:
        raise Refused(f"operator {op} not allowed")
    if op == "%" and isinstance(a, (str, bytes)):
        raise Refused("string formatting with % is not allowed")
    if op == "*":
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, _SEQUENCES) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                raise Refused(f"sequence repetition longer than {MAX_SEQUENCE}")
    if op == "+" and isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES) and len(a) + len(b) > MAX_SEQUENCE:
        raise Refused(f"sequence concatenation longer than {MAX_SEQUENCE}")
    if op == "**" and isinstance(b, (int, float)) and abs(b) > 64:
        raise Refused("exponent too large")
    return _check_int(_OPS[op](a, b))


def nested_size(value: Any, cap: int = MAX_COMPARED) -> int:
    """Elements in `value` counted through nested lists/tuples/dicts/sets (strings by length); Refused above `cap`.

    A comparison of two sequences is one C call that visits every nested element (no identity shortcut between
    two separately built lists), so neither SIGALRM nor the loop budget can stop it: charge it up front.
    """
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            count += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            count += len(item)
            stack.extend(i for i in item if isinstance(i, (list, tuple, dict, set, frozenset, str)))
        elif isinstance(item, dict):
            count += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        if count > cap:
            raise Refused(f"comparison over more than {cap} nested elements")
    return count


class Limits:
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
            raise Refused(f"more than {self.max_steps} schedule calls")

    def iteration(self) -> None:
        """Count one loop iteration."""
        self.iterations += 1
        if self.iterations > self.max_iterations:
            raise Refused(f"more than {self.max_iterations} loop iterations")

    def built(self, n: int) -> None:
        """Count n elements built."""
        self.elements_built += max(0, int(n))
        if self.elements_built > self.max_elements:
            raise Refused(f"program built more than {self.max_elements} elements")

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
                raise Refused(f"sequence longer than {limit}")
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
                raise Refused("sum is for numbers only")
            total = _check_int(total + item)
        return total

    def zip(self, *iterables: Iterable[Any]) -> Iterable[tuple[Any, ...]]:
        """`zip` of at most MAX_ZIP iterables."""
        if len(iterables) > MAX_ZIP:
            raise Refused(f"zip of more than {MAX_ZIP} sequences")
        return zip(*iterables, strict=False)

    def sized(self, value: Any) -> Any:
        """`value` unchanged, after charging what comparing it costs (an operand of ==, <, in, ...)."""
        if isinstance(value, (list, tuple, dict, set, frozenset, str)):
            self.built(nested_size(value))
        return value

    def sliced(self, value: Any) -> Any:
        """The result of a slice, charged as the copy it is (``d[i] = big[:]`` in a loop builds memory)."""
        if isinstance(value, _SEQUENCES):
            self.built(len(value))
        return value

    def min(self, *args: Any, **kwargs: Any) -> Any:
        """`min` charged for the comparisons it makes."""
        return min(*(self.sized(a) for a in args), **kwargs)

    def max(self, *args: Any, **kwargs: Any) -> Any:
        """`max` charged for the comparisons it makes."""
        return max(*(self.sized(a) for a in args), **kwargs)

    def int(self, *args: Any) -> int:
        """`int` with the integer bound."""
        return _check_int(int(*args))

    def divisors(self, n: int) -> list[int]:
        """`divisors` charged for its sqrt(n) work."""
        n = int(n)
        if n > MAX_DIVISOR_ARG:
            raise Refused(f"divisors of a number above {MAX_DIVISOR_ARG}")
        self.built(math.isqrt(max(n, 0)))
        return divisors(n)

    def largest_divisor(self, n: int, cap: int, multiple: int = 1) -> int:
        """`largest_divisor` charged like `divisors`."""
        self.divisors(n)
        return largest_divisor(n, cap, multiple)

    def vector_chunk(self, n: int, vector_elems: int, multiple: int = 1, max_vectors: int = 8) -> int:
        """`vector_chunk` charged like `divisors`."""
        self.divisors(n)
        return vector_chunk(n, vector_elems, multiple, max_vectors)

    def scope(self, env: Mapping[str, Any]) -> dict[str, Any]:
        """Globals for one run: guarded builtins, helpers, the environment, the instrumentation hooks."""
        guarded = {
            "range": bounded_range,
            "list": self.list,
            "tuple": self.tuple,
            "sum": self.sum,
            "zip": self.zip,
            "int": self.int,
            "min": self.min,
            "max": self.max,
            "divisors": self.divisors,
            "largest_divisor": self.largest_divisor,
            "vector_chunk": self.vector_chunk,
        }
        scope: dict[str, Any] = {"__builtins__": {}, **SAFE_BUILTINS, **HELPERS, **guarded, **env}
        scope.update(_hawk_binop=self.binop, _hawk_iter=self.iteration, _hawk_star=self.star,
                     _hawk_sized=self.sized, _hawk_sliced=self.sliced)
        return scope


class _Instrument(ast.NodeTransformer):
    """Routes arithmetic, augmented assignment, loop bodies, `*x`, comparisons and slices through the run's guards.

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
            raise Refused("augmented assignment to this target is not allowed")
        return ast.copy_location(ast.Assign([target], _guard_call(node.op, load, node.value)), node)

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        tick = ast.Expr(ast.Call(ast.Name("_hawk_iter", ast.Load()), [], []))
        node.body = [tick, *node.body]
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            return node
        node.left = _hook("_hawk_sized", node.left)
        node.comparators = [_hook("_hawk_sized", c) for c in node.comparators]
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Slice):
            return ast.copy_location(_hook("_hawk_sliced", node), node)
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = ast.Call(ast.Name("_hawk_star", ast.Load()), [node.value], [])
        return node


def _hook(name: str, value: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(name, ast.Load()), [value], [])


def _guard_call(op: ast.operator, left: ast.expr, right: ast.expr) -> ast.Call:
    symbol = _OP_SYMBOLS.get(type(op))
    if symbol is None:
        raise Refused(f"operator {type(op).__name__} not allowed")
    return ast.Call(ast.Name("_hawk_binop", ast.Load()), [ast.Constant(symbol), left, right], [])


def compile_guarded(source: str, mode: str) -> Any:
    """Compile a checked program ("exec") or expression ("eval") with the run-time guards inserted."""
    tree = _Instrument().visit(ast.parse(source, mode=mode))
    return compile(ast.fix_missing_locations(tree), "<hawk-" + mode + ">", mode)


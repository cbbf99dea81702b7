"""The static checker: parses a schedule program and refuses anything outside the whitelist."""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import HawkError
from .helpers import HELPERS, SAFE_BUILTINS
from .limits import MAX_DEPTH, MAX_LITERAL, MAX_PROGRAM_CHARS, MAX_STARS, MAX_STRING, Refused

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
        "conv_as_gemm",
        "fmap_nc1hwc0",
    }
)



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
    except Refused as err:
        return HawkError("sandbox.refused", str(err))
    return None


def _check_depth(tree: ast.AST) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Refused(f"expression nested deeper than {MAX_DEPTH} (line {getattr(node, 'lineno', '?')})")
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
            raise Refused(f"construct {type(node).__name__} is not allowed (line {line})")
        parent = parents.get(node)
        called = isinstance(parent, ast.Call) and parent.func is node
        if isinstance(node, ast.Name):
            _check_name(node, called)
        if isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id == "sch"):
                raise Refused(f"attribute access .{node.attr} is only allowed on sch (line {line})")
            if node.attr not in ALLOWED_METHODS:
                raise Refused(f"sch.{node.attr} is not an allowed schedule method")
            if not called:
                raise Refused(f"sch.{node.attr} may only be called, not used as a value (line {line})")
        if isinstance(node, ast.Constant):
            _check_constant(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not _small_int_literal(node.right):
            raise Refused("exponent must be a small literal")
        if isinstance(node, ast.AugAssign):
            if not isinstance(node.target, (ast.Name, ast.Subscript)):
                raise Refused(f"augmented assignment to {type(node.target).__name__} is not allowed")
            if isinstance(node.op, ast.Pow) and not _small_int_literal(node.value):
                raise Refused("exponent must be a small literal")
        if isinstance(node, ast.For):
            _check_loop(node)
        if isinstance(node, (ast.Call, ast.List, ast.Tuple)):
            items = node.args if isinstance(node, ast.Call) else node.elts
            if sum(isinstance(x, ast.Starred) for x in items) > MAX_STARS:
                raise Refused(f"more than {MAX_STARS} starred arguments (line {line})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in CALLABLE_NAMES:
            raise Refused(f"call of {node.func.id!r} is not allowed")
        if isinstance(node, ast.Call) and not isinstance(node.func, (ast.Name, ast.Attribute)):
            raise Refused("only direct calls of named helpers or sch methods are allowed")


def _check_name(node: ast.Name, called: bool) -> None:
    if node.id.startswith("_") or node.id in FORBIDDEN_NAMES:
        raise Refused(f"name {node.id!r} is not allowed")
    if isinstance(node.ctx, ast.Store) and node.id in PROTECTED_NAMES:
        raise Refused(f"assigning to {node.id!r} is not allowed")
    if node.id in CALLABLE_NAMES and not called:
        raise Refused(f"helper {node.id!r} may only be called, not used as a value")


FORBIDDEN_NAMES = frozenset(
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
CALLABLE_NAMES = frozenset(set(SAFE_BUILTINS) | set(HELPERS)) - {"True", "False", "None"}
PROTECTED_NAMES = CALLABLE_NAMES | {"sch"}


def _small_int_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value <= 64


def _check_constant(value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int) and abs(value) > MAX_LITERAL:
        raise Refused(f"literal {value} is too large")
    if isinstance(value, float) and (abs(value) > MAX_LITERAL or math.isnan(value)):
        raise Refused(f"literal {value} is not allowed")
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise Refused("string literal too long")
    if not isinstance(value, (int, float, str)):
        raise Refused(f"literal of type {type(value).__name__} is not allowed")


def _check_loop(node: ast.For) -> None:
    if node.orelse:
        raise Refused("for-else is not allowed")
    it = node.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
        for arg in it.args:
            if not isinstance(arg, (ast.Constant, ast.Name, ast.Call, ast.BinOp, ast.Subscript, ast.UnaryOp)):
                raise Refused("range bounds must be simple expressions")
        return
    if isinstance(it, (ast.Name, ast.List, ast.Tuple, ast.Call, ast.Subscript)):
        return  # iterating a list of loop RVs / enumerate / zip; bounded at run time
    raise Refused("for loops may only iterate range(...) or a list")


def bad_env_names(env: Mapping[str, Any]) -> list[str]:
    """Environment names a program must not be handed (private, forbidden, or shadowing sch and the helpers)."""
    reserved = FORBIDDEN_NAMES | PROTECTED_NAMES
    return [k for k in env if not isinstance(k, str) or k.startswith("_") or k in reserved]

"""Reply parsing: extract one schedule program from an LLM reply (the sandbox then judges it)."""

from __future__ import annotations

import ast
import re
import textwrap

from ..errors import HawkError

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n", re.MULTILINE)
_PYTHON_TAGS = frozenset({"", "python", "python3", "py"})


def extract_program(text: str) -> str | HawkError:
    """The program in the first python (or untagged) fenced block of `text`, unwrapped; or an `llm.parse` error.

    A `def` wrapper is replaced by its body, and wrapper lines (`import tvm...`, `sch = ...Schedule(...)`,
    a trailing `return sch`, a call of the wrapper) are dropped. Everything else is left for the sandbox.
    """
    if not isinstance(text, str) or not text.strip():
        return HawkError("llm.parse", "the reply is empty")
    block = _first_python_block(text)
    if isinstance(block, HawkError):
        return block
    program = unwrap(textwrap.dedent(block)).strip()
    if not program:
        return HawkError("llm.parse", "the code block holds no program")
    return program + "\n"


def _first_python_block(text: str) -> str | HawkError:
    tags = []
    pos = 0
    while True:
        opening = _FENCE.search(text, pos)
        if opening is None:
            break
        fence, tag = opening.group(1), opening.group(2).lower()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end = closing.search(text, opening.end())
        if end is None:
            return HawkError("llm.parse", "the code block is not closed (the reply may have been cut off)")
        if tag in _PYTHON_TAGS:
            return text[opening.end() : end.start()]
        tags.append(tag)
        pos = end.end()
    if tags:
        return HawkError("llm.parse", f"no python code block (found {', '.join(tags)})")
    return HawkError("llm.parse", "no fenced code block in the reply")


def unwrap(code: str) -> str:
    """Drop a `def` wrapper and wrapper lines; code that does not parse is returned unchanged."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    lines = code.splitlines()
    functions = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(functions) == 1 and all(_is_wrapper(s, functions[0].name) for s in tree.body if s is not functions[0]):
        func = functions[0]
        body = func.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # docstring
        if not body:
            return ""
        start = body[0].lineno - 1
        end = body[-1].end_lineno or len(lines)
        return unwrap(textwrap.dedent("\n".join(lines[start:end])))
    drop: set[int] = set()
    for stmt in tree.body:
        if _is_wrapper(stmt, None):
            drop.update(range(stmt.lineno - 1, (stmt.end_lineno or stmt.lineno)))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def _is_wrapper(stmt: ast.stmt, func_name: str | None) -> bool:
    """Statements a model adds around a program: tvm imports, `sch = Schedule(...)`, `return sch`, a call of the def."""
    if isinstance(stmt, ast.Import):
        return all(a.name.split(".")[0] == "tvm" for a in stmt.names)
    if isinstance(stmt, ast.ImportFrom):
        return (stmt.module or "").split(".")[0] == "tvm"
    if isinstance(stmt, ast.Return):
        return stmt.value is None or (isinstance(stmt.value, ast.Name) and stmt.value.id == "sch")
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == "sch"
        and isinstance(stmt.value, ast.Call)
        and _dotted(stmt.value.func).endswith("Schedule")
    ):
        return True
    if func_name and isinstance(stmt, (ast.Expr, ast.Assign)) and isinstance(stmt.value, ast.Call):
        return _dotted(stmt.value.func) == func_name
    return False


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    return ""

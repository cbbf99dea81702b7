"""The sandbox's limits: what a program may build and spend, and the exception that refuses it."""

from __future__ import annotations


class Refused(Exception):
    """A construct outside the whitelist, or a program that exceeded a budget (the executor maps it to
    a ``sandbox.refused`` HawkError)."""


MAX_PROGRAM_CHARS = 20_000
MAX_DEPTH = 40  # deepest AST nesting (deeper trees crash the compiler's recursion)
MAX_LITERAL = 1 << 20  # no number above this (huge allocations, pow bombs)
MAX_INT = 1 << 62  # no integer value above this at run time
MAX_STRING = 200
MAX_LOOP_RANGE = 1024  # bounded loops over small ranges only
MAX_SEQUENCE = 10_000  # longest list/tuple/str a program may build
MAX_ELEMENTS = 2_000_000  # elements a program may build in total (all lists/tuples/strings together)
# loop iterations per program (all loops together); the conv planner needs ~11k on ResNet-50's 1x1 projection
MAX_ITERATIONS = 50_000
MAX_STARRED = 256  # longest sequence a `*x` may spread
MAX_STARS = 8  # `*x` per call or display
MAX_ZIP = 8  # iterables zip may take
MAX_DIVISOR_ARG = 1 << 40  # divisors(n) costs sqrt(n)
MAX_STEPS = 2_000  # schedule calls per program
MAX_COMPARED = 100_000  # nested elements one comparison (==, <, in, min, max) may visit: a single C call
DEFAULT_TIMEOUT_S = 10.0


def bounded_range(*args: int) -> range:
    """`range` limited to MAX_LOOP_RANGE iterations."""
    r = range(*[int(a) for a in args])
    if len(r) > MAX_LOOP_RANGE:
        raise Refused(f"range of {len(r)} iterations exceeds {MAX_LOOP_RANGE}")
    return r


"""ScheduleSandbox: checks an untrusted schedule program against a whitelist and applies it to a Schedule.

checker (static whitelist) -> guards (run-time budgets, AST instrumentation) -> executor (runs under a time
limit, maps every exception to a HawkError); proxy is what a program sees as `sch`.
"""

from .checker import ALLOWED_METHODS, check_expression, check_program
from .executor import ScheduleSandbox, error_from_exception, evaluate_expression, short_schedule_error
from .helpers import HELPERS, SAFE_BUILTINS, ceil_div, divisors, largest_divisor
from .limits import (
    DEFAULT_TIMEOUT_S,
    MAX_DEPTH,
    MAX_DIVISOR_ARG,
    MAX_ELEMENTS,
    MAX_INT,
    MAX_ITERATIONS,
    MAX_LITERAL,
    MAX_LOOP_RANGE,
    MAX_PROGRAM_CHARS,
    MAX_SEQUENCE,
    MAX_STARRED,
    MAX_STARS,
    MAX_STEPS,
    MAX_STRING,
    MAX_ZIP,
    bounded_range,
)
from .proxy import ScheduleProxy, block_rv, inline_injective_blocks

__all__ = [
    "ALLOWED_METHODS",
    "DEFAULT_TIMEOUT_S",
    "HELPERS",
    "MAX_DEPTH",
    "MAX_DIVISOR_ARG",
    "MAX_ELEMENTS",
    "MAX_INT",
    "MAX_ITERATIONS",
    "MAX_LITERAL",
    "MAX_LOOP_RANGE",
    "MAX_PROGRAM_CHARS",
    "MAX_SEQUENCE",
    "MAX_STARRED",
    "MAX_STARS",
    "MAX_STEPS",
    "MAX_STRING",
    "MAX_ZIP",
    "SAFE_BUILTINS",
    "ScheduleProxy",
    "ScheduleSandbox",
    "block_rv",
    "bounded_range",
    "ceil_div",
    "check_expression",
    "check_program",
    "divisors",
    "error_from_exception",
    "evaluate_expression",
    "inline_injective_blocks",
    "largest_divisor",
    "short_schedule_error",
]

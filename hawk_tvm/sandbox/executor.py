"""The executor: runs a checked program (or expression) under the run-time guards and a time limit."""

from __future__ import annotations

import copy
import signal
import sys
import threading
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import HawkError
from .checker import bad_env_names, check_expression, check_program
from .guards import Limits, compile_guarded
from .limits import DEFAULT_TIMEOUT_S, MAX_ELEMENTS, MAX_ITERATIONS, MAX_STEPS, Refused
from .proxy import ScheduleProxy


@contextmanager
def _time_limit(seconds: float):
    """Raise TimeoutError after `seconds`: SIGALRM on the main thread, an asynchronous exception elsewhere.

    Both take effect between bytecodes, never inside one C call; the budgets (`Limits`) bound those calls.
    """
    if seconds <= 0:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        with _thread_time_limit(seconds):
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


class _ProgramTimeout(TimeoutError):
    """Raised asynchronously in a worker thread whose program ran past its time limit."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(args or ("program ran past its time limit",)))


@contextmanager
def _thread_time_limit(seconds: float):
    """A watchdog timer that raises `_ProgramTimeout` in this thread (``PyThreadState_SetAsyncExc``) unless the
    block finished first; the lock makes "finished" and "fire" exclusive, so it never fires after the block."""
    import ctypes

    ident = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_ProgramTimeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except _ProgramTimeout:
        state["delivered"] = True
        raise TimeoutError(f"program ran longer than {seconds:g} s") from None
    finally:
        with lock:
            state["done"] = True
            if state["fired"] and not state.get("delivered"):  # fired as the block ended: withdraw it
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
        timer.cancel()


def evaluate_expression(source: str, env: Mapping[str, Any]) -> tuple[Any, HawkError | None]:
    """Evaluate a checked expression with the sandbox names (no `sch`)."""
    err = check_expression(source) or _env_error(env)
    if err:
        return None, err
    scope = Limits().scope(_private_copy(env))
    try:
        with _time_limit(2.0):
            return eval(compile_guarded(source, "eval"), scope), None
    except Exception as exc:
        return None, error_from_exception(exc, "expression")


def error_from_exception(exc: BaseException, what: str = "program") -> HawkError:
    """The HawkError for an exception a program (or expression) raised while it ran: a time limit or a budget is
    ``sandbox.timeout`` / ``sandbox.refused``, a TVM ScheduleError is ``schedule``, anything else ``program``."""
    if isinstance(exc, TimeoutError):
        return HawkError("sandbox.timeout", str(exc))
    if isinstance(exc, Refused):
        return HawkError("sandbox.refused", str(exc))
    if isinstance(exc, (RecursionError, MemoryError)):
        if what != "program":
            return HawkError("sandbox.refused", f"{what} exhausted {type(exc).__name__}")
        message = "recursion too deep" if isinstance(exc, RecursionError) else "program exhausted memory"
        return HawkError("sandbox.refused", message)
    if _is_schedule_error(exc):
        return HawkError("schedule", short_schedule_error(str(exc)))
    return HawkError("program", f"{type(exc).__name__}: {short_schedule_error(str(exc))}")


def _is_schedule_error(exc: BaseException) -> bool:
    """Whether `exc` is a TVM ScheduleError (without importing TVM when no schedule ever ran)."""
    schedule = sys.modules.get("tvm.s_tir.schedule")
    error_type = getattr(schedule, "ScheduleError", None)
    return error_type is not None and isinstance(exc, error_type)


def _env_error(env: Mapping[str, Any]) -> HawkError | None:
    """A refusal when the environment holds names a program must not be handed."""
    bad = bad_env_names(env)
    return HawkError("sandbox.refused", f"environment names not allowed: {bad}") if bad else None


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

        env = dict(env or {})
        err = check_program(program, env.keys()) or _env_error(env)
        if err:
            return None, err
        sch = Schedule(mod, error_render_level="fast")
        limits = Limits(self.max_steps, self.max_iterations, self.max_elements)
        scope = limits.scope(_private_copy(env))
        scope["sch"] = ScheduleProxy(sch, limits, env.get("MAIN"), env.get("CONST_PARAMS", ()))
        try:
            with _time_limit(self.timeout_s):
                exec(compile_guarded(program, "exec"), scope)
        except Exception as exc:
            return None, error_from_exception(exc)
        return sch, None


def short_schedule_error(message: str) -> str:
    """TVM's one-line reason from a ScheduleError / TVM error text."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("Error message:"):
            return ln[len("Error message:") :].strip()[:400]
    return (lines[-1] if lines else message)[:400]

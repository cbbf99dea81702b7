"""The sandbox refuses a corpus of escape attempts and resource bombs, and still runs legitimate programs."""

from __future__ import annotations

import threading
import time

import pytest
import tvm
from tvm import te

from hawk_tvm.sandbox import (
    ALLOWED_METHODS,
    ScheduleSandbox,
    check_expression,
    check_program,
    evaluate_expression,
)

try:
    from tir_workloads import MATMUL_ENV, MATMUL_MOD
except ImportError:  # tests/ imported as a package
    from tests.tir_workloads import MATMUL_ENV, MATMUL_MOD


def scaled_matmul() -> tvm.tirx.PrimFunc:
    """relu((2 * A) @ B): an injective producer and an epilogue around the reduction block "C"."""
    a = te.placeholder((64, 64), name="A")
    b = te.placeholder((64, 64), name="B")
    scaled = te.compute((64, 64), lambda i, k: a[i, k] * 2.0, name="scale")
    k = te.reduce_axis((0, 64), "k")
    c = te.compute((64, 64), lambda i, j: te.sum(scaled[i, k] * b[k, j], axis=k), name="C")
    out = te.compute((64, 64), lambda i, j: te.max(c[i, j], 0.0), name="relu")
    return te.create_prim_func([a, b, out])


MOD, ENV = MATMUL_MOD, MATMUL_ENV

MAIN_LOOP = "sch.get_loops(sch.get_sblock(MAIN))[0]"

# (name, program): every one must come back as a HawkError whose kind starts with "sandbox.".
ESCAPES: list[tuple[str, str]] = [
    ("import", "import os\nos.system('id')"),
    ("from-import", "from os import system"),
    ("dunder-import", "__import__('os').system('id')"),
    ("subclasses-walk", "x = ().__class__.__bases__[0].__subclasses__()"),
    ("sch-class", "x = sch.__class__"),
    ("sch-dict", "x = sch.__dict__"),
    ("sch-private", "x = sch._sch"),
    ("sch-mod", "x = sch.mod"),
    ("sch-trace", "t = sch.trace"),
    ("method-globals", "x = sch.get_sblock.__globals__"),
    ("method-as-value", "f = sch.get_sblock\nb = f(MAIN)"),
    ("getattr", "x = getattr(sch, '_sch')"),
    ("setattr", "setattr(sch, 'x', 1)"),
    ("vars", "x = vars(sch)"),
    ("type", "x = type(sch)"),
    ("builtins-name", "x = __builtins__"),
    ("format-method", "x = '{0.__class__}'.format(sch)"),
    ("percent-format-bomb", "x = '%0999999999d' % 1"),
    ("fstring", "x = f'{sch}'"),
    ("lambda", "f = lambda: 0"),
    ("def", "def f():\n    return 1"),
    ("class", "class A:\n    pass"),
    ("list-comprehension", "x = [c for c in MAIN]"),
    ("dict-comprehension", "x = {c: 1 for c in MAIN}"),
    ("generator-expression", "x = list(c for c in MAIN)"),
    ("list-bomb", "x = [0] * 10**9"),
    ("string-bomb", "x = 'a' * 10**10"),
    ("power-tower", "x = 2 ** 10 ** 10"),
    ("augassign-bomb", "x = [0] * 10000\nx *= 10000\nx *= 10000"),
    ("concat-doubling", "x = [0]\nfor i in range(64):\n    x = x + x"),
    ("int-squaring", "x = 3\nfor i in range(64):\n    x = x * x"),
    ("sum-concat", "x = sum([[0] * 10000] * 10000, [])"),
    ("zip-star-bomb", "x = [0] * 10000\ny = list(zip(*[x] * 100))"),
    ("star-bomb", "x = max(*[[0] * 10000] * 10000)"),
    ("divisors-bomb", "d = divisors(2 ** 60)"),
    ("while", "while True:\n    pass"),
    ("huge-range", "for i in range(10**9):\n    pass"),
    ("nested-loops", "for i in range(1000):\n    for j in range(1000):\n        x = i"),
    ("loop-over-list-bomb", "xs = [0] * 10000\nfor i in xs:\n    for j in xs:\n        pass"),
    ("open", "f = open('/etc/passwd')"),
    ("exec", "exec('import os')"),
    ("eval", "x = eval('1')"),
    ("compile", "x = compile('1', 'f', 'exec')"),
    ("print", "print(MAIN)"),
    ("str-method", "x = MAIN.upper()"),
    ("dict-method", "x = HW.get('lanes')"),
    ("helper-attribute", "x = divisors.__code__"),
    ("literal-attribute", "x = (1).__class__"),
    ("rv-attribute", "b = sch.get_sblock(MAIN)\nx = b.__class__"),
    ("try", "try:\n    x = 1\nexcept Exception:\n    pass"),
    ("with", "with sch:\n    pass"),
    ("global", "global x\nx = 1"),
    ("nonlocal", "nonlocal x"),
    ("yield", "x = yield 1"),
    ("await", "await sch"),
    ("walrus", "y = (x := 1)"),
    ("del", "x = 1\ndel x"),
    ("raise", "raise SystemExit"),
    ("assert", "assert False"),
    ("match", "match MAIN:\n    case _:\n        pass"),
    ("bytes-literal", "x = b'payload'"),
    ("rebind-sch", "sch = MAIN\nx = sch.split()"),
    ("rebind-helper", "range = divisors"),
    ("keyword-callable", "x = max([1, 2], key=divisors)"),
    ("keyword-callable-sch", "b = sch.get_sblock(MAIN)\nsch.transform_layout(b, ('write', 0), index_map=ceil_div)"),
    ("pragma-import-llvm", f"sch.annotate({MAIN_LOOP}, 'pragma_import_llvm', '/etc/passwd')"),
    ("pragma-import-c", f"sch.annotate({MAIN_LOOP}, ann_key='pragma_import_c', ann_val='int x;')"),
    ("deep-nesting", "x = " + "-" * 5000 + "1"),
    ("too-long", "x = 1\n" * 5000),
    ("long-string", "x = '" + "a" * 500 + "'"),
]


def test_corpus_is_large_enough() -> None:
    assert len(ESCAPES) >= 30
    assert len({name for name, _ in ESCAPES}) == len(ESCAPES)


def test_every_escape_is_refused() -> None:
    sandbox = ScheduleSandbox(timeout_s=5.0)
    refused, leaks = 0, []
    for name, program in ESCAPES:
        start = time.monotonic()
        schedule, error = sandbox.apply(MOD, program, ENV)
        elapsed = time.monotonic() - start
        if schedule is None and error is not None and error.kind.startswith("sandbox.") and elapsed < 2.0:
            refused += 1
        else:
            leaks.append((name, error, round(elapsed, 2)))
    assert leaks == []
    assert refused == len(ESCAPES)


def test_program_cannot_change_the_environment_of_the_next() -> None:
    env = {**ENV, "HW": dict(ENV["HW"]), "SPATIAL": list(ENV["SPATIAL"])}
    schedule, error = ScheduleSandbox().apply(MOD, "HW['lanes'] = 0\nSPATIAL[0] = 1", env)
    assert error is None and schedule is not None
    assert env["HW"]["lanes"] == 8 and env["SPATIAL"][0] == 64


def test_budgets_hold_off_the_main_thread() -> None:
    """No SIGALRM off the main thread: the iteration budget alone must stop a long loop."""
    out: list = []
    program = "for i in range(1024):\n    for j in range(1024):\n        for k in range(1024):\n            x = i"
    worker = threading.Thread(target=lambda: out.append(ScheduleSandbox().apply(MOD, program, ENV)))
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert out[0][1].kind == "sandbox.refused" and "iterations" in out[0][1].message


def test_environment_names_that_shadow_helpers_are_refused() -> None:
    _, error = ScheduleSandbox().apply(MOD, "x = 1", {**ENV, "range": 3})
    assert error is not None and error.kind == "sandbox.refused"


GOOD = """
b = sch.get_sblock(MAIN)
i, j, k = sch.get_loops(b)
io, ii = sch.split(i, factors=[None, 8])
jo, ji = sch.split(j, factors=[None, HW['lanes']])
sch.reorder(io, jo, k, ii, ji)
sch.parallel(io)
sch.vectorize(ji)
sch.decompose_reduction(b, k)
"""


def test_legitimate_program_schedules_matmul() -> None:
    schedule, error = ScheduleSandbox().apply(MOD, GOOD, ENV)
    assert error is None
    script = schedule.mod.script()
    assert "T.parallel" in script and "T.vectorized" in script
    assert len(schedule.trace.insts) > 5


def test_legitimate_language_features() -> None:
    program = """
b = sch.get_sblock(MAIN)
loops = sch.get_loops(b)
tiles = []
for n, extent in enumerate(SPATIAL):
    tiles += [largest_divisor(extent, HW['lanes'] * 2, multiple=2)]
tiles[0] *= 1
outer = []
inner = []
for loop, tile in zip(loops[:2], tiles):
    o, i = sch.split(loop, factors=[None, tile])
    outer = outer + [o]
    inner = inner + [i]
sch.reorder(*outer, loops[2], *inner)
fused = sch.fuse(*outer) if len(outer) > 1 and OP == 'matmul' else outer[0]
if ceil_div(SPATIAL[0], tiles[0]) >= HW['cores']:
    sch.parallel(fused)
else:
    pass
sch.vectorize(inner[-1])
total = sum(tiles) if True else 0
sch.annotate(fused, 'pragma_auto_unroll_max_step', 16)
"""
    schedule, error = ScheduleSandbox().apply(MOD, program, ENV)
    assert error is None, error
    assert "T.parallel" in schedule.mod.script()


def test_inline_injective_extension() -> None:
    mod = tvm.IRModule({"main": scaled_matmul()})
    env = {**ENV, "BLOCKS": ["scale", "C", "relu"]}
    program = "n = sch.inline_injective(keep=(MAIN,))\nloops = sch.main_loops()\nsch.parallel(loops[0])"
    schedule, error = ScheduleSandbox().apply(mod, program, env)
    assert error is None, error
    assert 'T.sblock("scale")' not in schedule.mod.script()


def test_schedule_errors_stay_schedule_errors() -> None:
    _, error = ScheduleSandbox().apply(MOD, "b = sch.get_sblock(MAIN)\nsch.vectorize(sch.get_loops(b)[2])", ENV)
    assert error is not None and error.kind == "schedule"


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("HW['lanes'] * 2", 16),
        ("len(REDUCE) == 1 and SPATIAL[-1] % HW['lanes'] == 0", True),
        ("largest_divisor(SPATIAL[0], 24, 8)", 16),
        ("[d for d in divisors(12)]", None),
    ],
)
def test_expressions(expression: str, value: object) -> None:
    result, error = evaluate_expression(expression, ENV)
    if value is None:
        assert error is not None and error.kind == "sandbox.refused"
    else:
        assert error is None and result == value


def test_check_functions_never_raise_on_hostile_text() -> None:
    for text in ["(" * 300 + ")" * 300, "-" * 19_000 + "1", "[" * 5000 + "]" * 5000, "\x00", "x = '\\ud800'"]:
        for check in (check_program, check_expression):
            error = check(text)
            assert error is None or error.kind.startswith("sandbox.")


def test_allowed_methods_exclude_raw_access() -> None:
    for name in ("get", "mod", "state", "trace", "copy", "seed", "sample_perfect_tile", "enter_postproc"):
        assert name not in ALLOWED_METHODS

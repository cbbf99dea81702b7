"""BudgetPlan on its own (no TVM): no total budget leaves every task the config's budget; a total budget is split
by weight, held back for the untimed rest, and stops measured searches once they no longer fit or the deadline
cut one off."""

from __future__ import annotations

import time
from types import SimpleNamespace

from hawk_tvm.budget import RESERVE_SHARE, BudgetPlan, Pace
from hawk_tvm.config import Budget


def test_without_a_total_budget_every_task_gets_the_config_budget() -> None:
    budget = Budget(candidates=4, repair_rounds=2)
    plan = BudgetPlan(budget, Pace(1.0), time.monotonic(), [3.0, 1.0])
    assert plan.deadline is None and plan.next(3.0, after=1) is budget and plan.next(1.0, after=0) is budget
    assert not plan.cut_off(SimpleNamespace(schedule=None, budget_stop=True))


def test_a_total_budget_is_split_by_weight_and_runs_out() -> None:
    budget = Budget(candidates=4, max_candidates=16, repair_rounds=2, op_time_s=600.0, total_time_s=60.0)
    plan = BudgetPlan(budget, Pace(5.0, untimed_s=0.5), time.monotonic(), [9.0, 1.0, 1.0])
    heavy = plan.next(9.0, after=2)
    assert heavy is not None and heavy.candidates > budget.candidates and heavy.op_time_s < 60.0
    light = plan.next(1.0, after=1)
    assert light is not None and light.candidates < heavy.candidates
    assert plan.measure_deadline(after=1) == plan.deadline - 0.5
    # the deadline cut a search off without a schedule: the rest are untimed
    assert plan.cut_off(SimpleNamespace(schedule=None, budget_stop=True)) and plan.next(1.0, after=0) is None


def test_no_measured_search_when_the_time_left_is_below_three_units() -> None:
    budget = Budget(total_time_s=2.0)
    plan = BudgetPlan(budget, Pace(1.0), time.monotonic(), [1.0, 1.0])
    assert plan.next(1.0, after=1) is None and plan.exhausted and plan.next(1.0, after=0) is None


def _host_pace() -> Pace:
    return Pace(1.0, untimed_s=0.5, reference_calls=True)


def test_a_huge_top_task_gets_its_reference_and_candidates_not_its_share_by_weight() -> None:
    # VGG-11-like: 17 tasks, the top conv 20% of the estimated time, its default lowering ~15 s a call (0.075 s
    # estimated x 200): the reference alone (one 15 s run) is more than its share by weight of 45 s
    calls = [0.075, 0.075, 0.045, 0.02, 0.038] + [0.002] * 12
    pace = _host_pace()
    plan = BudgetPlan(Budget(total_time_s=45.0), pace, time.monotonic(), calls)
    reference = pace.reference_s(calls[0], "conv2d")
    assert reference > 45.0 * calls[0] / sum(calls)  # the share by weight could not even time the reference
    top = plan.next(calls[0], after=16, call_s=calls[0], op_class="conv2d")
    assert top is not None and top.candidates >= 3
    assert top.op_time_s + top.candidates * pace.unit_s >= reference + 3 * pace.unit_s


def test_a_task_whose_reference_does_not_fit_keeps_the_plan_going_for_cheaper_tasks() -> None:
    pace = _host_pace()
    plan = BudgetPlan(Budget(total_time_s=12.0), pace, time.monotonic(), [0.075, 0.001])
    assert plan.next(0.075, after=1, call_s=0.075, op_class="conv2d") is None  # ~16 s of reference run
    assert plan.unfit and not plan.exhausted
    cheap = plan.next(0.001, after=0, call_s=0.001, op_class="injective")
    assert cheap is not None and not plan.unfit


def test_pace_learns_the_default_lowering_slowdown_and_keeps_reference_runs_out_of_the_unit() -> None:
    pace = _host_pace()
    before = pace.reference_s(0.01, "conv2d")
    matmul_call = pace.default_call_s(0.01, "matmul")
    # a measured conv: default lowering 10 s a call against 0.01 s estimated (1000x), 4 candidates, 30 s in all
    result = SimpleNamespace(wall_s=30.0, default_seconds=10.0, attempts=[0] * 4)
    pace.observe(result, measured=True, call_s=0.01, op_class="conv2d")
    assert pace.slowdown["conv2d"] == 1000.0 and pace.reference_s(0.01, "conv2d") > before
    assert pace.unit_s == (30.0 - 10.0) / 5  # the reference's one 10 s run is its timing, not a unit's
    assert pace.default_call_s(0.01, "matmul") == matmul_call  # other classes keep their prior


def test_many_small_tasks_do_not_reserve_the_whole_budget_for_untimed_schedules() -> None:
    # DenseNet-121-like: ~190 tasks at 0.5 s of untimed (checked) schedule each would hold back 95 s of 120 s
    calls = [0.003] * 190
    pace = _host_pace()
    plan = BudgetPlan(Budget(total_time_s=120.0), pace, time.monotonic(), calls)
    top = plan.next(calls[0], after=189, call_s=calls[0], op_class="conv2d")
    assert top is not None and not plan.unfit
    assert plan.measure_deadline(after=189) >= plan.deadline - RESERVE_SHARE * 120.0 - 1.0


def test_a_pessimistic_untimed_prior_does_not_stop_measuring_for_good() -> None:
    # davinci's prior (1 s per untimed schedule) holds back the whole share for 32 tasks after the first; once the
    # untimed ones go at 0.3 s the reserve shrinks and measured searches fit again (ResNet-50 at 40 s: 16 s unused)
    pace = Pace(1.2, untimed_s=1.0)
    plan = BudgetPlan(Budget(total_time_s=40.0), pace, time.monotonic() - 5.0, [1.0] * 33)  # first task: 5 s
    assert plan.next(1.0, after=32) is None and plan.exhausted
    for _ in range(4):
        pace.observe(SimpleNamespace(wall_s=0.3), measured=False)
    assert plan.next(1.0, after=31) is not None and not plan.exhausted

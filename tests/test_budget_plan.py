"""BudgetPlan on its own (no TVM): no total budget leaves every task the config's budget; a total budget is split
by weight, held back for the untimed rest, and stops measured searches once they no longer fit or the deadline
cut one off."""

from __future__ import annotations

import time
from types import SimpleNamespace

from hawk_tvm.budget import BudgetPlan, Pace
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

"""OfflineProposer: instantiates retrieved knowledge templates with profile-fitted parameters (no network)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from ..knowledge.entry import KnowledgeEntry
from ..sandbox import evaluate_expression
from .base import Candidate, CostModel, ProposalRequest, ProposalResult, Proposer
from .generic import generic_candidates

MAX_BINDINGS_PER_ENTRY = 32


def bind_parameters(entry: KnowledgeEntry, env: dict[str, Any], limit: int = MAX_BINDINGS_PER_ENTRY) -> list[dict]:
    """Every binding of the entry's parameters (cartesian product of list choices, expressions evaluated in
    declaration order), filtered by the entry's `when` test; at most `limit`, in declaration order."""
    names = _dependency_order(entry.params)
    choices: list[list[Any]] = []
    for name in names:
        spec = entry.params[name]
        choices.append(list(spec) if isinstance(spec, (list, tuple)) else [spec])
    bindings: list[dict] = []
    for combo in itertools.product(*choices):
        scope = dict(env)
        bound: dict[str, Any] = {}
        ok = True
        for name, value in zip(names, combo):
            if isinstance(value, str):
                value, err = evaluate_expression(value, scope)
                if err:
                    ok = False
                    break
            bound[name] = value
            scope[name] = value
        if not ok:
            continue
        if entry.when:
            passed, err = evaluate_expression(entry.when, scope)
            if err or not passed:
                continue
        if bound not in bindings:
            bindings.append(bound)
        if len(bindings) >= limit:
            break
    return bindings


def _dependency_order(params: dict[str, Any]) -> list[str]:
    """Parameter names ordered so that an expression comes after the parameters it names (the store keeps
    parameters sorted by name, so declaration order alone is not enough); otherwise declaration order."""
    import re

    def refs(name: str) -> set[str]:
        spec = params[name]
        texts = spec if isinstance(spec, (list, tuple)) else [spec]
        found = {w for t in texts if isinstance(t, str) for w in re.findall(r"[A-Za-z_]\w*", t)}
        return (found & set(params)) - {name}

    order: list[str] = []
    pending = list(params)
    while pending:
        ready = [n for n in pending if refs(n) <= set(order)] or pending[:1]  # a cycle: keep declaration order
        order.append(ready[0])
        pending.remove(ready[0])
    return order


class OfflineProposer(Proposer):
    """Instantiates retrieved templates (best retrieval score first), then fills with generic programs.

    cost_model: optional cheap static estimate (lower is better), e.g. the simulator's cycle estimate;
             candidates of equal provenance are ordered by it.
    generic: include knowledge-free generic programs (the floor; also the no-knowledge ablation).
    """

    name = "offline"

    def __init__(
        self,
        cost_model: CostModel | None = None,
        generic: bool = True,
        generic_fn: Callable[[Any, dict, int], list[Candidate]] | None = None,
    ) -> None:
        self.cost_model = cost_model
        self.generic = generic
        self.generic_fn = generic_fn or generic_candidates

    def propose(self, request: ProposalRequest) -> ProposalResult:
        rng = random.Random(request.seed * 7919 + request.round)
        from_knowledge: list[Candidate] = []
        for hit in request.knowledge:
            entry = hit.entry
            bindings = bind_parameters(entry, request.env)
            keep = max(3, request.k // 2)  # a wider search (a large per-op budget) tries more bindings
            if len(bindings) > keep:
                # keep the first binding (the entry's preferred one) and a seeded sample of the rest
                bindings = bindings[:1] + rng.sample(bindings[1:], keep - 1)
            for params in bindings:
                origin = ("repair:" if request.round else "template:") + entry.id
                from_knowledge.append(Candidate(entry.template, params, (entry.id,), origin))
        if self.cost_model is not None and from_knowledge:
            scored = [(self.cost_model.rank(c, request), i, c) for i, c in enumerate(from_knowledge)]
            from_knowledge = [c for _, _, c in sorted(scored, key=lambda t: (t[0], t[1]))]
        out: list[Candidate] = []
        seen: set[str] = set()
        # interleave: one per entry first, so the best few entries all get a chance within k
        by_entry: dict[str, list[Candidate]] = {}
        for c in from_knowledge:
            by_entry.setdefault(c.knowledge_ids[0], []).append(c)
        for group in itertools.zip_longest(*by_entry.values()):
            for c in group:
                if c is not None and c.key() not in seen:
                    seen.add(c.key())
                    out.append(c)
        if self.generic:
            generic = [
                c
                for c in self.generic_fn(request.workload, request.env.get("HW", {}), request.k)
                if c.key() not in seen
            ]
            # reserve a third of the first k slots for the knowledge-free floor
            reserve = max(1, request.k // 3) if out else request.k
            head = out[: max(0, request.k - reserve)]
            out = head + generic[:reserve] + out[len(head) :] + generic[reserve:]
        notes = [] if from_knowledge else ["no applicable knowledge; generic programs only"]
        return ProposalResult(out, notes=notes)

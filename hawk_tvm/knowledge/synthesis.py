"""Run-time knowledge synthesis: new triples from failure->fix repairs and from clear wins, validated before storage."""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import HawkError
from .entry import KnowledgeEntry, Trigger
from .features import normalise_level
from .kb import KnowledgeBase
from .validate import BOTTLENECKS, UNITS, validate_entry

if TYPE_CHECKING:
    from ..engine import LearnContext

INITIAL_CONFIDENCE = 0.3  # a synthesised entry starts low; the ledger and distillation decide the rest
STRENGTHEN_STEP = 0.1  # confidence added to an existing entry a synthesis duplicated
WIN_MARGIN = 1.3  # a candidate "wins" when it is this much faster than the best before it
DUPLICATE_COSINE = 0.9  # close in both retrieval spaces (with the same trigger) = a duplicate
MAX_PER_OP = 2  # syntheses attempted per operator (each costs one re-measurement)
# HW facts a literal may stand for (lifted to HW['...'] when equal); ambiguous values are resolved by name hints.
_LIFTABLE = ("mma_m", "mma_n", "mma_k", "lanes")
_HINTS = {"mma_m": ("i", "m"), "mma_n": ("j", "n"), "mma_k": ("k",)}


@dataclass
class SynthesisEvent:
    """What one synthesis attempt did: added, strengthened an existing entry, or refused (with the reason)."""

    op: str
    kind: str  # fix | win
    outcome: str  # added | strengthened | refused
    entry_id: str | None = None
    reason: str = ""
    source: str = ""  # origin of the program the entry was made from

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dict(self.__dict__)


# -- templates --------------------------------------------------------------------------------------------------------
def normalise_template(template: str, params: dict[str, Any] | None = None) -> str:
    """Canonical text of a template: parsed and unparsed (layout and comments gone), single-valued parameters
    written in place, the remaining parameter specs appended in name order. Unparsable text is returned stripped."""
    try:
        tree = ast.parse(template)
    except SyntaxError:
        return template.strip()
    params = params or {}
    fixed: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for name, spec in params.items():
        value = spec[0] if isinstance(spec, list) and len(spec) == 1 else spec
        (fixed if isinstance(value, (int, float, bool)) else rest)[name] = value

    class Inline(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> Any:
            if isinstance(node.ctx, ast.Load) and node.id in fixed:
                return ast.copy_location(ast.Constant(fixed[node.id]), node)
            return node

    text = ast.unparse(Inline().visit(tree))
    if rest:
        text += "\n#params " + json.dumps(rest, sort_keys=True, default=str)
    return text


def _hint_key(candidates: list[str], hint: str) -> str:
    hint = hint.lower()
    for key in candidates:
        if any(hint.startswith(h) for h in _HINTS.get(key, ())):
            return key
    return candidates[0]


def _param_hint(name: str) -> str:
    """The loop a parameter name speaks of: TM -> m, TN -> n, TK -> k (else the name itself)."""
    low = name.lower()
    return low[1:] if len(low) == 2 and low[0] == "t" else low


def _fact_keys(value: Any, hw: dict[str, Any]) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 1:
        return []
    return [k for k in _LIFTABLE if hw.get(k) == value]


def generalise(program: str, params: dict[str, Any], hw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Lift a concrete program into a template: scope strings and split factors equal to a profile fact become
    ``HW[...]`` (mma_m/n/k, lanes; ties broken by the loop's name), parameter values equal to such a fact become
    that expression, every other parameter value stays a one-choice literal."""
    scopes = {v: k for k, v in hw.items() if k.startswith("scope_") and isinstance(v, str)}
    tree = ast.parse(program)

    def hw_ref(key: str) -> ast.expr:
        return ast.Subscript(ast.Name("HW", ast.Load()), ast.Constant(key), ast.Load())

    class Lift(ast.NodeTransformer):
        def visit_Constant(self, node: ast.Constant) -> Any:
            if isinstance(node.value, str) and node.value in scopes:
                return ast.copy_location(hw_ref(scopes[node.value]), node)
            return node

        def visit_Call(self, node: ast.Call) -> Any:
            self.generic_visit(node)
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "split":
                hint = node.args[0].id if node.args and isinstance(node.args[0], ast.Name) else ""
                lists = [kw.value for kw in node.keywords if kw.arg == "factors"] + [
                    a for a in node.args[1:] if isinstance(a, ast.List)
                ]
                for lst in lists:
                    if not isinstance(lst, ast.List):
                        continue
                    for i, elt in enumerate(lst.elts):
                        if isinstance(elt, ast.Constant):
                            keys = _fact_keys(elt.value, hw)
                            if keys:
                                lst.elts[i] = ast.copy_location(hw_ref(_hint_key(keys, hint)), elt)
            return node

    template = ast.unparse(Lift().visit(tree)) + "\n"
    out: dict[str, Any] = {}
    for name, value in params.items():
        keys = _fact_keys(value, hw)
        if keys:
            out[name] = f"HW['{_hint_key(keys, _param_hint(name))}']"
        elif isinstance(value, (int, float, str, bool)):
            out[name] = [value]
        else:
            out[name] = [json.dumps(value)]
    return template, out


def derive_when(workload: Any, params: dict[str, Any], base: str | None = None) -> str:
    """An applicability test from the source workload: same loop ranks and input dtype, every literal integer
    parameter divides one of the extents it divided on the source, plus the source entry's own test."""
    spatial, reduce = list(workload.spatial), list(workload.reduce)
    parts = [f"len(SPATIAL) == {len(spatial)}", f"len(REDUCE) == {len(reduce)}", f"IN_DTYPE == {workload.in_dtype!r}"]
    dims = [f"SPATIAL[{i}]" for i in range(len(spatial))] + [f"REDUCE[{i}]" for i in range(len(reduce))]
    values = spatial + reduce
    for name, spec in params.items():
        v = spec[0] if isinstance(spec, list) and len(spec) == 1 else None
        if not isinstance(v, int) or isinstance(v, bool) or v <= 1:
            continue
        hits = [d for d, x in zip(dims, values) if x % v == 0]
        if hits:
            parts.append("(" + " or ".join(f"{d} % {name} == 0" for d in hits) + ")")
    if base:
        parts.append(f"({base})")
    return " and ".join(parts)


def program_diff(failing: str, fixed: str) -> list[str]:
    """The lines the fix added (+) and removed (-), layout-normalised."""
    def lines(text: str) -> list[str]:
        try:
            return ast.unparse(ast.parse(text)).splitlines()
        except SyntaxError:
            return [ln.strip() for ln in text.splitlines() if ln.strip()]

    out = []
    for ln in difflib.ndiff(lines(failing), lines(fixed)):
        if ln[:2] in ("+ ", "- "):
            out.append(ln[0] + " " + ln[2:].strip())
    return out


def _words_of_diff(diff: list[str], old_params: dict[str, Any], new_params: dict[str, Any]) -> str:
    added = [ln[2:] for ln in diff if ln.startswith("+")]
    removed = [ln[2:] for ln in diff if ln.startswith("-")]
    prims_added = sorted({m for ln in added for m in re.findall(r"sch\.(\w+)\(", ln)})
    prims_removed = sorted({m for ln in removed for m in re.findall(r"sch\.(\w+)\(", ln)})
    parts = []
    if prims_added:
        parts.append("it uses " + ", ".join(prims_added) + " where the failing program did not")
    if prims_removed:
        parts.append("it drops " + ", ".join(prims_removed))
    if not diff:
        parts.append("the program text is the same")
    changed = [f"{k} {old_params[k]} -> {new_params[k]}" for k in sorted(set(old_params) & set(new_params))
               if old_params[k] != new_params[k]]
    if changed:
        parts.append("parameters changed: " + ", ".join(changed))
    elif diff:
        parts.append(f"{len(added)} lines added, {len(removed)} removed")
    return "; ".join(parts)


# -- the synthesiser ------------------------------------------------------------------------------------------------
class Synthesizer:
    """The engine's learner: after each repair round and each operator, turns failure->fix pairs and clear wins
    into validated knowledge triples (or strengthens the entries they duplicate).

    knowledge: the KnowledgeBase entries go to.  config: HawkConfig (its llm writes rationales when enabled).
    client: a ChatClient to use instead of one built from config.llm (tests).
    """

    def __init__(self, knowledge: KnowledgeBase, config: Any = None, client: Any = None) -> None:
        self.kb = knowledge
        self.config = config
        self.client = client if client is not None else _client_for(config)
        self.events: list[SynthesisEvent] = []
        self._done: dict[str, int] = {}

    # -- engine hooks --------------------------------------------------------------------------------------------
    def after_round(self, learn: LearnContext, result: Any, rnd: int) -> None:
        """After repair round `rnd`: if it turned a failure of round rnd-1 into a working candidate, synthesise."""
        pair = self.fix_pair(result, rnd)
        if pair is None or self._done.get(result.name, 0) >= MAX_PER_OP:
            return
        failing, fixed = pair
        self._done[result.name] = self._done.get(result.name, 0) + 1
        entry = self.from_fix(learn, result, failing, fixed)
        self.events.append(self.admit(entry, learn, result, "fix", fixed.candidate.origin))

    def after_op(self, learn: LearnContext, result: Any) -> None:
        """At the end of an operator: a chosen candidate >= WIN_MARGIN faster than the best before it is a win."""
        best = result.best
        if result.source != "generated" or best is None or self._done.get(result.name, 0) >= MAX_PER_OP:
            return
        if self._from_recurring(learn, result, best):
            return
        before = [a.result.seconds for a in result.attempts[: result.attempts.index(best)]
                  if a.result.ok and a.result.seconds]
        if not before or min(before) < WIN_MARGIN * (best.result.seconds or float("inf")):
            return
        self._done[result.name] = self._done.get(result.name, 0) + 1
        source = self._source_entry(best.candidate)
        if source is not None and normalise_template(source.template) == normalise_template(best.candidate.program):
            # the win came from an entry as written: that entry is strengthened, nothing new is learnt
            ev = self.strengthen(source.id, result.name, "win with its own template")
            self.events.append(SynthesisEvent(result.name, "win", ev, source.id, "existing template won",
                                              best.candidate.origin))
            return
        entry = self.from_win(learn, result, best, min(before))
        self.events.append(self.admit(entry, learn, result, "win", best.candidate.origin))

    def _from_recurring(self, learn: LearnContext, result: Any, best: Any) -> bool:
        """An error that recurred on earlier operators of this compile (hawk_tvm.recurring) and a kernel found here
        by an origin that never raised it: that kernel, generalised, becomes the error's fix (an error-triggered
        entry), so later operators retrieve it in round 0 and the error stops costing rounds."""
        for seen in getattr(result, "recurring", []):
            if seen.example is None or best.candidate.origin in seen.failing_origins:
                continue
            self._done[result.name] = self._done.get(result.name, 0) + 1
            entry = self.from_fix(learn, result, seen.example, best)
            self.events.append(self.admit(entry, learn, result, "recurring", best.candidate.origin))
            return True
        return False

    # -- pairing ---------------------------------------------------------------------------------------------------
    def fix_pair(self, result: Any, rnd: int) -> tuple[Any, Any] | None:
        """(failing attempt of round rnd-1, fixing attempt of round rnd), or None.

        A fix is a working candidate of round `rnd` whose entry is triggered by the failure's error kind, or, when
        nothing had worked before round `rnd`, the fastest working candidate of that round (the repair rescued the
        operator). The failing attempt is the first knowledge-derived failure with that error kind, else the first."""
        before = [a for a in result.attempts if a.round < rnd]
        failed = [a for a in before if a.round == rnd - 1 and not a.result.ok and a.result.error is not None]
        fixed = sorted((a for a in result.attempts if a.round == rnd and a.result.ok),
                       key=lambda a: a.result.seconds or float("inf"))
        if not failed or not fixed:
            return None
        kinds = {a.result.error.kind for a in failed}
        for fix in fixed:
            src = self._source_entry(fix.candidate)
            if src is not None and src.trigger.kind == "error" and src.trigger.error_kind in kinds:
                return self._failing_for(failed, src.trigger.error_kind), fix
        if not any(a.result.ok for a in before):
            return self._failing_for(failed, None), fixed[0]
        return None

    @staticmethod
    def _failing_for(failed: list[Any], kind: str | None) -> Any:
        pool = [a for a in failed if kind is None or a.result.error.kind == kind] or failed
        knowledge = [a for a in pool if a.candidate.knowledge_ids]
        return (knowledge or pool)[0]

    def _source_entry(self, candidate: Any) -> KnowledgeEntry | None:
        for eid in candidate.knowledge_ids:
            stored = self.kb.get(eid)
            if stored is not None:
                return stored.entry
        return None

    # -- building entries ------------------------------------------------------------------------------------------
    def from_fix(self, learn: LearnContext, result: Any, failing: Any, fixed: Any) -> KnowledgeEntry:
        """An error-triggered entry: the fixing program generalised, triggered by the failure's structured error."""
        workload = result.workload
        err: HawkError = failing.result.error
        env = learn.program_env(workload)
        hw = env.get("HW", {})
        template, params = generalise(fixed.candidate.program, fixed.candidate.params, hw)
        src = self._source_entry(fixed.candidate)
        when = derive_when(workload, params, src.when if src is not None else None)
        ctx = err.context or {}
        level = normalise_level(ctx.get("level") or ctx.get("scope")) or (src.trigger.level if src else None)
        unit = ctx.get("unit") or (src.trigger.unit if src else None) or _report(learn, workload).get("unit")
        bottleneck = "capacity" if err.kind == "sim.capacity" else (src.trigger.bottleneck if src else None)
        trigger = Trigger(
            kind="error",
            text=f"{workload.op_class} on {learn.profile}: {err.signature()} from "
            f"{_origin_words(failing.candidate.origin)}; {_short(err.message, 140)}",
            bottleneck=bottleneck if bottleneck in BOTTLENECKS else None,
            unit=unit if unit in UNITS else None,
            level=level,
            error_kind=err.kind,
        )
        diff = program_diff(failing.candidate.program, fixed.candidate.program)
        derived = _fix_rationale(learn.profile, workload, err, failing, fixed, diff)
        rationale = self._llm_rationale("fix", workload, learn.profile, err, failing, fixed, diff) or derived
        return self._entry("fix", learn, workload, trigger, rationale, template, params, when)

    def from_win(self, learn: LearnContext, result: Any, best: Any, previous_seconds: float) -> KnowledgeEntry:
        """A pattern-triggered entry from a clear win, triggered by the workload's bottleneck pattern."""
        workload = result.workload
        env = learn.program_env(workload)
        template, params = generalise(best.candidate.program, best.candidate.params, env.get("HW", {}))
        src = self._source_entry(best.candidate)
        report = _report(learn, workload)
        ratio = previous_seconds / (best.result.seconds or previous_seconds)
        trigger = Trigger(
            kind="pattern",
            text=f"{workload.op_class} on {learn.profile}, {report.get('bottleneck', 'unknown')}-bound; "
            f"{_origin_words(best.candidate.origin)} ran {ratio:.2f}x faster than the best before it",
            bottleneck=report.get("bottleneck") if report.get("bottleneck") in BOTTLENECKS else None,
            unit=report.get("unit") if report.get("unit") in UNITS else None,
            level=src.trigger.level if src is not None else None,
        )
        derived = (
            f"On {learn.profile}, {_workload_words(workload)} is {report.get('bottleneck', 'of unknown')} bound. "
            f"The program from {_origin_words(best.candidate.origin)} took {best.result.seconds * 1e6:.1f} us against "
            f"{previous_seconds * 1e6:.1f} us for the best candidate before it ({ratio:.2f}x). Its parameters "
            f"{_params_words(best.candidate.params)} are kept as found; factors equal to the matrix tile or the "
            "vector lanes are written as those hardware facts."
        )
        rationale = self._llm_rationale("win", workload, learn.profile, None, None, best, []) or derived
        when = derive_when(workload, params, src.when if src is not None else None)
        return self._entry("win", learn, workload, trigger, rationale, template, params, when)

    def _entry(self, kind: str, learn: LearnContext, workload: Any, trigger: Trigger, rationale: str, template: str,
               params: dict[str, Any], when: str) -> KnowledgeEntry:
        key = normalise_template(template, params) + "|" + trigger.kind + "|" + str(trigger.error_kind)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        profile = learn.profile
        eid = f"synth.{_slug(profile)}.{workload.op_class}.{kind}_{digest}"
        return KnowledgeEntry(
            id=eid,
            trigger=trigger,
            rationale=rationale,
            template=template,
            params=params,
            when=when,
            profiles=[profile],
            op_classes=[workload.op_class],
            patterns=[t for t in workload.syntactic_text().split() if re.fullmatch(r"[a-z0-9_.]+", t)],
            provenance="synthesised",
            confidence=INITIAL_CONFIDENCE,
        )

    # -- admission -------------------------------------------------------------------------------------------------
    def admit(
        self, entry: KnowledgeEntry, learn: LearnContext, result: Any, kind: str, source: str = ""
    ) -> SynthesisEvent:
        """Store `entry` if it is valid and reproduces the fix on its source workload; a duplicate strengthens the
        entry it duplicates instead; anything else is refused (with the reason)."""
        dup = self.find_duplicate(entry)
        if dup is not None:
            outcome = self.strengthen(dup[0], result.name, dup[1])
            return SynthesisEvent(result.name, kind, outcome, dup[0], dup[1], source)
        err = self.validate(entry, learn, result.workload)
        if err is not None:
            return SynthesisEvent(result.name, kind, "refused", entry.id, str(err), source)
        err = self.kb.add(entry, origin=f"synthesis:{result.name}")
        if err is not None:
            return SynthesisEvent(result.name, kind, "refused", entry.id, str(err), source)
        return SynthesisEvent(result.name, kind, "added", entry.id, "validated on its source workload", source)

    def validate(self, entry: KnowledgeEntry, learn: LearnContext, workload: Any) -> HawkError | None:
        """The import checks (validate_entry), then: `when` holds on the source workload, the template applies in
        the sandbox, and the scheduled module measures legal and correct on the target."""
        from ..proposer.offline import bind_parameters

        err = validate_entry(entry)
        if err is not None:
            return err
        if workload.module is None:
            return HawkError("knowledge.synthesis", f"{entry.id}: no source module to re-apply on")
        env = learn.program_env(workload)
        bindings = bind_parameters(entry, env, limit=1)
        if not bindings:
            return HawkError("knowledge.synthesis", f"{entry.id}: its `when` or parameters fail on the source")
        stage, err = learn.measure(workload, entry.template, {**env, **bindings[0]})
        if stage == "apply":
            return HawkError("knowledge.synthesis", f"{entry.id}: re-applying fails: {err}", {"error": err.to_dict()})
        if stage == "reference":
            return HawkError("knowledge.synthesis", f"{entry.id}: no reference: {err}")
        if err is not None:
            return HawkError("knowledge.synthesis", f"{entry.id}: re-measuring fails: {err}")
        return None

    def find_duplicate(self, entry: KnowledgeEntry) -> tuple[str, str] | None:
        """(id, why) of a live entry `entry` duplicates: same normalised template (for a shared profile), or the
        same trigger and cosine >= DUPLICATE_COSINE in both retrieval spaces."""
        key = normalise_template(entry.template, entry.params)
        rows = [s for p in entry.profiles for s in self.kb.list(profile=p)]
        seen: set[str] = set()
        same_trigger = []
        for s in rows:
            e = s.entry
            if e.id in seen:
                continue
            seen.add(e.id)
            if e.id == entry.id or normalise_template(e.template, e.params) == key:
                return e.id, "same normalised template"
            if trigger_signature(e) == trigger_signature(entry) and set(e.op_classes) & set(entry.op_classes):
                same_trigger.append(s)
        if not same_trigger:
            return None
        try:
            index = self.kb.index()
            syn = index.syntactic.embed_entries([entry])[0]
            sem = index.semantic.embed_entries([entry])[0]
        except Exception:
            return None
        pos = {int(n): i for i, n in enumerate(index.nums)}
        for s in same_trigger:
            i = pos.get(int(s.num))
            if i is None:
                continue
            cs, cm = float(index.syn_vectors[i] @ syn), float(index.sem_vectors[i] @ sem)
            if cs >= DUPLICATE_COSINE and cm >= DUPLICATE_COSINE:
                return s.entry.id, f"same trigger, cosine {cs:.2f} syntactic / {cm:.2f} semantic"
        return None

    def strengthen(self, entry_id: str, op: str, why: str) -> str:
        """Raise an entry's confidence by STRENGTHEN_STEP and credit it one success in the ledger."""
        stored = self.kb.get(entry_id)
        if stored is None or stored.entry.deleted:
            return "refused"
        entry = stored.entry
        if entry.confidence < 1.0:
            entry.confidence = round(min(1.0, entry.confidence + STRENGTHEN_STEP), 4)
            self.kb.store.put(entry, stored.origin)
        self.kb.record_effect(entry_id, "succeeded", synthesis="duplicate", op=op, why=why)
        return "strengthened"

    # -- LLM rationale -----------------------------------------------------------------------------------------------
    def _llm_rationale(self, kind: str, workload: Any, profile: str, err: HawkError | None, failing: Any, fixed: Any,
                       diff: list[str]) -> str | None:
        if self.client is None:
            return None
        lines = [f"Target: {profile}. Operator: {_workload_words(workload)}."]
        if err is not None and failing is not None:
            lines += [f"This schedule program failed with {err}:", failing.candidate.program,
                      f"with parameters {failing.candidate.params}."]
        lines += ["This program worked" + (" and was the fastest" if kind == "win" else "") + ":",
                  fixed.candidate.program, f"with parameters {fixed.candidate.params}."]
        if diff:
            lines += ["Difference (+ added, - removed):", *diff[:40]]
        lines.append("In at most five plain sentences, explain why the hardware needs the working program "
                     "(capacities, levels, units, alignment). Answer with the explanation only.")
        reply = self.client.chat([
            {"role": "system", "content": "You write short rationales for NPU schedule knowledge entries."},
            {"role": "user", "content": "\n".join(lines)},
        ])
        text = getattr(reply, "text", None)
        if not isinstance(text, str):
            return None
        text = text.strip()
        if not text or len(text) > 2000 or "```" in text:
            return None
        return text


def trigger_signature(entry: KnowledgeEntry) -> tuple[Any, ...]:
    """What makes two triggers "the same": kind, error kind, memory level and unit."""
    t = entry.trigger
    return t.kind, t.error_kind, normalise_level(t.level), t.unit


def _client_for(config: Any) -> Any:
    llm = getattr(config, "llm", None)
    if llm is None or not getattr(llm, "enabled", False):
        return None
    from ..llm.client import ChatClient

    return ChatClient(llm)


def _report(learn: LearnContext, workload: Any) -> dict[str, Any]:
    try:
        return dict(learn.bottleneck(workload))
    except Exception:
        return {}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "profile"


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _origin_words(origin: str) -> str:
    kind, _, rest = origin.partition(":")
    if kind in ("template", "repair") and rest:
        return f"knowledge entry {rest}"
    if kind == "generic":
        return f"the knowledge-free {rest} program"
    return origin or "a candidate"


def _workload_words(workload: Any) -> str:
    spatial = "x".join(str(s) for s in workload.spatial) or "scalar"
    reduce = ("x".join(str(r) for r in workload.reduce)) if workload.reduce else "none"
    return f"{workload.name} ({workload.op_class}, spatial {spatial}, reduction {reduce}, {workload.in_dtype})"


def _params_words(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "(none)"


def _fix_rationale(profile: str, workload: Any, err: HawkError, failing: Any, fixed: Any, diff: list[str]) -> str:
    ctx = err.context or {}
    limit = ""
    if "requested" in ctx and "limit" in ctx:
        where = f" in {ctx['level']}" if ctx.get("level") else ""
        limit = f" It asked for {ctx['requested']}{where} where the limit is {ctx['limit']}."
    return (
        f"On {profile}, {_workload_words(workload)} failed with {err.kind}"
        f"{' (' + str(ctx['code']) + ')' if ctx.get('code') else ''} when scheduled by "
        f"{_origin_words(failing.candidate.origin)}: {_short(err.message, 200)}.{limit} "
        f"The repair that worked came from {_origin_words(fixed.candidate.origin)}: "
        f"{_words_of_diff(diff, failing.candidate.params, fixed.candidate.params)}. "
        f"The working parameters were {_params_words(fixed.candidate.params)}; factors equal to the matrix tile or "
        "the vector lanes are written as those hardware facts, the rest are kept as found."
    )

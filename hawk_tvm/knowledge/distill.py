"""Distillation: prune entries the ledger shows harmful, merge redundant ones, and report what changed and why."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .kb import KnowledgeBase
from .ledger import EntryEffect, entry_effects
from .store import StoredEntry

ACTIONS = ("keep_both", "merge", "prefer")


@dataclass(frozen=True)
class DistillSettings:
    """Thresholds of distillation.

    z:                  z of the Wilson bound (1.645: one-sided 95%).
    prune_failure_low:  prune when the Wilson *lower* bound of the failure rate is above this.
    min_applications:   ... and the entry was applied to at least this many operators (candidates for old ledgers).
    merge_cosine:       merge candidates are at least this close in *both* retrieval spaces ...
    merge_min_applications: ... both have this much evidence ...
    merge_rate_gap:     ... and their failure rates differ by at most this ...
    merge_speedup_ratio: ... and their mean speedups (when both have one) by at most this factor.
    """

    z: float = 1.645
    prune_failure_low: float = 0.5
    min_applications: int = 3
    merge_cosine: float = 0.9
    merge_min_applications: int = 2
    merge_rate_gap: float = 0.25
    merge_speedup_ratio: float = 1.5


@dataclass
class Decision:
    """An arbitration between two redundant entries: keep both, merge into `survivor`, or prefer `survivor`."""

    action: str
    survivor: str | None = None
    absorbed: str | None = None
    rationale: str | None = None  # the merged rationale (LLM merges only)
    by: str = "rule"  # rule | llm
    why: str = ""


@dataclass
class DistillReport:
    """What one distillation changed and why (also stored in the distillation history)."""

    pruned: list[dict[str, Any]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)  # pairs judged redundant but kept (keep_both)
    examined: int = 0
    generation_before: int = 0
    generation_after: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    arbiter: str = "rule"
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)

    def summary(self) -> str:
        """Human-readable lines (printed by `hawk kb distill`)."""
        head = "dry run: " if self.dry_run else ""
        lines = [f"{head}examined {self.examined} entries: {len(self.pruned)} pruned, {len(self.merged)} merged, "
                 f"{len(self.kept)} redundant pairs kept (arbiter: {self.arbiter})"]
        for p in self.pruned:
            lines.append(f"  pruned {p['entry']}: {p['reason']}")
        for m in self.merged:
            lines.append(f"  merged {m['absorbed']} into {m['survivor']} ({m['by']}): {m['why']}")
        for k in self.kept:
            lines.append(f"  kept {k['a']} and {k['b']} ({k['by']}): {k['why']}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def prune_reason(eff: EntryEffect, settings: DistillSettings) -> str | None:
    """Why an entry should be pruned (None when it should not): its failure rate is above the threshold with
    statistical confidence (Wilson lower bound), over at least `min_applications` applications."""
    k, n = eff.trials
    if n < settings.min_applications:
        return None
    low, _ = eff.failure_bounds(settings.z)
    if low <= settings.prune_failure_low:
        return None
    kinds = ", ".join(f"{kind} x{c}" for kind, c in sorted(eff.failure_kinds.items())) or "no error kinds"
    return (f"harmful: failed on {k} of {n} applications, failure rate >= {low:.2f} "
            f"(Wilson one-sided bound, z={settings.z}) > {settings.prune_failure_low}; failures: {kinds}")


def alike(a: EntryEffect, b: EntryEffect, settings: DistillSettings) -> str | None:
    """Why two entries are alike in effect (None when they are not, or evidence is missing)."""
    (ka, na), (kb_, nb) = a.trials, b.trials
    if na < settings.merge_min_applications or nb < settings.merge_min_applications:
        return None
    ra, rb = ka / na, kb_ / nb
    if abs(ra - rb) > settings.merge_rate_gap:
        return None
    sa, sb = a.mean_speedup, b.mean_speedup
    if sa and sb and max(sa, sb) / min(sa, sb) > settings.merge_speedup_ratio:
        return None
    speed = f", mean speedups {sa:.2f}x / {sb:.2f}x" if sa and sb else ""
    return f"failure rates {ra:.2f} / {rb:.2f}{speed}"


def rule_decision(a: StoredEntry, b: StoredEntry, effects: dict[str, EntryEffect]) -> Decision:
    """The deterministic rule: merge into the entry with more operators made legal, then more successful
    candidates, then higher confidence, then the older row (lower row number)."""
    ea, eb = effects.get(a.entry.id, EntryEffect(a.entry.id)), effects.get(b.entry.id, EntryEffect(b.entry.id))

    def rank(s: StoredEntry, e: EntryEffect) -> tuple[Any, ...]:
        return (-e.ops_legal, -e.succeeded, -float(s.entry.confidence), s.num)

    win, lose = (a, b) if rank(a, ea) <= rank(b, eb) else (b, a)
    return Decision("merge", win.entry.id, lose.entry.id, None, "rule",
                    "rule: more operators made legal, then more successes, then confidence, then older")


def llm_decision(a: StoredEntry, b: StoredEntry, effects: dict[str, EntryEffect], client: Any) -> Decision | None:
    """Ask the LLM to arbitrate; None when the call fails or the reply is not the JSON asked for."""
    def show(s: StoredEntry) -> str:
        e = s.entry
        eff = effects.get(e.id, EntryEffect(e.id)).to_dict()
        return json.dumps({"id": e.id, "trigger": asdict(e.trigger), "rationale": e.rationale, "template": e.template,
                           "params": e.params, "when": e.when, "effect": eff}, indent=1, default=str)

    prompt = (
        "Two knowledge entries of an NPU schedule generator look redundant (close in retrieval, alike in effect).\n"
        f"Entry A:\n{show(a)}\nEntry B:\n{show(b)}\n"
        'Answer with one JSON object only: {"decision": "keep_both" | "merge" | "prefer", "keep": "<id of the '
        'entry to keep, for merge or prefer>", "rationale": "<for merge: one rationale covering both>", '
        '"why": "<one sentence>"}'
    )
    reply = client.chat([{"role": "system", "content": "You curate a knowledge base of schedule templates."},
                         {"role": "user", "content": prompt}])
    text = getattr(reply, "text", None)
    if not isinstance(text, str):
        return None
    return parse_decision(text, a.entry.id, b.entry.id)


def parse_decision(text: str, a_id: str, b_id: str) -> Decision | None:
    """Parse the arbiter's JSON reply (the first {...} object in the text); None on anything unexpected."""
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("decision") not in ACTIONS:
        return None
    why = str(data.get("why") or "").strip()[:500] or "llm"
    if data["decision"] == "keep_both":
        return Decision("keep_both", by="llm", why=why)
    keep = data.get("keep")
    if keep not in (a_id, b_id):
        return None
    other = b_id if keep == a_id else a_id
    rationale = data.get("rationale")
    if data["decision"] == "merge":
        if not isinstance(rationale, str) or not rationale.strip() or len(rationale) > 4000:
            return None
        return Decision("merge", keep, other, rationale.strip(), "llm", why)
    return Decision("prefer", keep, other, None, "llm", why)


def _client_for(config: Any) -> Any:
    llm = getattr(config, "llm", None)
    if llm is None or not getattr(llm, "enabled", False):
        return None
    from ..llm.client import ChatClient

    return ChatClient(llm)


def redundant_pairs(
    kb: KnowledgeBase, rows: list[StoredEntry], settings: DistillSettings
) -> list[tuple[int, int, float, float]]:
    """(i, j, syntactic cosine, semantic cosine) of live entries close in both spaces that share a profile, an op
    class (or apply to all) and a trigger kind / error kind; in row order."""
    index = kb.index()
    pos = {int(n): i for i, n in enumerate(index.nums)}
    out = []
    for i, a in enumerate(rows):
        pa = pos.get(int(a.num))
        if pa is None:
            continue
        for j in range(i + 1, len(rows)):
            b = rows[j]
            pb = pos.get(int(b.num))
            if pb is None:
                continue
            ea, eb = a.entry, b.entry
            if not set(ea.profiles) & set(eb.profiles):
                continue
            if ea.op_classes and eb.op_classes and not set(ea.op_classes) & set(eb.op_classes):
                continue
            if (ea.trigger.kind, ea.trigger.error_kind) != (eb.trigger.kind, eb.trigger.error_kind):
                continue
            cs = float(index.syn_vectors[pa] @ index.syn_vectors[pb])
            cm = float(index.sem_vectors[pa] @ index.sem_vectors[pb])
            if cs >= settings.merge_cosine and cm >= settings.merge_cosine:
                out.append((i, j, cs, cm))
    return out


def distill(
    kb: KnowledgeBase,
    settings: DistillSettings | None = None,
    client: Any = None,
    config: Any = None,
    dry_run: bool = False,
) -> DistillReport:
    """Prune harmful entries (soft delete, reversible with `restore`), merge redundant ones (LLM-arbitrated when a
    client or an LLM-enabled config is given, else the deterministic rule), store and return the report.

    Offline the result depends only on the store's entries and ledger: the same store gives the same report."""
    settings = settings or DistillSettings()
    client = client if client is not None else _client_for(config)
    report = DistillReport(settings=asdict(settings), arbiter="llm" if client is not None else "rule",
                           dry_run=dry_run, generation_before=kb.store.generation())
    rows = kb.list()
    report.examined = len(rows)
    effects = entry_effects(kb.store, [s.entry.id for s in rows])
    gone: set[str] = set()
    for s in rows:
        eff = effects[s.entry.id]
        reason = prune_reason(eff, settings)
        if reason is None:
            continue
        item = {"entry": s.entry.id, "provenance": s.entry.provenance, "reason": reason, "evidence": eff.to_dict()}
        if not dry_run:
            err = kb.delete(s.entry.id, f"distillation: {reason}")
            if err is not None:
                report.notes.append(f"could not prune {s.entry.id}: {err.message}")
                continue
        report.pruned.append(item)
        gone.add(s.entry.id)
    live = [s for s in rows if s.entry.id not in gone]
    for i, j, cs, cm in redundant_pairs(kb, live, settings):
        a, b = live[i], live[j]
        if a.entry.id in gone or b.entry.id in gone:
            continue
        why_alike = alike(effects[a.entry.id], effects[b.entry.id], settings)
        if why_alike is None:
            continue
        closeness = f"cosine {cs:.2f} syntactic / {cm:.2f} semantic; {why_alike}"
        decision = None
        if client is not None:
            decision = llm_decision(a, b, effects, client)
            if decision is None:
                report.notes.append(f"arbiter reply for {a.entry.id} / {b.entry.id} unusable; rule applied")
        decision = decision or rule_decision(a, b, effects)
        if decision.action == "keep_both":
            report.kept.append({"a": a.entry.id, "b": b.entry.id, "by": decision.by, "why": decision.why,
                                "closeness": closeness})
            continue
        survivor, absorbed = decision.survivor, decision.absorbed
        assert survivor is not None and absorbed is not None
        item = {"survivor": survivor, "absorbed": absorbed, "action": decision.action, "by": decision.by,
                "why": decision.why, "closeness": closeness,
                "evidence": {survivor: effects[survivor].to_dict(), absorbed: effects[absorbed].to_dict()}}
        if not dry_run:
            err = _apply_merge(kb, survivor, absorbed, decision)
            if err is not None:
                report.notes.append(f"could not merge {absorbed} into {survivor}: {err}")
                continue
        report.merged.append(item)
        gone.add(absorbed)
    report.generation_after = kb.store.generation()
    if not dry_run:
        report.seq = kb.store.add_distillation(report.to_dict())
    return report


def _apply_merge(kb: KnowledgeBase, survivor: str, absorbed: str, decision: Decision) -> str | None:
    kept = kb.get(survivor)
    other = kb.get(absorbed)
    if kept is None or other is None:
        return "entry missing"
    entry = kept.entry
    changed = False
    if decision.rationale:
        entry.rationale = decision.rationale
        changed = True
    if other.entry.confidence > entry.confidence:
        entry.confidence = other.entry.confidence
        changed = True
    if changed:
        kb.store.put(entry, kept.origin)
    err = kb.store.merge(absorbed, survivor, f"merged into {survivor}: {decision.why}")
    return err.message if err else None

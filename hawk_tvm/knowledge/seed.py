"""The seed library: finds the shipped schedules/ files and loads them into a store once, idempotently."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable

from ..errors import HawkError
from .entry import KnowledgeEntry
from .store import KnowledgeStore
from .validate import parse_entry_text

SEED_DIGEST_KEY = "seed_digest"


@dataclass
class SeedReport:
    """What seeding did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)  # synthesised copies of a seed template that was updated
    skipped: int = 0
    errors: list[HawkError] = field(default_factory=list)


def seed_root() -> Traversable:
    """The seed library folder (package data `hawk_tvm.schedules`, i.e. schedules/ in the source tree)."""
    return resources.files("hawk_tvm.schedules")


def seed_files(root: Traversable | None = None) -> list[tuple[str, str]]:
    """(relative name, text) of every .yaml/.yml/.json file under the seed folder, sorted by name."""
    root = root or seed_root()
    out: list[tuple[str, str]] = []

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = f"{prefix}{child.name}"
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, name + "/")
            elif child.is_file() and child.name.endswith((".yaml", ".yml", ".json")):
                out.append((name, child.read_text(encoding="utf-8")))

    walk(root, "")
    return out


def load_seed_entries(root: Traversable | None = None) -> tuple[list[tuple[str, KnowledgeEntry]], list[HawkError]]:
    """Every valid seed entry with its file; a file that fails validation contributes nothing and an error."""
    entries: list[tuple[str, KnowledgeEntry]] = []
    errors: list[HawkError] = []
    seen: set[str] = set()
    for name, text in seed_files(root):
        parsed, err = parse_entry_text(text, name, provenance="seed")
        if err:
            errors.append(err)
            continue
        for e in parsed:
            if e.id in seen:
                errors.append(HawkError("knowledge.invalid", f"{name}: duplicate seed id {e.id}", {"origin": name}))
                continue
            seen.add(e.id)
            entries.append((name, e))
    return entries, errors


def library_digest(root: Traversable | None = None) -> str:
    """Digest of the seed files' names and contents."""
    h = hashlib.sha256()
    for name, text in seed_files(root):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def seed_store(store: KnowledgeStore, root: Traversable | None = None, force: bool = False) -> SeedReport:
    """Add missing seed entries and update those whose seed version is newer; one transaction.

    Skipped cheaply when the library digest is the one already seeded. Entries a user deleted stay deleted
    (an update keeps the flag); entries of other provenance with the same id are never overwritten.
    """
    report = SeedReport()
    digest = library_digest(root)
    if not force and store.meta(SEED_DIGEST_KEY) == digest:
        return report
    entries, report.errors = load_seed_entries(root)
    stored = store.versions()
    todo: list[tuple[str, KnowledgeEntry]] = []
    for origin, e in entries:
        have = stored.get(e.id)
        if have is None:
            report.added.append(e.id)
            todo.append((origin, e))
        elif have[1] == "seed" and have[0] < e.version:
            report.updated.append(e.id)
            todo.append((origin, e))
        else:
            report.skipped += 1
    superseded = {}
    for eid in report.updated:
        old = store.get(eid, with_stats=False)
        if old is not None:
            superseded[eid] = _shape(old.entry.template)
    by_origin: dict[str, list[KnowledgeEntry]] = {}
    for origin, e in todo:
        by_origin.setdefault(origin, []).append(e)
    store.put_groups({f"seed:{o}": es for o, es in by_origin.items()})
    report.retired = _retire_copies(store, superseded)
    if not report.errors:
        store.set_meta(SEED_DIGEST_KEY, digest)
    return report


def _shape(program: str) -> str | None:
    """A program's syntax tree as text (formatting and redundant parentheses aside), None if it does not parse."""
    try:
        return ast.dump(ast.parse(program))
    except (SyntaxError, ValueError):
        return None


def _retire_copies(store: KnowledgeStore, superseded: dict[str, str | None]) -> list[str]:
    """Delete the synthesised entries whose program is the old template of an updated seed: a repair that worked
    through that seed was distilled into a copy of it, which would otherwise keep the superseded program alive
    and outrank the new version in retrieval (a stale conv template once kept its scalar epilogue that way)."""
    shapes = {shape: eid for eid, shape in superseded.items() if shape is not None}
    retired = []
    for stored in store.list() if shapes else []:
        entry = stored.entry
        if entry.provenance != "synthesised":
            continue
        source = shapes.get(_shape(entry.template))
        if source is not None and store.delete(entry.id, f"copy of seed {source}, which was updated") is None:
            retired.append(entry.id)
    return retired

"""Validation of knowledge entries and entry files before they reach the store (errors as data)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..analysis.workload import OP_CLASSES  # the op classes a program sees as OP (docs/schedule-programs.md)
from ..errors import HawkError
from ..sandbox import HELPERS, SAFE_BUILTINS, check_expression, check_program
from .entry import PROVENANCES, TRIGGER_KINDS, KnowledgeEntry

BOTTLENECKS = ("compute", "memory", "capacity", "latency")
UNITS = ("cube", "vector", "scalar")
DEFAULT_PROFILES = ("host", "davinci", "edge")
# Names every program sees besides its parameters (docs/schedule-programs.md).
ENV_NAMES = ("MAIN", "BLOCKS", "OP", "SPATIAL", "REDUCE", "DTYPE", "IN_DTYPE", "HW")
_ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_PARAM_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def known_profiles() -> frozenset[str]:
    """Profile names: the files in hawk_tvm/hardware/profiles/*.json, else host/davinci/edge."""
    try:
        folder = resources.files("hawk_tvm.hardware") / "profiles"
        names = {p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")}
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        names = set()
    return frozenset(names or DEFAULT_PROFILES)


def _invalid(entry_id: str, field: str, message: str, origin: str | None = None) -> HawkError:
    context: dict[str, Any] = {"entry": entry_id, "field": field}
    if origin:
        context["origin"] = origin
    return HawkError("knowledge.invalid", f"{entry_id}: {message}", context)


def _undefined_names(template: str, known: set[str]) -> list[str]:
    """Names a template reads that are neither known nor assigned anywhere in it."""
    tree = ast.parse(template)
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(loaded - stored - known)


def validate_entry(entry: KnowledgeEntry, profiles: Iterable[str] | None = None) -> HawkError | None:
    """Check one entry: required fields, vocabularies, and that template/when/params pass the sandbox."""
    eid = entry.id if isinstance(entry.id, str) else repr(entry.id)
    if not isinstance(entry.id, str) or not _ID_RE.match(entry.id):
        return _invalid(eid, "id", "id must be dotted lower-case words, e.g. host.matmul.register_tile")
    allowed_profiles = set(profiles) if profiles is not None else set(known_profiles())
    if not entry.profiles or not isinstance(entry.profiles, list):
        return _invalid(eid, "profiles", "at least one profile is required")
    unknown = sorted(set(entry.profiles) - allowed_profiles)
    if unknown:
        return _invalid(eid, "profiles", f"unknown profiles {unknown} (known: {sorted(allowed_profiles)})")
    if not isinstance(entry.op_classes, list) or set(entry.op_classes) - set(OP_CLASSES):
        return _invalid(eid, "op_classes", f"unknown op classes {sorted(set(entry.op_classes) - set(OP_CLASSES))}")
    if not isinstance(entry.patterns, list) or not all(isinstance(p, str) and " " not in p for p in entry.patterns):
        return _invalid(eid, "patterns", "patterns must be a list of single tokens")
    trig = entry.trigger
    if trig.kind not in TRIGGER_KINDS:
        return _invalid(eid, "trigger.kind", f"trigger kind must be one of {TRIGGER_KINDS}")
    if not trig.text or not isinstance(trig.text, str):
        return _invalid(eid, "trigger.text", "trigger text is required")
    if trig.kind == "error" and not trig.error_kind:
        return _invalid(eid, "trigger.error_kind", "an error trigger needs error_kind")
    if trig.bottleneck is not None and trig.bottleneck not in BOTTLENECKS:
        return _invalid(eid, "trigger.bottleneck", f"bottleneck must be one of {BOTTLENECKS}")
    if trig.unit is not None and trig.unit not in UNITS:
        return _invalid(eid, "trigger.unit", f"unit must be one of {UNITS}")
    if not isinstance(entry.rationale, str) or not entry.rationale.strip():
        return _invalid(eid, "rationale", "rationale is required")
    if entry.provenance not in PROVENANCES:
        return _invalid(eid, "provenance", f"provenance must be one of {PROVENANCES}")
    if not isinstance(entry.version, int) or isinstance(entry.version, bool) or entry.version < 1:
        return _invalid(eid, "version", "version must be an integer >= 1")
    if not isinstance(entry.confidence, (int, float)) or not 0.0 <= float(entry.confidence) <= 1.0:
        return _invalid(eid, "confidence", "confidence must be in [0, 1]")
    if not isinstance(entry.params, dict):
        return _invalid(eid, "params", "params must be a mapping")
    for name, value in entry.params.items():
        if not isinstance(name, str) or not _PARAM_RE.match(name) or name in ENV_NAMES:
            return _invalid(eid, "params", f"parameter name {name!r} must be UPPER_CASE and not an env name")
        if isinstance(value, str):
            err = check_expression(value)
            if err:
                return _invalid(eid, f"params.{name}", f"expression refused: {err.message}")
        elif isinstance(value, list):
            if not value or not all(isinstance(v, (int, float, str, bool)) for v in value):
                return _invalid(eid, f"params.{name}", "a choice list must hold scalars and not be empty")
        elif not isinstance(value, (int, float, bool)):
            return _invalid(eid, f"params.{name}", "a parameter is a list of choices, a scalar or an expression")
    if entry.when is not None:
        err = check_expression(entry.when) if isinstance(entry.when, str) else HawkError("sandbox.syntax", "not text")
        if err:
            return _invalid(eid, "when", f"when refused: {err.message}")
    if not isinstance(entry.template, str) or not entry.template.strip():
        return _invalid(eid, "template", "template is required")
    err = check_program(entry.template)
    if err:
        return _invalid(eid, "template", f"template refused ({err.kind}): {err.message}")
    known = set(ENV_NAMES) | set(entry.params) | set(SAFE_BUILTINS) | set(HELPERS) | {"sch"}
    missing = _undefined_names(entry.template, known)
    if missing:
        return _invalid(eid, "template", f"template reads undefined names {missing}")
    return None


def entries_from_data(
    data: Any, origin: str, provenance: str | None = None, profiles: Iterable[str] | None = None
) -> tuple[list[KnowledgeEntry], HawkError | None]:
    """Parse and validate a list of entry dicts (or {"entries": [...]}); all valid or an error."""
    if isinstance(data, dict) and "entries" in data:
        data = data["entries"]
    if not isinstance(data, list):
        return [], HawkError("knowledge.invalid", f"{origin}: expected a list of entries", {"origin": origin})
    allowed = set(profiles) if profiles is not None else set(known_profiles())
    entries: list[KnowledgeEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            return [], HawkError("knowledge.invalid", f"{origin}: item {i} is not a mapping", {"origin": origin})
        item = {k: v for k, v in item.items() if k not in ("stats", "deleted")}
        if provenance is not None:
            item["provenance"] = provenance
        try:
            entry = KnowledgeEntry.from_dict(item)
        except (TypeError, ValueError) as exc:
            return [], _invalid(str(item.get("id", f"item {i}")), "entry", str(exc), origin)
        err = validate_entry(entry, allowed)
        if err:
            return [], HawkError(err.kind, err.message, {**err.context, "origin": origin})
        if entry.id in seen:
            return [], _invalid(entry.id, "id", "duplicate id in the same file", origin)
        seen.add(entry.id)
        entries.append(entry)
    return entries, None


def read_entry_file(
    path: str | Path, provenance: str | None = None, profiles: Iterable[str] | None = None
) -> tuple[list[KnowledgeEntry], HawkError | None]:
    """Read a YAML or JSON entry file; every entry valid or ([], the first error)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], HawkError("knowledge.io", f"cannot read {path}: {exc.strerror}", {"origin": str(path)})
    return parse_entry_text(text, str(path), provenance, profiles)


def parse_entry_text(
    text: str, origin: str, provenance: str | None = None, profiles: Iterable[str] | None = None
) -> tuple[list[KnowledgeEntry], HawkError | None]:
    """Parse YAML/JSON text holding entries; every entry valid or ([], the first error)."""
    try:
        data = json.loads(text) if origin.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [], HawkError("knowledge.invalid", f"{origin}: not valid YAML/JSON: {first}", {"origin": origin})
    return entries_from_data(data, origin, provenance, profiles)

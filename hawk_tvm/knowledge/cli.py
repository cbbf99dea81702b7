"""`hawk kb ...`: list, show, search, add, export, import, stats, distill, restore and reindex the knowledge base."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .kb import KnowledgeBase
from .validate import OP_CLASSES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `kb` command (with its subcommands) to an argparse subparsers object."""
    kb = subparsers.add_parser("kb", help="inspect and edit the knowledge base")
    kb.add_argument("--store", type=Path, default=None, help="SQLite store (default: the configured knowledge_db)")
    sub = kb.add_subparsers(dest="kb_command", required=True)
    ls = sub.add_parser("list", help="list entries")
    ls.add_argument("--profile")
    ls.add_argument("--op", choices=OP_CLASSES)
    ls.add_argument("--deleted", action="store_true", help="include soft-deleted entries")
    show = sub.add_parser("show", help="show one entry with its effect stats")
    show.add_argument("id")
    search = sub.add_parser("search", help="retrieve entries for free text")
    search.add_argument("text")
    search.add_argument("--profile")
    search.add_argument("--op", choices=OP_CLASSES)
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--mode", choices=("2d", "syntactic", "semantic"), default="2d")
    add = sub.add_parser("add", help="validate and add the entries of a YAML/JSON file (provenance kept)")
    add.add_argument("file", type=Path)
    exp = sub.add_parser("export", help="write all live entries to a YAML/JSON file")
    exp.add_argument("file", type=Path)
    imp = sub.add_parser("import", help="import a YAML/JSON file as provenance 'imported', all or nothing")
    imp.add_argument("file", type=Path)
    st = sub.add_parser("stats", help="counts, per-entry effects (ledger) and the distillation history")
    st.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    st.add_argument("--all", action="store_true", help="every entry, not only those with ledger rows")
    dist = sub.add_parser("distill", help="prune harmful entries and merge redundant ones; prints the report")
    dist.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    dist.add_argument("--json", action="store_true", help="print the report as JSON")
    dist.add_argument("--llm", action="store_true", help="let the configured LLM arbitrate merges")
    rest = sub.add_parser("restore", help="bring back a soft-deleted (pruned or merged) entry with its statistics")
    rest.add_argument("id")
    sub.add_parser("reindex", help="rebuild the derived Annoy indexes")
    kb.set_defaults(func=run)
    return kb


def _store_path(args: argparse.Namespace) -> Path:
    if getattr(args, "store", None):
        return Path(args.store)
    from ..config import current_config

    return current_config().resolved_knowledge_db()


def _fail(message: str) -> int:
    print(f"hawk kb: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Execute a `kb` subcommand; 0 on success, 2 with a one-line reason on bad input."""
    try:
        kb = KnowledgeBase.open(_store_path(args), seed=True, mode=getattr(args, "mode", "2d"))
    except Exception as exc:  # unreadable / newer store: a one-line reason
        return _fail(f"cannot open the store: {exc}")
    with kb:
        cmd = args.kb_command
        if cmd == "list":
            for s in kb.list(profile=args.profile, op_class=args.op, include_deleted=args.deleted):
                e = s.entry
                flag = " [deleted]" if e.deleted else ""
                print(f"{e.id}\t{','.join(e.profiles)}\t{','.join(e.op_classes) or '*'}\t{e.trigger.kind}{flag}")
            return 0
        if cmd == "show":
            stored = kb.get(args.id)
            if stored is None:
                return _fail(f"no entry {args.id!r}")
            import yaml

            data = stored.entry.to_dict()
            data["deleted_reason"] = stored.deleted_reason
            data["origin"] = stored.origin
            print(yaml.safe_dump(data, sort_keys=False), end="")
            return 0
        if cmd == "search":
            for r in kb.search_text(args.text, profile=args.profile, op_class=args.op, k=args.k):
                syn = "-" if r.syntactic_score is None else f"{r.syntactic_score:.3f}"
                sem = "-" if r.semantic_score is None else f"{r.semantic_score:.3f}"
                print(f"{r.score:.4f}\tsyn={syn}\tsem={sem}\t{r.entry.id}\t{r.entry.trigger.text}")
            return 0
        if cmd in ("add", "import"):
            if not args.file.exists():
                return _fail(f"no such file: {args.file}")
            n, err = kb.import_file(args.file, provenance=None if cmd == "add" else "imported")
            if err:
                return _fail(err.message)
            print(f"{n} entries written")
            return 0
        if cmd == "export":
            try:
                n = kb.export_file(args.file)
            except OSError as exc:
                return _fail(f"cannot write {args.file}: {exc.strerror}")
            print(f"{n} entries exported to {args.file}")
            return 0
        if cmd == "stats":
            return _stats(kb, args)
        if cmd == "distill":
            from .distill import distill

            config = None
            if args.llm:
                from ..config import current_config

                config = current_config()
                if not config.llm.enabled:
                    return _fail("--llm needs a model (HAWK_LLM_MODEL or --llm-model)")
            report = distill(kb, config=config, dry_run=args.dry_run)
            print(json.dumps(report.to_dict(), indent=1, default=str) if args.json else report.summary())
            return 0
        if cmd == "restore":
            err = kb.restore(args.id)
            if err:
                return _fail(err.message)
            stored = kb.get(args.id)
            st = stored.entry.stats if stored else None
            extra = f" (succeeded {st.succeeded}, failed {st.failed}, applied {st.applied})" if st else ""
            print(f"restored {args.id}{extra}")
            return 0
        if cmd == "reindex":
            index = kb.reindex()
            print(f"reindexed {index.count} entries at generation {index.generation}")
            return 0
    return _fail(f"unknown kb command {cmd!r}")


def _stats(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    from .ledger import entry_effects

    info = kb.stats()
    rows = kb.list(include_deleted=True)
    effects = entry_effects(kb.store, [s.entry.id for s in rows])
    history = kb.store.distillations()
    per_entry = []
    for s in rows:
        eff = effects[s.entry.id]
        if not args.all and not (eff.retrieved or eff.applied or eff.succeeded or eff.failed) and not s.entry.deleted:
            continue
        per_entry.append({**eff.to_dict(), "provenance": s.entry.provenance, "confidence": s.entry.confidence,
                          "deleted": s.deleted_reason if s.entry.deleted else None})
    if getattr(args, "json", False):
        info["per_entry"] = per_entry
        info["distillations"] = history
        print(json.dumps(info, indent=1, default=str))
        return 0
    print(json.dumps(info, indent=1, default=str))
    print()
    head = (f"{'entry':<52} {'prov':<5} {'conf':>4} {'retr':>5} {'appl':>5} {'succ':>5} {'fail':>5} "
            f"{'fail-rate [95% low]':>19} {'speedup':>8}  state")
    print(head)
    print("-" * len(head))
    for r in per_entry:
        rate = "-" if r["failure_rate"] is None else f"{r['failure_rate']:.2f} [{r['failure_rate_low']:.2f}]"
        speed = "-" if r["mean_speedup"] is None else f"{r['mean_speedup']:.2f}x"
        state = "deleted: " + str(r["deleted"])[:60] if r["deleted"] else "live"
        print(f"{r['entry'][:52]:<52} {r['provenance'][:5]:<5} {r['confidence']:>4.2f} {r['retrieved']:>5} "
              f"{r['applied']:>5} {r['succeeded']:>5} {r['failed']:>5} {rate:>19} {speed:>8}  {state}")
    print()
    print(f"distillation history ({len(history)} runs)")
    for h in history:
        rep = h["report"]
        pruned = ", ".join(p["entry"] for p in rep.get("pruned", [])) or "-"
        merged = ", ".join(f"{m['absorbed']}->{m['survivor']}" for m in rep.get("merged", [])) or "-"
        print(f"  #{h['seq']} generation {h['generation']}: pruned {pruned}; merged {merged}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m hawk_tvm.knowledge.cli ...`) until hawk_tvm/cli.py wires `hawk kb`."""
    parser = argparse.ArgumentParser(prog="hawk")
    add_parser(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

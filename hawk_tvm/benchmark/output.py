"""Writes a benchmark run to disk: JSON record, Markdown report and PNG plots (atomic file writes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .plots import make_plots
from .report import render, render_index


def run_stem(run: dict[str, Any]) -> str:
    """File stem of a run: ``<suite>_<target>[_quick]``."""
    meta = run["meta"]
    return f"{meta['suite']}_{meta['target']}" + ("_quick" if meta["quick"] else "")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_run(run: dict[str, Any], folder: Path, plots: bool = True) -> dict[str, Path]:
    """Write `<stem>.json`, `<stem>.md` and the plots into `folder`; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = run_stem(run)
    pngs = make_plots(run, folder, stem) if plots else {}
    paths = {"json": folder / f"{stem}.json", "md": folder / f"{stem}.md"}
    _write(paths["json"], json.dumps(run, indent=1, default=str) + "\n")
    _write(paths["md"], render(run, pngs))
    paths.update({cap: folder / name for cap, name in pngs.items()})
    return paths


def write_index(runs: list[dict[str, Any]], folder: Path) -> Path:
    """Write `README.md` in `folder` linking the reports of `runs`."""
    path = Path(folder) / "README.md"
    _write(path, render_index([(r, f"{run_stem(r)}.md") for r in runs]))
    return path

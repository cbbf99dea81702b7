"""PNG plots of a benchmark run (matplotlib, Agg): speedup per operator, fast_p curves, roofline fraction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .metrics import fast_p, is_correct, speedup
from .report import ordered

COLORS = {"hawk": "#d62728", "hawk-llm": "#9467bd", "hawk-generic": "#ff9896", "ms-budget": "#aec7e8",
          "ms-trials": "#1f77b4", "numpy": "#2ca02c", "default": "#7f7f7f", "roofline": "#000000"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(label: str, i: int) -> str:
    return COLORS.get(label, f"C{(i + 4) % 10}")


def speedup_plot(run: dict[str, Any], path: Path) -> Path:
    """Horizontal grouped bars: speedup over the default lowering per operator and backend (log scale)."""
    plt = _plt()
    ops = run["ops"]
    labels = [lbl for lbl in ordered(run["meta"]["backends"]) if lbl not in ("default",)]
    labels = [lbl for lbl in labels if ":" not in lbl]  # ablation arms have their own table
    n = len(labels)
    height = 0.8 / max(1, n)
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(ops) * max(1.0, n / 3) + 1.6))
    for j, lbl in enumerate(labels):
        ys, xs, bad = [], [], []
        for i, op in enumerate(ops):
            y = len(ops) - 1 - i + (n / 2 - j - 0.5) * height
            s = speedup(op["results"], lbl, "default")
            if s is not None:
                ys.append(y)
                xs.append(s)
            elif op["results"].get(lbl, {}).get("status") in ("ok", "failed"):
                bad.append(y)
        if lbl == "roofline":
            ax.scatter(xs, ys, marker="|", s=120, color=_color(lbl, j), label="roofline (bound)", zorder=3)
            continue
        ax.barh(ys, xs, height=height, color=_color(lbl, j), label=lbl, left=0)
        if bad:
            ax.scatter([1.0] * len(bad), bad, marker="x", color=_color(lbl, j), s=30, zorder=3)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(ops)))
    ax.set_yticklabels([op["name"] for op in reversed(ops)], fontsize=8)
    ax.set_xlabel("speedup over TVM default lowering (log scale; x = incorrect / failed)")
    meta = run["meta"]
    ax.set_title(f"{meta['suite']} on {meta['target']}{' (quick)' if meta['quick'] else ''}: speedup per operator")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fastp_plot(run: dict[str, Any], path: Path) -> Path:
    """fast_p as p grows, against the default lowering and against MetaSchedule (fixed trials)."""
    plt = _plt()
    rows = [op["results"] for op in run["ops"]]
    bases = [b for b in ("default", "ms-trials") if b in run["meta"]["backends"]]
    labels = [lbl for lbl in ordered(run["meta"]["backends"]) if lbl not in ("roofline",) and ":" not in lbl]
    ps = [i / 20 for i in range(0, 81)]
    fig, axes = plt.subplots(1, len(bases), figsize=(6 * len(bases), 4.2), squeeze=False)
    for ax, base in zip(axes[0], bases):
        for j, lbl in enumerate(labels):
            if lbl == base:
                continue
            vals = [fast_p(rows, lbl, base, p)[0] for p in ps]
            if all(v is None for v in vals):
                continue
            ax.plot(ps, [v or 0.0 for v in vals], label=lbl, color=_color(lbl, j), linewidth=2)
        ax.axvline(1.0, color="black", linewidth=0.6, linestyle=":")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("p (speedup threshold)")
        ax.set_ylabel("fast_p (correct and speedup > p)")
        ax.set_title(f"against {'default lowering' if base == 'default' else 'MetaSchedule (fixed trials)'}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roofline_plot(run: dict[str, Any], path: Path) -> Path:
    """Roofline fraction per operator and backend (simulator targets)."""
    plt = _plt()
    ops = run["ops"]
    labels = [lbl for lbl in ordered(run["meta"]["backends"]) if lbl != "roofline" and ":" not in lbl]
    n = len(labels)
    width = 0.8 / max(1, n)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(ops) + 2), 4.6))
    for j, lbl in enumerate(labels):
        xs, ys = [], []
        for i, op in enumerate(ops):
            r = op["results"].get(lbl)
            frac = ((r or {}).get("verdict") or {}).get("roofline_fraction")
            if is_correct(r) and frac:
                xs.append(i + (j - n / 2 + 0.5) * width)
                ys.append(frac)
        ax.bar(xs, ys, width=width, color=_color(lbl, j), label=lbl)
    ax.set_yscale("log")
    ax.set_ylim(top=1.5)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(ops)))
    ax.set_xticklabels([op["name"] for op in ops], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("fraction of roofline (1 = at the limit)")
    meta = run["meta"]
    ax.set_title(f"{meta['suite']} on {meta['target']}: fraction of the roofline reached")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_plots(run: dict[str, Any], folder: Path, stem: str) -> dict[str, str]:
    """Write every plot that applies; returns caption -> file name (relative to `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"speedup per operator": speedup_plot(run, folder / f"{stem}_speedup.png").name,
           "fast_p curves": fastp_plot(run, folder / f"{stem}_fastp.png").name}
    if run["meta"]["kind"] == "npu":
        out["roofline fraction"] = roofline_plot(run, folder / f"{stem}_roofline.png").name
    return out

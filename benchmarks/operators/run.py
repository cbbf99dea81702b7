"""Reproduce the committed operator results: host and davinci suites -> benchmarks/results/operators/."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "operators"


def main(argv: list[str] | None = None) -> int:
    """Run the suite on each target and write JSON, Markdown, PNGs and an index README."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the quick subset (about 10 operators per target)")
    parser.add_argument("--targets", default="host,davinci", help="comma-separated targets")
    parser.add_argument("--ablations", default="", help="comma-separated: retrieval, synthesis, distillation")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))

    from hawk_tvm.bench import headline
    from hawk_tvm.benchmark.output import write_index, write_run
    from hawk_tvm.benchmark.runner import BenchSettings, run_bench

    ablations = tuple(a for a in args.ablations.split(",") if a)
    runs = []
    start = time.monotonic()
    for target in [t for t in args.targets.split(",") if t]:
        settings = replace(BenchSettings.for_mode(args.quick), target=target, ablations=ablations)
        record = run_bench(settings)
        write_run(record, Path(args.out))
        runs.append(record)
        print(headline(record), flush=True)
    index = write_index(runs, Path(args.out))
    print(f"wrote {index} ({(time.monotonic() - start) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

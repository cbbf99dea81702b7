"""Deployable artifacts: a tar with the compiled library (mod.so) and metadata.json (inputs, outputs, build info)."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .frontend import InputError, ModelInfo


def save_artifact(path: str | Path, executable: Any, info: ModelInfo, build: dict[str, Any]) -> Path:
    """Export `executable` and its metadata into a tar at `path` (written atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hawk-art-") as tmp:
        lib = os.path.join(tmp, "mod.so")
        executable.export_library(lib)
        meta = os.path.join(tmp, "metadata.json")
        with open(meta, "w", encoding="utf-8") as fh:
            json.dump({**info.to_dict(), "build": build, "format": 1}, fh, indent=2)
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(lib, arcname="mod.so")
            tar.add(meta, arcname="metadata.json")
        os.replace(partial, path)
    return path


class ArtifactRunner:
    """Loads an artifact and runs it with the Relax VM on the CPU."""

    def __init__(self, lib_path: str, meta: dict[str, Any], tmp: Any) -> None:
        import tvm
        from tvm import relax

        self._tmp = tmp
        self.meta = meta
        self.device = tvm.cpu()
        self.vm = relax.VirtualMachine(tvm.runtime.load_module(lib_path), self.device)

    def _inputs(self, feeds: dict[str, np.ndarray], seed: int = 0) -> list[Any]:
        import tvm

        rng = np.random.default_rng(seed)
        args = []
        for spec in self.meta["inputs"]:
            name, shape, dtype = spec["name"], spec["shape"], spec["dtype"]
            if name in feeds:
                arr = np.asarray(feeds[name])
                if list(arr.shape) != list(shape):
                    raise InputError(f"input {name!r} has shape {list(arr.shape)}, the model expects {shape}")
                arr = arr.astype(dtype)
            else:
                arr = rng.standard_normal(shape).astype(dtype) if dtype.startswith("float") else np.zeros(shape, dtype)
            args.append(tvm.runtime.tensor(arr, self.device))
        unknown = set(feeds) - {s["name"] for s in self.meta["inputs"]}
        if unknown:
            raise InputError(f"inputs file has arrays for unknown inputs: {sorted(unknown)}")
        return args

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run once; outputs in order."""
        out = self.vm["main"](*self._inputs(feeds))
        return [o.numpy() for o in flatten_outputs(out)]

    def time(self, feeds: dict[str, np.ndarray], repeat: int = 10) -> dict[str, float]:
        """Latency statistics over `repeat` runs (after one warm-up), via the VM's time evaluator."""
        args = self._inputs(feeds)
        self.vm["main"](*args)
        timer = self.vm.time_evaluator("main", self.device, number=1, repeat=repeat)
        results = np.array(timer(*args).results)
        return {
            "mean": float(results.mean()),
            "median": float(np.median(results)),
            "std": float(results.std()),
            "repeat": repeat,
        }


def flatten_outputs(value: Any) -> list[Any]:
    """The leaves of a (nested) VM result: tensors in order."""
    if hasattr(value, "numpy"):
        return [value]
    out: list[Any] = []
    for item in value:
        out.extend(flatten_outputs(item))
    return out


def load_artifact(path: str | Path) -> ArtifactRunner:
    """Open an artifact written by `save_artifact`; InputError when it is missing or not one."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"artifact not found: {path}")
    tmp = tempfile.TemporaryDirectory(prefix="hawk-run-")
    try:
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
            if not {"mod.so", "metadata.json"} <= names:
                raise InputError(f"{path} is not a hawk artifact (needs mod.so and metadata.json)")
            for name in ("mod.so", "metadata.json"):
                tar.extract(name, tmp.name, filter="data")
    except tarfile.TarError as exc:
        raise InputError(f"{path} is not a hawk artifact: {exc}") from exc
    with open(os.path.join(tmp.name, "metadata.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    return ArtifactRunner(os.path.join(tmp.name, "mod.so"), meta, tmp)

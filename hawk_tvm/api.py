"""Python API: `hawk_tvm.compile(model, example_inputs, target=..., hawk=True, **config)` -> a callable CompiledModel.

The same steps as `hawk compile` (which calls `check_target`, `load_model_file` and `build` from here): a model in
(nn.Module, ExportedProgram, a saved .pt2, an ONNX file or ModelProto, a Relax IRModule), the target and precision
checked, a plain TVM build or the Hawk pipeline, a Relax VM on the host CPU. For NPU targets (davinci, ...) Hawk
schedules and measures each operator for the NPU on its simulator and the artifact runs on the host, as `hawk run`
runs it. Bad input is an `InputError` of one line.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import flatten_outputs
from .config import Budget, HawkConfig
from .frontend import InputError, ModelInfo, load_onnx

# Budget fields reachable as compile(..., name=value); "time_budget" and "trials" are the CLI's names for two of them
_BUDGET_ALIASES = {"time_budget": "total_time_s", "trials": "candidates"}


def check_target(target: str, precision: str | None = None) -> None:
    """InputError unless `target` is host or a loadable hardware profile and `precision` a known mode."""
    if not isinstance(target, str) or not _known_target(target):
        raise InputError(f"unknown target {target!r}: use host or a hardware profile name / JSON file")
    if target != "host":
        from .hardware.profile import ProfileError, load_profile

        try:
            load_profile(target)  # validate before any work: a bad profile is bad input, one line
        except ProfileError as exc:
            raise InputError(f"bad hardware profile: {exc}") from None
    if precision is not None:
        from .passes.precision import PRECISION_MODES

        if precision not in PRECISION_MODES:
            raise InputError(f"unknown precision {precision!r}: choose from {', '.join(PRECISION_MODES)}")


def _known_target(name: str) -> bool:
    if name == "host" or (Path(name).suffix == ".json" and Path(name).exists()):
        return True
    try:
        from .hardware.profile import list_profiles

        return name in list_profiles()
    except ImportError:
        return False


def is_pt2(path: str | Path) -> bool:
    """A saved torch.export program: the .pt2 suffix, or a zip archive (ONNX files are protobuf, never zip)."""
    path = Path(path)
    return path.suffix == ".pt2" or (path.is_file() and zipfile.is_zipfile(path))


def load_model_file(path: str | Path, input_shapes: dict[str, list[int]] | None = None) -> tuple[Any, ModelInfo]:
    """A .pt2 (torch.export.save) or .onnx file -> (Relax IRModule, ModelInfo)."""
    if is_pt2(path):
        from .torch_frontend import load_pt2

        mod, info, _program = load_pt2(path, input_shapes)
        return mod, info
    return load_onnx(path, input_shapes)


def build(mod: Any, config: HawkConfig, hawk: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """Compile a Relax module for the host CPU: (executable, CompileReport or None, build metadata).

    With `hawk`, through the registered "hawk" pipeline under `config` (the per-task summary is printed when
    `config.verbose`); else TVM's default pipeline.
    """
    import tvm

    from .measure.host import host_target

    report = None
    start = time.monotonic()
    if hawk:
        from contextlib import nullcontext

        from .config import use_config
        from .session import last_report
        from .sim.functional import npu_host_build

        # NPU kernels build for the host as the functional check built them (vectorized loops lowered serially)
        with use_config(config), (npu_host_build() if config.target != "host" else nullcontext()):
            ex = tvm.compile(mod, target=host_target(), relax_pipeline="hawk")
        report = last_report()
    else:
        ex = tvm.compile(mod, target=host_target())
    info: dict[str, Any] = {"target": config.target, "hawk": bool(hawk), "compile_s": time.monotonic() - start}
    if hawk and config.target != "host":
        info["precision"] = config.precision
    if hawk and report is not None:
        info["ops"] = [r.name for r in report.rows]
        if report.costs:
            from .model_report import to_json

            info["model"] = to_json(report.costs)
    return ex, report, info


def make_config(target: str, options: dict[str, Any]) -> HawkConfig:
    """HawkConfig(target=target, ...) from keyword options: HawkConfig fields, Budget fields, `time_budget`
    (seconds or "30s"/"10m") and `trials`. InputError naming an unknown option."""
    fields = {f.name for f in dataclasses.fields(HawkConfig)} - {"target"}
    budget_fields = {f.name for f in dataclasses.fields(Budget)}
    config_opts: dict[str, Any] = {}
    budget_opts: dict[str, Any] = {}
    for key, value in options.items():
        name = _BUDGET_ALIASES.get(key, key)
        if name in budget_fields:
            budget_opts[name] = _seconds(value) if name.endswith("_s") and value is not None else value
        elif name in fields:
            config_opts[name] = Path(value) if name in ("database_dir", "knowledge_db") and value else value
        else:
            raise InputError(f"unknown option {key!r} for hawk_tvm.compile: use a HawkConfig or Budget field "
                             f"({', '.join(sorted(fields | budget_fields | set(_BUDGET_ALIASES)))})")
    check_target(target, config_opts.get("precision"))
    budget = config_opts.pop("budget", None) or Budget()
    if budget_opts:
        budget = dataclasses.replace(budget, **budget_opts)
    return HawkConfig(target=target, budget=budget, **config_opts)


def _seconds(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:])
    try:
        return float(text[:-1]) * scale if scale else float(text)
    except ValueError:
        raise InputError(f"bad duration {value!r}: use seconds or e.g. 90s, 10m, 1h") from None


def _import_model(model: Any, example_inputs: Any, input_shapes: dict[str, list[int]] | None
                  ) -> tuple[Any, ModelInfo, Any]:
    """(Relax IRModule, ModelInfo, output pytree spec or None) of any accepted model form."""
    if isinstance(model, (str, Path)):
        if is_pt2(model):
            from .torch_frontend import load_pt2

            mod, info, program = load_pt2(model, input_shapes)
            return mod, info, program.call_spec.out_spec
        return (*load_onnx(model, input_shapes), None)
    kind = type(model).__module__.split(".")[0]
    if kind == "onnx":
        import onnx

        with tempfile.TemporaryDirectory(prefix="hawk-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            onnx.save(model, str(path))
            return (*load_onnx(path, input_shapes), None)
    if kind == "torch" or _is_torch_model(model):
        from .torch_frontend import export_module, import_program

        program = export_module(model, example_inputs)
        mod, info = import_program(program, input_shapes, what=type(model).__name__)
        return mod, info, program.call_spec.out_spec
    import tvm

    if isinstance(model, tvm.IRModule):
        return model, _relax_info(model), None
    raise InputError(f"cannot compile a {type(model).__name__}: give a torch.nn.Module, a torch.export."
                     "ExportedProgram, a .pt2 or .onnx path, an onnx.ModelProto or a Relax IRModule")


def _is_torch_model(model: Any) -> bool:
    torch = sys.modules.get("torch")  # a torch object exists only once torch is imported
    return torch is not None and isinstance(model, (torch.nn.Module, torch.export.ExportedProgram))


def _relax_info(mod: Any) -> ModelInfo:
    if not any(g.name_hint == "main" for g in mod.get_global_vars()):
        raise InputError("the IRModule has no 'main' function")
    inputs = []
    for param in mod["main"].params:
        sinfo = param.struct_info
        shape = getattr(getattr(sinfo, "shape", None), "values", None)
        if shape is None or not all(hasattr(v, "value") for v in shape):
            raise InputError(f"main's parameter {param.name_hint!r} needs a static tensor shape")
        inputs.append((param.name_hint, [int(v.value) for v in shape], str(sinfo.dtype)))
    return ModelInfo(inputs, [])


def compile(
    model: Any,
    example_inputs: Any = None,
    target: str = "host",
    hawk: bool = True,
    *,
    input_shapes: dict[str, list[int]] | None = None,
    **options: Any,
) -> CompiledModel:
    """Compile `model` for `target` and return a callable `CompiledModel`.

    model:          a torch.nn.Module (exported with torch.export on `example_inputs`), a torch.export.ExportedProgram,
                    a path to a .pt2 (torch.export.save) or .onnx file, an onnx.ModelProto, or a Relax IRModule.
    example_inputs: a tensor or tuple of tensors (torch or numpy) of the input shapes; needed for an nn.Module.
    target:         "host", or a hardware profile ("davinci", "edge", a JSON path): Hawk schedules for that NPU
                    (simulated) and the result runs on the host CPU, as `hawk run` runs an artifact.
    hawk:           schedule with Hawk (default); False = TVM's default build.
    input_shapes:   {input name: shape} for dynamic dimensions of a program or ONNX model.
    options:        HawkConfig fields (database_dir, knowledge_db, precision, seed, verbose, llm, budget, ...),
                    Budget fields (total_time_s, candidates, repair_rounds, ...), `time_budget` ("30s", or seconds)
                    and `trials`.
    """
    config = make_config(target, options)
    mod, info, out_spec = _import_model(model, example_inputs, input_shapes)
    ex, report, build_info = build(mod, config, hawk)
    if hawk and report is not None and config.verbose:
        print(report.table(), file=sys.stderr)
    return CompiledModel(ex, info, build_info, report, out_spec)


class CompiledModel:
    """A compiled model on the host CPU: call it with torch tensors or numpy arrays (positionally in input order,
    or by input name); outputs come back as torch tensors (numpy arrays when torch is not installed), in the
    model's own output structure for torch programs, else one array or a tuple."""

    def __init__(self, executable: Any, info: ModelInfo, build_info: dict[str, Any], report: Any = None,
                 out_spec: Any = None) -> None:
        import tvm
        from tvm import relax

        self.executable = executable
        self.info = info
        self.build_info = build_info
        self.report = report
        self._out_spec = out_spec
        self._device = tvm.cpu()
        self._vm = relax.VirtualMachine(executable, self._device)

    @property
    def input_names(self) -> list[str]:
        """Input names, in positional order."""
        return [name for name, _, _ in self.info.inputs]

    def _args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        import tvm

        specs = self.info.inputs
        if len(args) > len(specs):
            raise InputError(f"the model takes {len(specs)} input(s) ({', '.join(self.input_names)}), got {len(args)}")
        feeds = dict(zip(self.input_names, args))
        for name, value in kwargs.items():
            if name not in feeds and name in self.input_names:
                feeds[name] = value
            else:
                raise InputError(f"unknown or repeated input {name!r}: inputs are {', '.join(self.input_names)}")
        out = []
        for name, shape, dtype in specs:
            if name not in feeds:
                raise InputError(f"input {name!r} is missing (inputs: {', '.join(self.input_names)})")
            arr = _to_numpy(feeds[name])
            if list(arr.shape) != list(shape):
                raise InputError(f"input {name!r} has shape {list(arr.shape)}, the model expects {shape}")
            out.append(tvm.runtime.tensor(np.ascontiguousarray(arr.astype(dtype, copy=False)), self._device))
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self._vm["main"](*self._args(args, kwargs))
        outputs = [_from_tvm(o) for o in flatten_outputs(result)]
        if self._out_spec is not None:
            from torch.utils._pytree import tree_unflatten

            return tree_unflatten(outputs, self._out_spec)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def time(self, *args: Any, repeat: int = 10, **kwargs: Any) -> dict[str, float]:
        """Latency on the host CPU: mean / median / std seconds over `repeat` runs after one warm-up."""
        inputs = self._args(args, kwargs)
        self._vm["main"](*inputs)
        results = np.array(self._vm.time_evaluator("main", self._device, number=1, repeat=max(1, repeat))(
            *inputs).results)
        return {"mean": float(results.mean()), "median": float(np.median(results)), "std": float(results.std()),
                "repeat": int(max(1, repeat))}

    def save(self, path: str | Path) -> Path:
        """Write an artifact that `hawk run` (and `hawk_tvm.artifact.load_artifact`) runs."""
        from .artifact import save_artifact

        return save_artifact(path, self.executable, self.info, self.build_info)

    def __repr__(self) -> str:
        inputs = ", ".join(f"{n}{s}:{d}" for n, s, d in self.info.inputs)
        return (f"CompiledModel({inputs} -> {len(self.info.outputs) or '?'} output(s), "
                f"target={self.build_info.get('target')}, hawk={self.build_info.get('hawk')})")


def _to_numpy(value: Any) -> np.ndarray:
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic, int, float, list, tuple)):
        return np.asarray(value)
    raise InputError(f"inputs must be torch tensors or numpy arrays, got {type(value).__name__}")


def _from_tvm(value: Any) -> Any:
    arr = value.numpy()
    try:
        import torch
    except ImportError:
        return arr
    return torch.from_numpy(arr)

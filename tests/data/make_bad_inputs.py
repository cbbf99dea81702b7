"""Generate the bad-input corpus: malformed ONNX models and hardware profiles that `hawk compile` must refuse.

Every file must get exit status 2 and one error line, never a traceback. Run
``python tests/data/make_bad_inputs.py [OUT_DIR]`` (default: tests/data/bad_inputs); the test calls `generate`.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

F = 1  # TensorProto.FLOAT


def _h() -> Any:
    from onnx import helper

    return helper


def _model(nodes: list, inputs: list, outputs: list, inits: list | None = None, opset: int | None = 17,
           domains: tuple[tuple[str, int], ...] = (), ir: int = 8) -> Any:
    h = _h()
    graph = h.make_graph(nodes, "bad", inputs, outputs, initializer=inits or [])
    imports = ([h.make_opsetid("", opset)] if opset is not None else []) + [h.make_opsetid(d, v) for d, v in domains]
    model = h.make_model(graph, opset_imports=imports)
    model.ir_version = ir
    return model


def _vi(name: str, shape: list | None, elem: int = F) -> Any:
    return _h().make_tensor_value_info(name, elem, shape)


def _out(name: str, rank: int = 2, elem: int = F) -> Any:
    """A graph output of known type and symbolic shape (the checker needs a shape field)."""
    return _vi(name, [f"{name}_d{i}" for i in range(rank)], elem)


def _unary(op: str = "Relu", shape: list | None = None, elem: int = F, domain: str = "", **attrs: Any) -> Any:
    shape = [1, 4] if shape is None else shape
    node = _h().make_node(op, ["x"], ["y"], domain=domain, **attrs)
    doms = ((domain, 1),) if domain else ()
    return _model([node], [_vi("x", shape, elem)], [_out("y", rank=max(1, len(shape)), elem=elem)], domains=doms)


def _binary(op: str, a: list, b: list, **attrs: Any) -> Any:
    node = _h().make_node(op, ["a", "b"], ["y"], **attrs)
    return _model([node], [_vi("a", a), _vi("b", b)], [_out("y")])


def _const(name: str, shape: list, values: list | None = None, elem: int = F) -> Any:
    import numpy as np

    n = int(np.prod(shape)) if shape else 1
    return _h().make_tensor(name, elem, shape, values if values is not None else [0.5] * n)


def _with_init(op: str, shape: list, init: Any, **attrs: Any) -> Any:
    node = _h().make_node(op, ["x", init.name], ["y"], **attrs)
    return _model([node], [_vi("x", shape)], [_out("y")], inits=[init])


def _subgraph(op_inside: str, domain: str = "", depth: int = 1) -> Any:
    """An If whose branches (nested `depth` deep) contain `op_inside`."""
    h = _h()

    def branch(level: int) -> Any:
        if level == depth:
            node = h.make_node(op_inside, ["x"], ["out"], domain=domain)
        else:
            node = h.make_node("If", ["c"], ["out"], then_branch=branch(level + 1), else_branch=branch(level + 1))
        return h.make_graph([node], f"b{level}", [], [_vi("out", [1, 4])])

    node = h.make_node("If", ["c"], ["y"], then_branch=branch(1), else_branch=branch(1))
    doms = ((domain, 1),) if domain else ()
    return _model([node], [_vi("x", [1, 4]), _vi("c", [], 9)], [_vi("y", [1, 4])], domains=doms)


def _loop_custom() -> Any:
    h = _h()
    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]), h.make_node("Relu", ["v_in"], ["v_out"], domain="my.ops")],
        "body", [_vi("i", [], 7), _vi("cond_in", [], 9), _vi("v_in", [1, 4])],
        [_vi("cond_out", [], 9), _vi("v_out", [1, 4])])
    node = h.make_node("Loop", ["n", "c", "x"], ["y"], body=body)
    return _model([node], [_vi("n", [], 7), _vi("c", [], 9), _vi("x", [1, 4])], [_vi("y", [1, 4])],
                  domains=(("my.ops", 1),))


def _edit(base: Any, fn: Callable[[Any], None]) -> Any:
    model = copy.deepcopy(base)
    fn(model)
    return model


def onnx_cases() -> dict[str, Any]:
    """name -> an onnx ModelProto, or bytes for files that are not ONNX at all."""
    h = _h()
    relu = _unary()
    good = relu.SerializeToString()
    cases: dict[str, Any] = {
        "empty_file": b"",
        "random_bytes": bytes(range(256)) * 4,
        "truncated_model": good[: len(good) // 2],
        "text_file": b"this is not an onnx model\n",
        "json_file": b'{"graph": {"node": []}}',
        "ir_version_0": _edit(relu, lambda m: setattr(m, "ir_version", 0)),
        "no_opset_import": _model([h.make_node("Relu", ["x"], ["y"])], [_vi("x", [1, 4])], [_out("y")],
                                  opset=None),
        "opset_9999": _model([h.make_node("Relu", ["x"], ["y"])], [_vi("x", [1, 4])], [_out("y")], opset=9999),
        "unknown_op": _unary("FooBarOp"),
        "empty_op_type": _unary(""),
        "custom_domain_relu": _unary("Relu", domain="com.example"),
        "custom_domain_conv": _unary("Conv", domain="com.vendor.npu"),
        "ms_domain_gelu": _unary("Gelu", domain="com.microsoft"),
        "subgraph_unknown_op": _subgraph("FooBarOp"),
        "subgraph_custom_relu": _subgraph("Relu", domain="my.ops"),
        "nested_subgraph_custom_op": _subgraph("Relu", domain="my.ops", depth=3),
        "loop_body_custom_op": _loop_custom(),
        "shape_1e12x4": _unary(shape=[10**12, 4]),
        "shape_2e40": _unary(shape=[2**40]),
        "shape_1e6x1e6": _unary(shape=[10**6, 10**6]),
        "shape_product_overflow": _unary(shape=[2**20, 2**20, 2**20]),
        "dim_zero": _unary(shape=[0, 4]),
        "dim_negative": _unary(shape=[-5, 4]),
        "dim_symbolic": _unary(shape=["N", 4]),
        "no_shape": _model([h.make_node("Relu", ["x"], ["y"])], [_vi("x", None)], [_out("y")]),
        "elem_string": _unary(elem=8),
        "elem_undefined": _unary(elem=0),
        "elem_complex64": _unary(elem=14),
        "undefined_node_input": _model([h.make_node("Relu", ["nope"], ["y"])], [_vi("x", [1, 4])], [_out("y")]),
        "output_never_produced": _model([h.make_node("Relu", ["x"], ["z"])], [_vi("x", [1, 4])], [_out("y")]),
        "duplicate_outputs": _model([h.make_node("Relu", ["x"], ["y"]), h.make_node("Neg", ["x"], ["y"])],
                                    [_vi("x", [1, 4])], [_out("y")]),
        "cycle": _model([h.make_node("Relu", ["b"], ["a"]), h.make_node("Neg", ["a"], ["b"])],
                        [_vi("x", [1, 4])], [_out("a")]),
        "duplicate_input_names": _model([h.make_node("Add", ["x", "x"], ["y"])], [_vi("x", [1, 4]), _vi("x", [1, 4])],
                                        [_out("y")]),
        "matmul_mismatch": _binary("MatMul", [1, 4], [5, 3]),
        "add_bad_broadcast": _binary("Add", [1, 4], [3]),
        "gemm_mismatch": _binary("Gemm", [2, 4], [5, 3]),
        "concat_axis_out_of_range": _binary("Concat", [1, 4], [1, 4], axis=5),
        "softmax_axis_10": _unary("Softmax", axis=10),
        "transpose_bad_perm": _unary("Transpose", perm=[0, 1, 2]),
        "flatten_axis_9": _unary("Flatten", axis=9),
        "reshape_wrong_size": _with_init("Reshape", [1, 4], _const("s", [2], [3, 5], elem=7)),
        "conv_weight_rank": _with_init("Conv", [1, 3, 8, 8], _const("w", [4, 3])),
        "conv_channel_mismatch": _with_init("Conv", [1, 3, 8, 8], _const("w", [4, 5, 3, 3])),
        "conv_bad_group": _with_init("Conv", [1, 3, 8, 8], _const("w", [4, 1, 3, 3]), group=2),
        "maxpool_kernel_too_big": _unary("MaxPool", shape=[1, 3, 4, 4], kernel_shape=[9, 9]),
        "init_raw_data_short": _edit(_with_init("Add", [1, 4], _const("b", [1, 4])), _short_raw),
        "init_dtype_mismatch": _with_init("Add", [1, 4], _const("b", [1, 4], [1, 2, 3, 4], elem=7)),
        "cast_to_string": _unary("Cast", to=8),
        "cast_to_complex": _unary("Cast", to=14),
        "constant_without_value": _model([h.make_node("Constant", [], ["c"]), h.make_node("Add", ["x", "c"], ["y"])],
                                         [_vi("x", [1, 4])], [_out("y")]),
        "split_sizes_wrong": _model([h.make_node("Split", ["x", "s"], ["y", "z"], axis=1)], [_vi("x", [1, 4])],
                                    [_out("y"), _out("z")], inits=[_const("s", [2], [3, 3], elem=7)]),
        "unsqueeze_axis_out_of_range": _with_init("Unsqueeze", [1, 4], _const("ax", [1], [7], elem=7)),
        "slice_step_zero": _model(
            [h.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [_vi("x", [1, 4])], [_out("y")],
            inits=[_const("st", [1], [0], 7), _const("en", [1], [4], 7), _const("ax", [1], [1], 7),
                   _const("sp", [1], [0], 7)]),
        "external_data_missing": _edit(_with_init("Add", [1, 4], _const("b", [1, 4])), _external),
        "expand_to_1e12": _with_init("Expand", [1, 1], _const("s", [2], [10**6, 10**6], elem=7)),
        "tile_to_1e12": _with_init("Tile", [1, 4], _const("r", [2], [10**6, 10**6], elem=7)),
        "graph_without_outputs": _model([h.make_node("Relu", ["x"], ["y"])], [_vi("x", [1, 4])], []),
        "node_missing_inputs": _model([h.make_node("Add", ["x"], ["y"])], [_vi("x", [1, 4])], [_out("y")]),
        "batchnorm_param_shapes": _model(
            [h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])], [_vi("x", [1, 3, 4, 4])],
            [_out("y")], inits=[_const(n, [5]) for n in ("s", "b", "m", "v")]),
    }
    return cases


def _short_raw(model: Any) -> None:
    init = model.graph.initializer[0]
    init.ClearField("float_data")
    init.raw_data = b"\x00\x00"


def _external(model: Any) -> None:
    from onnx import TensorProto

    init = model.graph.initializer[0]
    init.ClearField("float_data")
    init.data_location = TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", "missing_weights.bin"


def profile_cases(base: dict[str, Any]) -> dict[str, Any]:
    """name -> a JSON-able document (or raw text) derived from the shipped profile `base`."""
    def change(path: str, value: Any = None, delete: bool = False) -> dict[str, Any]:
        doc = copy.deepcopy(base)
        obj: Any = doc
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        last = int(keys[-1]) if isinstance(obj, list) else keys[-1]
        if delete:
            del obj[last]
        else:
            obj[last] = value
        return doc

    nan, inf = float("nan"), float("inf")
    return {
        "clock_nan": change("clock_hz", nan), "clock_inf": change("clock_hz", inf), "clock_zero": change("clock_hz", 0),
        "clock_negative": change("clock_hz", -1e9), "clock_string": change("clock_hz", "1GHz"),
        "clock_null": change("clock_hz", None), "clock_bool": change("clock_hz", True),
        "clock_missing": change("clock_hz", delete=True),
        "cores_inf": change("cores", inf), "cores_zero": change("cores", 0), "cores_fraction": change("cores", 2.5),
        "cores_string": change("cores", "4"), "cores_list": change("cores", [4]),
        "memory_missing": change("memory", delete=True), "memory_object": change("memory", {"l1": 1}),
        "memory_empty": change("memory", []), "memory_level_string": change("memory", ["global"]),
        "capacity_nan": change("memory.1.capacity_bytes", nan),
        "capacity_negative": change("memory.1.capacity_bytes", -1),
        "capacity_string": change("memory.1.capacity_bytes", "256KB"),
        "alignment_not_pow2": change("memory.1.alignment_bytes", 48),
        "bandwidth_inf": change("memory.0.bandwidth_bytes_per_cycle", inf),
        "offchip_string": change("memory.1.offchip", "false"),
        "scope_bad": change("memory.1.scope", "texture.l1"), "scope_number": change("memory.1.scope", 7),
        "sources_number": change("sources", 5), "sources_mixed": change("sources", ["a", 5]),
        "paths_object": change("paths", {"a": 1}), "path_unknown_scope": change("paths.0.src", "shared.nowhere"),
        "path_latency_string": change("paths.0.latency_cycles", "fast"),
        "units_missing": change("units", delete=True), "units_list": change("units", []),
        "scalar_missing": change("units.scalar", delete=True),
        "kind_gpu": change("kind", "gpu"), "name_empty": change("name", ""), "name_number": change("name", 3),
        "root_array": [base], "root_string": "davinci", "root_null": None,
        "invalid_json": "{\"name\": \"x\", ", "empty_file": "", "binary_garbage": "\udcff\udcfe",
        "deep_nesting": "[" * 100000 + "]" * 100000,
    }


def generate(out: Path) -> dict[str, int]:
    """Write the corpus under `out` (onnx/*.onnx, profiles/*.json); returns the counts."""
    import onnx

    from hawk_tvm.hardware.profile import PROFILE_DIR

    (out / "onnx").mkdir(parents=True, exist_ok=True)
    (out / "profiles").mkdir(parents=True, exist_ok=True)
    models = onnx_cases()
    for name, model in models.items():
        data = model if isinstance(model, bytes) else model.SerializeToString()
        (out / "onnx" / f"{name}.onnx").write_bytes(data)
    (out / "onnx" / "directory.onnx").mkdir(exist_ok=True)
    base = json.loads((PROFILE_DIR / "davinci.json").read_text())
    profiles = profile_cases(base)
    for name, doc in profiles.items():
        path = out / "profiles" / f"{name}.json"
        if isinstance(doc, str) and name in ("invalid_json", "empty_file", "deep_nesting", "binary_garbage"):
            path.write_bytes(doc.encode("utf-8", "surrogateescape"))
        else:
            path.write_text(json.dumps(doc))  # NaN / Infinity as Python's json writes them
    del onnx
    return {"onnx": len(models) + 1, "profiles": len(profiles)}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("bad_inputs")
    print(generate(target))

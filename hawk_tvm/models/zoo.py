"""ONNX model builders: an MLP classifier and small conv nets, with seeded random weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


def _onnx():
    import onnx
    from onnx import TensorProto, helper

    return onnx, TensorProto, helper


class _Graph:
    """Accumulates nodes and initializers for onnx.helper."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def weight(self, shape: tuple[int, ...], scale: float | None = None) -> str:
        _, tp, helper = _onnx()
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
        std = scale if scale is not None else (2.0 / max(1, fan_in)) ** 0.5
        name = self.name("w")
        data = (self.rng.standard_normal(shape) * std).astype("float32")
        self.inits.append(helper.make_tensor(name, tp.FLOAT, list(shape), data.flatten().tolist()))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        _, _, helper = _onnx()
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None, group: int = 1) -> str:
        pad = k // 2 if pad is None else pad
        w = self.weight((cout, cin // group, k, k))
        b = self.weight((cout,), scale=0.1)
        return self.node("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group)

    def model(self, x_shape: list[int], out: str, out_shape: list[int], name: str):
        onnx, tp, helper = _onnx()
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("input", tp.FLOAT, x_shape)],
            [helper.make_tensor_value_info(out, tp.FLOAT, out_shape)],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="hawk-tvm")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def mlp(batch: int = 8, features: int = 256, hidden: int = 512, classes: int = 128, seed: int = 0):
    """MatMul+Add+Relu -> MatMul+Add -> Softmax: input [batch, features] -> [batch, classes]."""
    g = _Graph(seed)
    h = g.node("MatMul", ["input", g.weight((features, hidden))])
    h = g.node("Add", [h, g.weight((hidden,), scale=0.1)])
    h = g.node("Relu", [h])
    h = g.node("MatMul", [h, g.weight((hidden, classes))])
    h = g.node("Add", [h, g.weight((classes,), scale=0.1)])
    out = g.node("Softmax", [h], axis=-1)
    return g.model([batch, features], out, [batch, classes], "mlp")


def small_convnet(batch: int = 1, size: int = 32, seed: int = 0):
    """Conv3x3(3->16)+Relu, MaxPool2, Conv3x3(16->32)+Relu, GlobalAvgPool, Flatten, Gemm(32->10)."""
    g = _Graph(seed)
    h = g.node("Relu", [g.conv("input", 3, 16, 3)])
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Relu", [g.conv(h, 16, 32, 3)])
    h = g.node("GlobalAveragePool", [h])
    h = g.node("Flatten", [h], axis=1)
    out = g.node("Gemm", [h, g.weight((10, 32)), g.weight((10,), scale=0.1)], transB=1)
    return g.model([batch, 3, size, size], out, [batch, 10], "small_convnet")


MODELS: dict[str, Callable] = {"mlp": mlp, "small_convnet": small_convnet}


def save(name: str, path: str | Path, **kwargs) -> Path:
    """Build model `name` and write it as an ONNX file."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(MODELS[name](**kwargs), str(path))
    return path

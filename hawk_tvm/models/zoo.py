"""The model registry: name -> ONNX builder (seeded random weights), small test shapes, and `save`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .blocks import densenet, inception
from .cnn import resnet18, resnet50, squeezenet, vgg11
from .graph import GraphBuilder
from .mobile import mobilenet_v2, shufflenet_v2
from .transformer import transformer


def mlp(batch: int = 8, features: int = 256, hidden: int = 512, classes: int = 128, seed: int = 0):
    """MatMul+Add+Relu -> MatMul+Add -> Softmax: input [batch, features] -> [batch, classes]."""
    g = GraphBuilder(seed)
    h = g.node("MatMul", ["input", g.weight((features, hidden))])
    h = g.node("Add", [h, g.weight((hidden,), scale=0.1)])
    h = g.node("Relu", [h])
    h = g.node("MatMul", [h, g.weight((hidden, classes))])
    h = g.node("Add", [h, g.weight((classes,), scale=0.1)])
    out = g.node("Softmax", [h], axis=-1)
    return g.model([batch, features], out, [batch, classes], "mlp")


def small_convnet(batch: int = 1, size: int = 32, seed: int = 0):
    """Conv3x3(3->16)+Relu, MaxPool2, Conv3x3(16->32)+Relu, GlobalAvgPool, Flatten, Gemm(32->10)."""
    g = GraphBuilder(seed)
    h = g.node("Relu", [g.conv("input", 3, 16, 3)])
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Relu", [g.conv(h, 16, 32, 3)])
    h = g.node("GlobalAveragePool", [h])
    h = g.node("Flatten", [h], axis=1)
    out = g.node("Gemm", [h, g.weight((10, 32)), g.weight((10,), scale=0.1)], transB=1)
    return g.model([batch, 3, size, size], out, [batch, 10], "small_convnet")


MODELS: dict[str, Callable] = {
    "mlp": mlp,
    "small_convnet": small_convnet,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "squeezenet": squeezenet,
    "vgg11": vgg11,
    "inception": inception,
    "densenet": densenet,
    "shufflenet_v2": shufflenet_v2,
    "transformer": transformer,
}

# The whole-model suite (item-1 models) at full size are MODELS[name](); these are their small variants,
# sized so that a Hawk compile with a tiny budget takes seconds (tests, --quick smoke runs).
SMALL: dict[str, dict[str, Any]] = {
    "resnet18": {"size": 32, "width": 0.125, "classes": 10},
    "resnet50": {"size": 32, "width": 0.0625, "classes": 10},
    "mobilenet_v2": {"size": 32, "width": 0.25, "classes": 10},
    "squeezenet": {"size": 32, "width": 0.125, "classes": 10},
    "vgg11": {"size": 32, "width": 0.0625, "fc": 64, "classes": 10},
    "inception": {"size": 32, "width": 0.125, "modules": 3, "classes": 10},
    "densenet": {"size": 32, "growth": 4, "blocks": (2, 2), "classes": 10},
    "shufflenet_v2": {"size": 32, "width": 0.125, "classes": 10},
    "transformer": {"seq": 16, "hidden": 64, "heads": 4},
}
SUITE: tuple[str, ...] = tuple(SMALL)


def build(name: str, small: bool = False, **kwargs: Any):
    """The ModelProto of `name` (full size, or its SMALL variant), with keyword overrides."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}: one of {', '.join(MODELS)}")
    return MODELS[name](**{**(SMALL.get(name, {}) if small else {}), **kwargs})


def input_shape(model: Any) -> list[int]:
    """The shape of the model's single input `input`."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [int(d.dim_value) for d in dims]


def save(name: str, path: str | Path, **kwargs) -> Path:
    """Build model `name` and write it as an ONNX file."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build(name, **kwargs), str(path))
    return path

"""GraphBuilder: accumulates ONNX nodes and seeded random initializers for the model builders."""

from __future__ import annotations

import numpy as np

OPSET = 17


def scaled(channels: int, width: float, divisor: int = 4) -> int:
    """`channels * width`, rounded to a multiple of `divisor` (at least `divisor`)."""
    return max(divisor, int(channels * width + divisor / 2) // divisor * divisor)


class GraphBuilder:
    """Accumulates nodes and initializers (fp32, seeded He-normal weights) and emits a checked opset-17 model."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def name(self, prefix: str) -> str:
        """A fresh tensor name."""
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, array: np.ndarray, prefix: str = "c") -> str:
        """An initializer holding `array` as given (dtype kept)."""
        from onnx import numpy_helper

        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, shape: tuple[int, ...], scale: float | None = None) -> str:
        """A random fp32 initializer: He-normal over the fan-in (dims after the first), or `scale` as std."""
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
        std = scale if scale is not None else (2.0 / max(1, fan_in)) ** 0.5
        data = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        return self.const(data, "w")

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        """Append one single-output node; returns its output name."""
        return self.multi(op, inputs, 1, **attrs)[0]

    def multi(self, op: str, inputs: list[str], n_out: int, **attrs) -> list[str]:
        """Append one node with `n_out` outputs; returns their names."""
        from onnx import helper

        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, **attrs))
        return outs

    # -- layers ---------------------------------------------------------------------------------------------
    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None, group: int = 1) -> str:
        """Conv with bias (batch norm folded in, as torch.onnx.export does in eval mode)."""
        pad = k // 2 if pad is None else pad
        w = self.weight((cout, cin // group, k, k))
        b = self.weight((cout,), scale=0.1)
        return self.node("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group)

    def conv_relu(self, x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None, group: int = 1):
        """Conv + Relu."""
        return self.node("Relu", [self.conv(x, cin, cout, k, stride, pad, group)])

    def relu6(self, x: str) -> str:
        """Clip(0, 6) with opset-11+ min/max inputs."""
        lo = self.const(np.array(0.0, dtype=np.float32))
        hi = self.const(np.array(6.0, dtype=np.float32))
        return self.node("Clip", [x, lo, hi])

    def batch_norm(self, x: str, channels: int) -> str:
        """Inference BatchNormalization with random positive variance."""
        scale = self.const((1.0 + 0.1 * self.rng.standard_normal(channels)).astype(np.float32))
        bias = self.const((0.1 * self.rng.standard_normal(channels)).astype(np.float32))
        mean = self.const((0.1 * self.rng.standard_normal(channels)).astype(np.float32))
        var = self.const((0.5 + self.rng.random(channels)).astype(np.float32))
        return self.node("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def max_pool(self, x: str, k: int, stride: int, pad: int = 0, ceil: bool = False) -> str:
        """MaxPool k x k."""
        return self.node(
            "MaxPool", [x], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, ceil_mode=int(ceil)
        )

    def avg_pool(self, x: str, k: int, stride: int, pad: int = 0) -> str:
        """AveragePool k x k (padding excluded from the count)."""
        return self.node("AveragePool", [x], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)

    def head(self, x: str, channels: int, classes: int) -> str:
        """GlobalAveragePool -> Flatten -> Gemm (the classifier of the torchvision nets)."""
        h = self.node("GlobalAveragePool", [x])
        h = self.node("Flatten", [h], axis=1)
        return self.gemm(h, channels, classes)

    def gemm(self, x: str, cin: int, cout: int) -> str:
        """Gemm with transposed weight [cout, cin] and bias, as torch Linear exports."""
        return self.node("Gemm", [x, self.weight((cout, cin)), self.weight((cout,), scale=0.1)], transB=1)

    def reshape(self, x: str, shape: list[int]) -> str:
        """Reshape to a constant shape."""
        return self.node("Reshape", [x, self.const(np.array(shape, dtype=np.int64), "shape")])

    # -- output ---------------------------------------------------------------------------------------------
    def model(self, x_shape: list[int], out: str, out_shape: list[int], name: str):
        """The checked ModelProto: one fp32 input named `input`, one output."""
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hawk-tvm")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

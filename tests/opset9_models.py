"""Small ONNX graphs in the old model-zoo style (opset 9, IR version 3), built with onnx.helper for the tests.

What makes them "old style", as torch.onnx exports of 2018-2019 and the ONNX model zoo still ship them:
- every initializer is also listed as a graph input (IR version 3 requires it);
- BatchNormalization is not folded into the convolution;
- inference Dropout with its mask output (opset 9: ``ratio`` attribute, two outputs);
- residual additions written as ``Sum``;
- ShuffleNet-v1's channel shuffle as a 5-D Reshape -> Transpose -> Reshape;
- Concat of convolution outputs (SqueezeNet fire modules, Inception branches).
Shapes are the odd ones real ImageNet graphs have at small scale (55 -> 27 -> 13 maps, 24/48 channels).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from hawk_tvm.models.graph import GraphBuilder


class _Graph(GraphBuilder):
    """The zoo's GraphBuilder, emitting opset-9 / IR-v3 models (initializers listed as graph inputs)."""

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1, bias: bool = False) -> str:
        """Conv with 'same' padding; without bias by default (followed by an unfolded BatchNormalization)."""
        ins = [x, self.weight((cout, cin // group, k, k))] + ([self.weight((cout,), scale=0.1)] if bias else [])
        pads = [k // 2] * 4
        return self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=pads, group=group)

    def conv_bn_relu(self, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1) -> str:
        return self.node("Relu", [self.batch_norm(self.conv(x, cin, cout, k, stride, group), cout)])

    def dropout(self, x: str) -> str:
        """Opset-9 Dropout: `ratio` attribute, output and mask."""
        return self.multi("Dropout", [x], 2, ratio=0.5)[0]

    def shape(self, dims: list[int]) -> str:
        return self.const(np.array(dims, dtype=np.int64), "shape")

    def classifier(self, x: str, c: int, classes: int) -> str:
        """GlobalAveragePool -> Dropout -> Flatten -> Gemm."""
        flat = self.node("Flatten", [self.dropout(self.node("GlobalAveragePool", [x]))], axis=1)
        return self.gemm(flat, c, classes)

    def old_model(self, x_shape: list[int], out: str, classes: int, name: str) -> onnx.ModelProto:
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)]
        inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in self.inits]
        outputs = [helper.make_tensor_value_info(out, TensorProto.FLOAT, [x_shape[0], classes])]
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], producer_name="pytorch")
        model.ir_version = 3
        onnx.checker.check_model(model)
        return model


def resnet_sum(size: int = 55, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """Stem + two basic blocks (one strided, with a projection), residuals as ``Sum``, unfolded BN."""
    g = _Graph(seed)
    x = g.conv_bn_relu("input", 3, 24, 3, stride=2)
    for cin, cout, stride in ((24, 24, 1), (24, 48, 2)):
        y = g.conv_bn_relu(x, cin, cout, 3, stride)
        y = g.batch_norm(g.conv(y, cout, cout, 3), cout)
        short = x if stride == 1 and cin == cout else g.batch_norm(g.conv(x, cin, cout, 1, stride), cout)
        x = g.node("Relu", [g.node("Sum", [y, short])])
    return g.old_model([1, 3, size, size], g.classifier(x, 48, classes), classes, "resnet_sum")


def squeezenet_fire(size: int = 55, classes: int = 1000, seed: int = 1) -> onnx.ModelProto:
    """Stem, max-pool 3x3 s2 (27 -> 13), two fire modules (squeeze 1x1, Concat of 1x1 and 3x3 expands), Dropout."""
    g = _Graph(seed)
    x = g.node("Relu", [g.conv("input", 3, 32, 3, stride=2, bias=True)])
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    cin = 32
    for squeeze, expand in ((8, 24), (12, 40)):
        s = g.node("Relu", [g.conv(x, cin, squeeze, 1, bias=True)])
        e1 = g.node("Relu", [g.conv(s, squeeze, expand, 1, bias=True)])
        e3 = g.node("Relu", [g.conv(s, squeeze, expand, 3, bias=True)])
        x, cin = g.node("Concat", [e1, e3], axis=1), 2 * expand
    return g.old_model([1, 3, size, size], g.classifier(x, cin, classes), classes, "squeezenet_fire")


def shufflenet_v1(size: int = 55, classes: int = 1000, groups: int = 3, seed: int = 2) -> onnx.ModelProto:
    """Stem + one ShuffleNet-v1 unit: grouped 1x1, 5-D channel shuffle, depthwise 3x3, grouped 1x1, ``Sum``."""
    g = _Graph(seed)
    c = 24
    x = g.conv_bn_relu("input", 3, c, 3, stride=2)
    side = (size + 1) // 2
    y = g.conv_bn_relu(x, c, c, 1, group=groups)
    y = g.node("Reshape", [y, g.shape([1, groups, c // groups, side, side])])
    y = g.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
    y = g.node("Reshape", [y, g.shape([1, c, side, side])])
    y = g.batch_norm(g.conv(y, c, c, 3, group=c), c)
    y = g.batch_norm(g.conv(y, c, c, 1, group=groups), c)
    x = g.node("Relu", [g.node("Sum", [x, y])])
    return g.old_model([1, 3, size, size], g.classifier(x, c, classes), classes, "shufflenet_v1")


ALL = {"resnet_sum": resnet_sum, "squeezenet_fire": squeezenet_fire, "shufflenet_v1": shufflenet_v1}

"""Classic ImageNet CNNs in torchvision layouts (batch norm folded into the convs): ResNet, VGG, SqueezeNet."""

from __future__ import annotations

from .graph import GraphBuilder, scaled


def _basic(g: GraphBuilder, x: str, cin: int, cout: int, stride: int) -> str:
    h = g.conv_relu(x, cin, cout, 3, stride)
    h = g.conv(h, cout, cout, 3)
    short = g.conv(x, cin, cout, 1, stride, 0) if stride != 1 or cin != cout else x
    return g.node("Relu", [g.node("Add", [h, short])])


def _bottleneck(g: GraphBuilder, x: str, cin: int, mid: int, stride: int) -> str:
    cout = mid * 4
    h = g.conv_relu(x, cin, mid, 1, 1, 0)
    h = g.conv_relu(h, mid, mid, 3, stride)  # torchvision v1.5: the stride sits on the 3x3 conv
    h = g.conv(h, mid, cout, 1, 1, 0)
    short = g.conv(x, cin, cout, 1, stride, 0) if stride != 1 or cin != cout else x
    return g.node("Relu", [g.node("Add", [h, short])])


def _resnet(name: str, blocks: list[int], bottleneck: bool, size: int, width: float, classes: int, seed: int):
    g = GraphBuilder(seed)
    c = scaled(64, width)
    h = g.max_pool(g.conv_relu("input", 3, c, 7, 2, 3), 3, 2, 1)
    cin = c
    for stage, n in enumerate(blocks):
        mid = scaled(64 * 2**stage, width)
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            if bottleneck:
                h, cin = _bottleneck(g, h, cin, mid, stride), mid * 4
            else:
                h, cin = _basic(g, h, cin, mid, stride), mid
    out = g.head(h, cin, classes)
    return g.model([1, 3, size, size], out, [1, classes], name)


def resnet18(size: int = 224, width: float = 1.0, classes: int = 1000, seed: int = 0):
    """ResNet-18: [1, 3, size, size] -> [1, classes]; basic blocks [2, 2, 2, 2], channels 64..512 x width."""
    return _resnet("resnet18", [2, 2, 2, 2], False, size, width, classes, seed)


def resnet50(size: int = 224, width: float = 1.0, classes: int = 1000, seed: int = 0):
    """ResNet-50 (v1.5): [1, 3, size, size] -> [1, classes]; bottlenecks [3, 4, 6, 3], 256..2048 out x width."""
    return _resnet("resnet50", [3, 4, 6, 3], True, size, width, classes, seed)


def vgg11(size: int = 224, width: float = 1.0, classes: int = 1000, fc: int = 4096, seed: int = 0):
    """VGG-11 (config A, no BN): [1, 3, size, size] -> [1, classes]; 8 convs 64..512 x width, 5 max pools,
    classifier on the flattened (size/32)^2 map: Gemm -> fc -> fc -> classes (torchvision's adaptive 7x7 pool
    is the identity at 224)."""
    g = GraphBuilder(seed)
    cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    h, cin, side = "input", 3, size
    for v in cfg:
        if v == "M":
            h, side = g.max_pool(h, 2, 2), side // 2
        else:
            c = scaled(v, width)
            h, cin = g.conv_relu(h, cin, c, 3), c
    fc = scaled(fc, width)
    h = g.node("Flatten", [h], axis=1)
    h = g.node("Relu", [g.gemm(h, cin * side * side, fc)])
    h = g.node("Relu", [g.gemm(h, fc, fc)])
    out = g.gemm(h, fc, classes)
    return g.model([1, 3, size, size], out, [1, classes], "vgg11")


def _fire(g: GraphBuilder, x: str, cin: int, squeeze: int, expand: int) -> tuple[str, int]:
    s = g.conv_relu(x, cin, squeeze, 1, 1, 0)
    e1 = g.conv_relu(s, squeeze, expand, 1, 1, 0)
    e3 = g.conv_relu(s, squeeze, expand, 3, 1, 1)
    return g.node("Concat", [e1, e3], axis=1), 2 * expand


def squeezenet(size: int = 224, width: float = 1.0, classes: int = 1000, seed: int = 0):
    """SqueezeNet 1.1: [1, 3, size, size] -> [1, classes]; 8 fire modules (squeeze 1x1, expand 1x1 || 3x3,
    concat), ceil-mode max pools, a 1x1 conv classifier and global average pool."""
    g = GraphBuilder(seed)
    c = scaled(64, width)
    h = g.max_pool(g.conv_relu("input", 3, c, 3, 2, 0), 3, 2, ceil=True)
    cin = c
    plan = [(16, 64), (16, 64), "M", (32, 128), (32, 128), "M", (48, 192), (48, 192), (64, 256), (64, 256)]
    for p in plan:
        if p == "M":
            h = g.max_pool(h, 3, 2, ceil=True)
        else:
            h, cin = _fire(g, h, cin, scaled(p[0], width), scaled(p[1], width))
    h = g.conv_relu(h, cin, classes, 1, 1, 0)
    h = g.node("GlobalAveragePool", [h])
    out = g.node("Flatten", [h], axis=1)
    return g.model([1, 3, size, size], out, [1, classes], "squeezenet")

"""Multi-branch CNNs joined by Concat: an Inception (GoogLeNet) net and a DenseNet."""

from __future__ import annotations

from .graph import GraphBuilder, scaled

# GoogLeNet inception modules: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5 (as 3x3, like torchvision), pool proj
_GOOGLENET = [
    (64, 96, 128, 16, 32, 32),
    (128, 128, 192, 32, 96, 64),
    "M",
    (192, 96, 208, 16, 48, 64),
    (160, 112, 224, 24, 64, 64),
    (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64),
    (256, 160, 320, 32, 128, 128),
    "M",
    (256, 160, 320, 32, 128, 128),
    (384, 192, 384, 48, 128, 128),
]


def _inception(g: GraphBuilder, x: str, cin: int, spec: tuple[int, ...], width: float) -> tuple[str, int]:
    c1, c3r, c3, c5r, c5, pp = (scaled(c, width) for c in spec)
    b1 = g.conv_relu(x, cin, c1, 1, 1, 0)
    b2 = g.conv_relu(g.conv_relu(x, cin, c3r, 1, 1, 0), c3r, c3, 3)
    b3 = g.conv_relu(g.conv_relu(x, cin, c5r, 1, 1, 0), c5r, c5, 3)
    b4 = g.conv_relu(g.max_pool(x, 3, 1, 1), cin, pp, 1, 1, 0)
    return g.node("Concat", [b1, b2, b3, b4], axis=1), c1 + c3 + c5 + pp


def inception(size: int = 224, width: float = 1.0, classes: int = 1000, modules: int = 9, seed: int = 0):
    """GoogLeNet-style net: [1, 3, size, size] -> [1, classes]; stem (7x7/2, pool, 1x1, 3x3, pool), the first
    `modules` of GoogLeNet's 9 inception modules (4 branches: 1x1 | 1x1-3x3 | 1x1-3x3 | pool-1x1, Concat)
    with max pools between stages, global average pool, Gemm. Channels x width."""
    g = GraphBuilder(seed)
    c64, c192 = scaled(64, width), scaled(192, width)
    h = g.max_pool(g.conv_relu("input", 3, c64, 7, 2, 3), 3, 2, 1)
    h = g.conv_relu(g.conv_relu(h, c64, c64, 1, 1, 0), c64, c192, 3)
    h, cin = g.max_pool(h, 3, 2, 1), c192
    done = 0
    for spec in _GOOGLENET:
        if done == modules:
            break
        if spec == "M":
            h = g.max_pool(h, 3, 2, 1)
            continue
        h, cin = _inception(g, h, cin, spec, width)
        done += 1
    out = g.head(h, cin, classes)
    return g.model([1, 3, size, size], out, [1, classes], "inception")


def _bn_relu_conv(g: GraphBuilder, x: str, cin: int, cout: int, k: int) -> str:
    return g.conv(g.node("Relu", [g.batch_norm(x, cin)]), cin, cout, k, 1, k // 2)


def densenet(
    size: int = 224,
    growth: int = 32,
    blocks: tuple[int, ...] = (6, 12, 24, 16),
    classes: int = 1000,
    seed: int = 0,
):
    """DenseNet (121 by default): [1, 3, size, size] -> [1, classes]; stem conv 7x7/2 (2 x growth) + pool,
    dense blocks of BN-ReLU-Conv1x1(4 x growth)-BN-ReLU-Conv3x3(growth) layers whose outputs are concatenated
    onto their input, transitions BN-ReLU-Conv1x1(half)-AvgPool2, final BN-ReLU, global pool, Gemm."""
    g = GraphBuilder(seed)
    cin = 2 * growth
    h = g.max_pool(g.conv_relu("input", 3, cin, 7, 2, 3), 3, 2, 1)
    for b, n in enumerate(blocks):
        for _ in range(n):
            y = _bn_relu_conv(g, h, cin, 4 * growth, 1)
            y = _bn_relu_conv(g, y, 4 * growth, growth, 3)
            h, cin = g.node("Concat", [h, y], axis=1), cin + growth
        if b != len(blocks) - 1:
            h = g.avg_pool(_bn_relu_conv(g, h, cin, cin // 2, 1), 2, 2)
            cin //= 2
    h = g.node("Relu", [g.batch_norm(h, cin)])
    out = g.head(h, cin, classes)
    return g.model([1, 3, size, size], out, [1, classes], "densenet")

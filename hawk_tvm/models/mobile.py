"""Mobile CNNs with depthwise convs (batch norm folded): MobileNetV2 and ShuffleNetV2 (channel shuffle)."""

from __future__ import annotations

from .graph import GraphBuilder, scaled

_MBV2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(size: int = 224, width: float = 1.0, classes: int = 1000, seed: int = 0):
    """MobileNetV2: [1, 3, size, size] -> [1, classes]; inverted residuals (1x1 expand, 3x3 depthwise, 1x1
    project, ReLU6 as Clip), torchvision settings t/c/n/s, channels x width rounded to 8, last conv 1280."""
    g = GraphBuilder(seed)
    cin = scaled(32, width, 8)
    h = g.relu6(g.conv("input", 3, cin, 3, 2))
    for t, c, n, s in _MBV2:
        cout = scaled(c, width, 8)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            x = h
            if t != 1:
                x = g.relu6(g.conv(x, cin, hidden, 1, 1, 0))
            x = g.relu6(g.conv(x, hidden, hidden, 3, stride, 1, group=hidden))
            x = g.conv(x, hidden, cout, 1, 1, 0)
            h = g.node("Add", [h, x]) if stride == 1 and cin == cout else x
            cin = cout
    last = scaled(1280, max(1.0, width), 8)
    h = g.relu6(g.conv(h, cin, last, 1, 1, 0))
    out = g.head(h, last, classes)
    return g.model([1, 3, size, size], out, [1, classes], "mobilenet_v2")


def _shuffle(g: GraphBuilder, x: str, channels: int, side: int) -> str:
    """Channel shuffle with 2 groups: Reshape [1, 2, C/2, H, W] -> Transpose -> Reshape [1, C, H, W]."""
    h = g.reshape(x, [1, 2, channels // 2, side, side])
    h = g.node("Transpose", [h], perm=[0, 2, 1, 3, 4])
    return g.reshape(h, [1, channels, side, side])


def _shuffle_unit(g: GraphBuilder, x: str, cin: int, cout: int, stride: int, side: int) -> str:
    half = cout // 2
    if stride == 1:
        left, right = g.multi("Split", [x, g.const(_i64([cin // 2, cin // 2]), "split")], 2, axis=1)
        rin = cin // 2
    else:
        left = g.conv(x, cin, cin, 3, 2, 1, group=cin)
        left = g.conv_relu(left, cin, half, 1, 1, 0)
        right, rin = x, cin
    r = g.conv_relu(right, rin, half, 1, 1, 0)
    r = g.conv(r, half, half, 3, stride, 1, group=half)
    r = g.conv_relu(r, half, half, 1, 1, 0)
    return _shuffle(g, g.node("Concat", [left, r], axis=1), cout, side)


def _i64(values: list[int]):
    import numpy as np

    return np.array(values, dtype=np.int64)


def shufflenet_v2(size: int = 224, width: float = 1.0, classes: int = 1000, seed: int = 0):
    """ShuffleNetV2 x1.0: [1, 3, size, size] -> [1, classes]; stages of 4/8/4 units, 116/232/464 channels x
    width (even), channel split (Split) and shuffle (Reshape/Transpose), conv5 1024 channels."""
    g = GraphBuilder(seed)
    c = scaled(24, width, 4)
    h = g.max_pool(g.conv_relu("input", 3, c, 3, 2, 1), 3, 2, 1)
    side = ((size + 1) // 2 + 1) // 2
    cin = c
    for repeats, channels in ((4, 116), (8, 232), (4, 464)):
        cout = scaled(channels, width, 4)
        for i in range(repeats):
            stride = 2 if i == 0 else 1
            if stride == 2:
                side = (side + 1) // 2
            h = _shuffle_unit(g, h, cin, cout, stride, side)
            cin = cout
    last = scaled(1024, max(1.0, width), 4)
    h = g.conv_relu(h, cin, last, 1, 1, 0)
    out = g.head(h, last, classes)
    return g.model([1, 3, size, size], out, [1, classes], "shufflenet_v2")

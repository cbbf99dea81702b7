"""A BERT-style transformer encoder (post-norm): attention, Softmax, LayerNormalization, Erf-based GELU."""

from __future__ import annotations

import math

import numpy as np

from .graph import GraphBuilder


def _linear(g: GraphBuilder, x: str, cin: int, cout: int) -> str:
    return g.node("Add", [g.node("MatMul", [x, g.weight((cin, cout), scale=cin**-0.5)]), g.weight((cout,), 0.02)])


def _layer_norm(g: GraphBuilder, x: str, hidden: int) -> str:
    gamma = g.const((1.0 + 0.1 * g.rng.standard_normal(hidden)).astype(np.float32))
    beta = g.const((0.1 * g.rng.standard_normal(hidden)).astype(np.float32))
    return g.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)


def _gelu(g: GraphBuilder, x: str) -> str:
    """0.5 * x * (1 + erf(x / sqrt(2))): the exact GELU as torch exports it at opset 17 (Gelu is opset 20)."""
    inv_sqrt2 = g.const(np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
    one = g.const(np.array(1.0, dtype=np.float32))
    half = g.const(np.array(0.5, dtype=np.float32))
    e = g.node("Erf", [g.node("Mul", [x, inv_sqrt2])])
    return g.node("Mul", [g.node("Mul", [x, g.node("Add", [e, one])]), half])


def _encoder_layer(g: GraphBuilder, x: str, seq: int, hidden: int, heads: int, ffn: int) -> str:
    dh = hidden // heads

    def split_heads(t: str, perm: list[int]) -> str:
        return g.node("Transpose", [g.reshape(t, [1, seq, heads, dh])], perm=perm)

    q = split_heads(_linear(g, x, hidden, hidden), [0, 2, 1, 3])  # [1, heads, seq, dh]
    k = split_heads(_linear(g, x, hidden, hidden), [0, 2, 3, 1])  # [1, heads, dh, seq]
    v = split_heads(_linear(g, x, hidden, hidden), [0, 2, 1, 3])
    scale = g.const(np.array(1.0 / math.sqrt(dh), dtype=np.float32))
    scores = g.node("Mul", [g.node("MatMul", [q, k]), scale])
    probs = g.node("Softmax", [scores], axis=-1)
    ctx = g.node("Transpose", [g.node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    ctx = g.reshape(ctx, [1, seq, hidden])
    h = _layer_norm(g, g.node("Add", [x, _linear(g, ctx, hidden, hidden)]), hidden)
    f = _linear(g, _gelu(g, _linear(g, h, hidden, ffn)), ffn, hidden)
    return _layer_norm(g, g.node("Add", [h, f]), hidden)


def transformer(
    seq: int = 128, hidden: int = 768, heads: int = 12, ffn: int | None = None, layers: int = 1, seed: int = 0
):
    """BERT-base-like encoder: [1, seq, hidden] -> [1, seq, hidden]; `layers` post-norm layers of multi-head
    self-attention (Q/K/V/out MatMul+Add, Reshape/Transpose per head, scaled MatMul, Softmax) and an FFN
    (hidden -> ffn (4 x hidden) -> hidden, Erf GELU), each with residual Add + LayerNormalization."""
    if hidden % heads:
        raise ValueError(f"hidden {hidden} is not divisible by heads {heads}")
    g = GraphBuilder(seed)
    h = "input"
    for _ in range(layers):
        h = _encoder_layer(g, h, seq, hidden, heads, ffn or 4 * hidden)
    return g.model([1, seq, hidden], h, [1, seq, hidden], "transformer")

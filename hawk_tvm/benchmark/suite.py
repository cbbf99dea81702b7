"""The operator suites: real-model operator shapes built as Relax ops and legalized into the PrimFuncs Hawk sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

F32, F16 = "float32", "float16"


@dataclass(frozen=True)
class OpCase:
    """One benchmark operator.

    name:     unique name (model prefix, layer, dtype suffix).
    category: gemm, batch_matmul, attention, conv2d, depthwise_conv2d, pool, softmax, norm, activation,
              elementwise, reduction, layout.
    model:    where the shape comes from.
    dtype:    input dtype of the main computation.
    build:    () -> PrimFunc (one legalized, fused PrimFunc, as after ``relax.get_pipeline("zero")``).
    numpy:    numpy/OpenBLAS equivalent (inputs in PrimFunc parameter order -> outputs), where one applies.
    quick:    part of the ``--quick`` subset.
    """

    name: str
    category: str
    model: str
    dtype: str
    build: Callable[[], Any] = field(compare=False, repr=False)
    numpy: Callable[..., list[np.ndarray]] | None = field(default=None, compare=False, repr=False)
    quick: bool = False

    def info(self) -> dict[str, Any]:
        """JSON-safe description."""
        return {"name": self.name, "category": self.category, "model": self.model, "dtype": self.dtype,
                "quick": self.quick, "numpy": self.numpy is not None}


def relax_op(fn: Callable[..., Any], inputs: list[tuple[tuple[int, ...], str]]) -> Any:
    """Build `fn(*params)` as a Relax function, run the "zero" pipeline (legalize + fuse) and return its PrimFunc."""
    from tvm import relax, tirx

    bb = relax.BlockBuilder()
    params = [relax.Var(f"x{i}", ty=relax.TensorType(shape=s, dtype=d)) for i, (s, d) in enumerate(inputs)]
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(fn(*params))
        bb.emit_func_output(out)
    mod = relax.get_pipeline("zero")(bb.get())
    funcs = [f for _, f in mod.functions_items() if isinstance(f, tirx.PrimFunc)]
    if len(funcs) != 1:
        raise ValueError(f"expected one fused PrimFunc, got {len(funcs)}")
    return funcs[0].with_attr("global_symbol", "main")


def _r() -> Any:
    from tvm import relax

    return relax


# -- builders (each returns () -> PrimFunc) ----------------------------------------------------------------------------
def _linear(m: int, k: int, n: int, dt: str, bias: bool = True, act: str | None = None) -> Callable[[], Any]:
    """x[m,k] @ W[k,n] (+ b) (+ act); the weight is in [K, N] layout, as after constant-folding a transpose."""

    def build() -> Any:
        op = _r().op
        out_dt = F32 if dt == F16 else dt

        def fn(x: Any, w: Any, *rest: Any) -> Any:
            y = op.matmul(x, w, out_dtype=out_dt)
            if bias:
                y = op.add(y, rest[0])
            if act == "gelu":
                y = op.nn.gelu(y)
            elif act == "relu":
                y = op.nn.relu(y)
            return y

        inputs = [((m, k), dt), ((k, n), dt)] + ([((n,), out_dt)] if bias else [])
        return relax_op(fn, inputs)

    return build


def _np_linear(bias: bool = True, relu: bool = False) -> Callable[..., list[np.ndarray]]:
    def run(x: np.ndarray, w: np.ndarray, *rest: np.ndarray) -> list[np.ndarray]:
        if x.dtype == np.float16:
            x, w = x.astype(np.float32), w.astype(np.float32)
        y = x @ w
        if bias:
            y = y + rest[0]
        if relu:
            y = np.maximum(y, 0)
        return [y]

    return run


def _bmm(b: int, m: int, k: int, n: int, dt: str, scale: float | None = None) -> Callable[[], Any]:
    """a[b,m,k] @ c[b,k,n] (* scale)."""

    def build() -> Any:
        relax = _r()
        out_dt = F32 if dt == F16 else dt

        def fn(a: Any, c: Any) -> Any:
            y = relax.op.matmul(a, c, out_dtype=out_dt)
            return relax.op.multiply(y, relax.const(scale, out_dt)) if scale is not None else y

        return relax_op(fn, [((b, m, k), dt), ((b, k, n), dt)])

    return build


def _np_bmm(scale: float | None = None) -> Callable[..., list[np.ndarray]]:
    def run(a: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
        if a.dtype == np.float16:
            a, c = a.astype(np.float32), c.astype(np.float32)
        y = np.empty((a.shape[0], a.shape[1], c.shape[2]), dtype=np.float32)
        for i in range(a.shape[0]):  # one OpenBLAS sgemm per slice (faster here than a stacked np.matmul)
            np.matmul(a[i], c[i], out=y[i])
        return [y * np.float32(scale) if scale is not None else y]

    return run


def _conv(c_in: int, c_out: int, hw: int, kernel: int, stride: int, dt: str, groups: int = 1) -> Callable[[], Any]:
    """NCHW conv2d, batch 1, 'same'-style padding kernel // 2."""

    def build() -> Any:
        op = _r().op
        pad = kernel // 2
        out_dt = F32 if dt == F16 else dt

        def fn(x: Any, w: Any) -> Any:
            return op.nn.conv2d(x, w, strides=[stride, stride], padding=[pad] * 4, groups=groups, out_dtype=out_dt)

        return relax_op(fn, [((1, c_in, hw, hw), dt), ((c_out, c_in // groups, kernel, kernel), dt)])

    return build


def _unary(shape: tuple[int, ...], dt: str, which: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        table = {
            "gelu": op.nn.gelu,
            "silu": op.nn.silu,
            "relu6": lambda x: op.clip(x, 0.0, 6.0),
            "softmax": lambda x: op.nn.softmax(x, axis=-1),
            "max": lambda x: op.max(x, axis=[-1]),
            "sum": lambda x: op.sum(x, axis=[-1]),
            "mean_seq": lambda x: op.mean(x, axis=[1]),
            "gap": lambda x: op.mean(x, axis=[2, 3], keepdims=True),
            "maxpool": lambda x: op.nn.max_pool2d(x, pool_size=[3, 3], strides=[2, 2], padding=[1, 1, 1, 1]),
            "nchw2nhwc": lambda x: op.permute_dims(x, [0, 2, 3, 1]),
        }
        return relax_op(table[which], [(shape, dt)])

    return build


def _layer_norm(rows: int, cols: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        return relax_op(lambda x, g, b: op.nn.layer_norm(x, g, b, axes=[-1]), [((rows, cols), dt), ((cols,), dt),
                                                                               ((cols,), dt)])

    return build


def _rms_norm(rows: int, cols: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        return relax_op(lambda x, g: op.nn.rms_norm(x, g, axes=[-1]), [((rows, cols), dt), ((cols,), dt)])

    return build


def _bias_residual(rows: int, cols: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        return relax_op(lambda x, b, r: op.add(op.add(x, b), r),
                        [((rows, cols), dt), ((cols,), dt), ((rows, cols), dt)])

    return build


def _bn_relu(c: int, hw: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        return relax_op(lambda x, s, t: op.nn.relu(op.add(op.multiply(x, s), t)),
                        [((1, c, hw, hw), dt), ((c, 1, 1), dt), ((c, 1, 1), dt)])

    return build


def _swiglu(rows: int, cols: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        return relax_op(lambda g, u: op.multiply(op.nn.silu(g), u), [((rows, cols), dt), ((rows, cols), dt)])

    return build


def _split_heads(seq: int, heads: int, dim: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        return relax_op(lambda x: op.permute_dims(op.reshape(x, (seq, heads, dim)), [1, 0, 2]),
                        [((seq, heads * dim), dt)])

    return build


def _merge_heads(seq: int, heads: int, dim: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        return relax_op(lambda x: op.reshape(op.permute_dims(x, [1, 0, 2]), (seq, heads * dim)),
                        [((heads, seq, dim), dt)])

    return build


def _sdpa(seq: int, heads: int, dim: int, dt: str) -> Callable[[], Any]:
    def build() -> Any:
        op = _r().op
        shape = ((1, seq, heads, dim), dt)
        return relax_op(lambda q, k, v: op.nn.attention(q, k, v), [shape, shape, shape])

    return build


# -- the suites -------------------------------------------------------------------------------------------------------
def _sfx(dt: str) -> str:
    return "f16" if dt == F16 else "f32"


def operator_cases(mm: str, other_mm: str, vec: str = F32) -> list[OpCase]:
    """The full operator suite; `mm` is the dtype of matrix ops, `other_mm` the dtype of their extra variants."""
    bert = "BERT-base (seq 128, hidden 768, 12 heads)"
    r50 = "ResNet-50 (batch 1, 224x224, NCHW)"
    mbv2 = "MobileNetV2 (batch 1, 224x224)"
    llama = "LLaMA-7B (prefill 128 tokens; vocab 32000)"
    vit = "ViT-B/16 (197 tokens, 12 heads)"
    mlp = "MNIST MLP 784-512 (batch 64)"
    cases = [
        # GEMM (transformer and MLP linear layers)
        OpCase(f"bert_qkv_{_sfx(mm)}", "gemm", f"{bert}: fused QKV projection 768->2304", mm,
               _linear(128, 768, 2304, mm), _np_linear()),
        OpCase(f"bert_attn_out_{_sfx(mm)}", "gemm", f"{bert}: attention output projection 768->768", mm,
               _linear(128, 768, 768, mm), _np_linear(), quick=True),
        OpCase(f"bert_attn_out_{_sfx(other_mm)}", "gemm", f"{bert}: attention output projection 768->768", other_mm,
               _linear(128, 768, 768, other_mm), _np_linear()),
        OpCase(f"bert_ffn1_gelu_{_sfx(mm)}", "gemm", f"{bert}: FFN up 768->3072 + bias + GELU", mm,
               _linear(128, 768, 3072, mm, act="gelu")),
        OpCase(f"bert_ffn2_{_sfx(mm)}", "gemm", f"{bert}: FFN down 3072->768", mm, _linear(128, 3072, 768, mm),
               _np_linear()),
        OpCase(f"mlp_fc1_relu_{_sfx(mm)}", "gemm", f"{mlp}: fc1 + ReLU", mm, _linear(64, 784, 512, mm, act="relu"),
               _np_linear(relu=True)),
        OpCase(f"mlp_fc1_relu_{_sfx(other_mm)}", "gemm", f"{mlp}: fc1 + ReLU", other_mm,
               _linear(64, 784, 512, other_mm, act="relu"), _np_linear(relu=True)),
        OpCase(f"resnet50_fc_{_sfx(mm)}", "gemm", f"{r50}: classifier 2048->1000 (GEMV)", mm,
               _linear(1, 2048, 1000, mm), _np_linear()),
        # batched matmul and attention
        OpCase(f"vit_attn_qk_{_sfx(mm)}", "batch_matmul", f"{vit}: scores Q K^T per head", mm,
               _bmm(12, 197, 64, 197, mm), _np_bmm()),
        OpCase(f"vit_attn_pv_{_sfx(mm)}", "batch_matmul", f"{vit}: context P V per head", mm,
               _bmm(12, 197, 197, 64, mm), _np_bmm()),
        OpCase(f"bert_attn_scores_{_sfx(mm)}", "attention", f"{bert}: Q K^T / sqrt(64) (fused scale)", mm,
               _bmm(12, 128, 64, 128, mm, scale=0.125), _np_bmm(0.125), quick=True),
        OpCase("bert_attn_softmax_f32", "attention", f"{bert}: softmax over the 12x128x128 scores", vec,
               _unary((12, 128, 128), vec, "softmax"), quick=True),
        OpCase(f"bert_attn_context_{_sfx(mm)}", "attention", f"{bert}: context P V", mm, _bmm(12, 128, 128, 64, mm),
               _np_bmm()),
        OpCase("bert_sdpa_f32", "attention", f"{bert}: fused scaled-dot-product attention (R.nn.attention)", vec,
               _sdpa(128, 12, 64, vec)),
        # convolution (ResNet-50)
        OpCase(f"resnet50_conv1_{_sfx(mm)}", "conv2d", f"{r50}: stem 7x7/2 3->64 @224", mm,
               _conv(3, 64, 224, 7, 2, mm)),
        OpCase(f"resnet50_s1_3x3_{_sfx(mm)}", "conv2d", f"{r50}: stage 1 3x3 64->64 @56", mm,
               _conv(64, 64, 56, 3, 1, mm)),
        OpCase(f"resnet50_s1_1x1_expand_{_sfx(mm)}", "conv2d", f"{r50}: stage 1 1x1 64->256 @56", mm,
               _conv(64, 256, 56, 1, 1, mm)),
        OpCase(f"resnet50_s3_3x3_{_sfx(mm)}", "conv2d", f"{r50}: stage 3 3x3 256->256 @14", mm,
               _conv(256, 256, 14, 3, 1, mm)),
        OpCase(f"resnet50_s4_1x1_reduce_{_sfx(mm)}", "conv2d", f"{r50}: stage 4 1x1 2048->512 @7", mm,
               _conv(2048, 512, 7, 1, 1, mm), quick=True),
        OpCase(f"resnet50_s4_3x3_{_sfx(mm)}", "conv2d", f"{r50}: stage 4 3x3 512->512 @7", mm,
               _conv(512, 512, 7, 3, 1, mm)),
        # depthwise convolution (MobileNetV2)
        OpCase("mbv2_dw_112_f32", "depthwise_conv2d", f"{mbv2}: block 1 depthwise 3x3 32ch @112", vec,
               _conv(32, 32, 112, 3, 1, vec, groups=32)),
        OpCase("mbv2_dw_56_s2_f32", "depthwise_conv2d", f"{mbv2}: block 4 depthwise 3x3/2 144ch @56", vec,
               _conv(144, 144, 56, 3, 2, vec, groups=144)),
        OpCase("mbv2_dw_14_f32", "depthwise_conv2d", f"{mbv2}: block 12 depthwise 3x3 576ch @14", vec,
               _conv(576, 576, 14, 3, 1, vec, groups=576), quick=True),
        # pooling
        OpCase("resnet50_maxpool_f32", "pool", f"{r50}: stem max pool 3x3/2 on 64x112x112", vec,
               _unary((1, 64, 112, 112), vec, "maxpool"), quick=True),
        OpCase("resnet50_gap_f32", "pool", f"{r50}: global average pool 2048x7x7", vec,
               _unary((1, 2048, 7, 7), vec, "gap")),
        # softmax, norms
        OpCase("llama_vocab_softmax_f32", "softmax", f"{llama}: softmax over logits 8x32000", vec,
               _unary((8, 32000), vec, "softmax")),
        OpCase("bert_layernorm_f32", "norm", f"{bert}: LayerNorm 128x768", vec, _layer_norm(128, 768, vec),
               quick=True),
        OpCase("llama_rmsnorm_f32", "norm", f"{llama}: RMSNorm 128x4096", vec, _rms_norm(128, 4096, vec)),
        # activations
        OpCase("bert_gelu_f32", "activation", f"{bert}: GELU on the FFN activations 128x3072", vec,
               _unary((128, 3072), vec, "gelu"), quick=True),
        OpCase("llama_silu_f32", "activation", f"{llama}: SiLU on the gate 128x11008", vec,
               _unary((128, 11008), vec, "silu")),
        OpCase("mbv2_relu6_f32", "activation", f"{mbv2}: ReLU6 on 192x28x28", vec,
               _unary((1, 192, 28, 28), vec, "relu6")),
        # elementwise with broadcast
        OpCase("bert_bias_residual_f32", "elementwise", f"{bert}: bias add + residual add 128x768", vec,
               _bias_residual(128, 768, vec), quick=True),
        OpCase("resnet50_bn_relu_f32", "elementwise", f"{r50}: folded BatchNorm (per-channel scale, shift) + ReLU "
               "256x56x56", vec, _bn_relu(256, 56, vec)),
        OpCase("llama_swiglu_f32", "elementwise", f"{llama}: SwiGLU silu(gate) * up 128x11008", vec,
               _swiglu(128, 11008, vec)),
        # reductions
        OpCase("llama_vocab_max_f32", "reduction", f"{llama}: max over logits 8x32000 (greedy decoding)", vec,
               _unary((8, 32000), vec, "max")),
        OpCase("bert_mean_pool_f32", "reduction", f"{bert}: mean pooling over the sequence 1x128x768", vec,
               _unary((1, 128, 768), vec, "mean_seq")),
        OpCase("bert_ffn_rowsum_f32", "reduction", f"{bert}: row sums of the FFN activations 128x3072", vec,
               _unary((128, 3072), vec, "sum")),
        # layout changes
        OpCase("bert_split_heads_f32", "layout", f"{bert}: reshape + transpose 128x768 -> 12x128x64", vec,
               _split_heads(128, 12, 64, vec), quick=True),
        OpCase("bert_merge_heads_f32", "layout", f"{bert}: transpose + reshape 12x128x64 -> 128x768", vec,
               _merge_heads(128, 12, 64, vec)),
        OpCase("resnet50_nchw_to_nhwc_f32", "layout", f"{r50}: NCHW -> NHWC 256x56x56", vec,
               _unary((1, 256, 56, 56), vec, "nchw2nhwc")),
    ]
    return cases


def tiny_cases(mm: str) -> list[OpCase]:
    """Two small operators for tests and smoke runs."""
    return [
        OpCase(f"tiny_gemm_{_sfx(mm)}", "gemm", "small MLP layer 32x64 -> 64", mm, _linear(32, 64, 64, mm, bias=False),
               _np_linear(bias=False), quick=True),
        OpCase("tiny_bias_residual_f32", "elementwise", "bias + residual 64x256", F32, _bias_residual(64, 256, F32),
               quick=True),
    ]


def gemm_cases(mm: str) -> list[OpCase]:
    """GEMM / GEMV / batched matmul shapes for the cube: large aligned, 1000 classes, LLM decode GEMVs, odd M/K."""
    llama = "LLaMA-7B decode (batch 1)"
    vit = "ViT-B/16 (197 tokens, 12 heads)"
    clip = "CLIP text encoder (77 tokens, width 512)"
    s = _sfx(mm)
    return [
        OpCase(f"gemm_512_{s}", "gemm", "square GEMM 512^3", mm, _linear(512, 512, 512, mm, bias=False),
               _np_linear(bias=False), quick=True),
        OpCase(f"gemm_1024_{s}", "gemm", "square GEMM 1024^3", mm, _linear(1024, 1024, 1024, mm, bias=False),
               _np_linear(bias=False)),
        OpCase(f"gemm_2048_{s}", "gemm", "square GEMM 2048^3", mm, _linear(2048, 2048, 2048, mm, bias=False),
               _np_linear(bias=False)),
        OpCase(f"resnet50_fc_{s}", "gemm", "ResNet-50 classifier 1x2048 @ 2048x1000 + bias", mm,
               _linear(1, 2048, 1000, mm), _np_linear(), quick=True),
        OpCase(f"resnet18_fc_{s}", "gemm", "ResNet-18 classifier 1x512 @ 512x1000 + bias", mm,
               _linear(1, 512, 1000, mm),
               _np_linear()),
        OpCase(f"llama_gemv_qkv_{s}", "gemm", f"{llama}: 1x4096 @ 4096x4096", mm,
               _linear(1, 4096, 4096, mm, bias=False), _np_linear(bias=False), quick=True),
        OpCase(f"llama_gemv_up_{s}", "gemm", f"{llama}: 1x4096 @ 4096x11008", mm,
               _linear(1, 4096, 11008, mm, bias=False), _np_linear(bias=False)),
        OpCase(f"vit_qkv_{s}", "gemm", f"{vit}: 197x768 @ 768x2304 + bias", mm, _linear(197, 768, 2304, mm),
               _np_linear()),
        OpCase(f"vit_fc1_gelu_{s}", "gemm", f"{vit}: 197x768 @ 768x3072 + bias + GELU", mm,
               _linear(197, 768, 3072, mm, act="gelu")),
        OpCase(f"clip_proj_{s}", "gemm", f"{clip}: 77x512 @ 512x512 + bias", mm, _linear(77, 512, 512, mm),
               _np_linear()),
        OpCase(f"odd_k_1000_{s}", "gemm", "odd K: 128x1000 @ 1000x1000 (a layer after 1000 classes)", mm,
               _linear(128, 1000, 1000, mm, bias=False), _np_linear(bias=False)),
        OpCase(f"vit_attn_qk_{s}", "batch_matmul", f"{vit}: scores Q K^T per head 12x197x64x197", mm,
               _bmm(12, 197, 64, 197, mm), _np_bmm()),
        OpCase(f"vit_attn_pv_{s}", "batch_matmul", f"{vit}: context P V per head 12x197x197x64", mm,
               _bmm(12, 197, 197, 64, mm), _np_bmm()),
        OpCase(f"bert_attn_scores_{s}", "attention", "BERT-base: Q K^T / sqrt(64) 12x128x64x128", mm,
               _bmm(12, 128, 64, 128, mm, scale=0.125), _np_bmm(0.125)),
    ]


SUITES = ("operators", "tiny", "gemm")


def get_suite(name: str, target_kind: str, quick: bool = False, only: list[str] | None = None) -> list[OpCase]:
    """The suite for a target kind (``cpu``: fp32 matrix ops; ``npu``: fp16 matrix ops for the cube unit)."""
    mm, other = (F16, F32) if target_kind == "npu" else (F32, F16)
    if name == "operators":
        cases = operator_cases(mm, other)
    elif name == "tiny":
        cases = tiny_cases(mm)
    elif name == "gemm":
        cases = gemm_cases(mm)
    else:
        raise ValueError(f"unknown suite {name!r}: choose from {', '.join(SUITES)}")
    if quick:
        cases = [c for c in cases if c.quick]
    if only:
        cases = [c for c in cases if any(part in c.name for part in only)]
    return cases

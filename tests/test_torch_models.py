"""PyTorch models through `hawk_tvm.compile` and `hawk compile model.pt2`: torchvision CNNs and a LLaMA-style decoder
block (random weights, built here), compiled with Hawk under a short budget and checked against torch eager; and the
one-line errors (unsupported operator, dynamic shape not given, a module torch.export cannot trace, CLI exit 2).

Tolerances: max |hawk - eager| <= 1e-4 x max |eager| on the host (fp32 throughout), 1e-2 on davinci, where the
default precision policy (allow_fp32_to_fp16) runs fp32 matmuls and convolutions on the fp16 cube tile.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402 - after the importorskip

import hawk_tvm  # noqa: E402
from hawk_tvm.cli import main  # noqa: E402
from hawk_tvm.frontend import InputError  # noqa: E402

BUDGET_S = 20  # Hawk's whole-compile generation budget per model: enough to exercise it, short enough for CI
HOST_TOL, NPU_TOL = 1e-4, 1e-2


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """Max abs error relative to the reference's largest magnitude."""
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))


# -- a LLaMA-style decoder block ----------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """x / rms(x) * weight (LLaMA's pre-norm)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(1.0 + 0.1 * torch.randn(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class DecoderBlock(nn.Module):
    """Pre-RMSNorm, rotary q/k, grouped-query causal attention (softmax), SiLU-gated MLP; optional KV cache.

    forward(x) is prefill (positions 0..s-1); forward(x, k_cache, v_cache) decodes after the cache's tokens and
    returns (out, keys, values) with the new token's keys and values appended.
    """

    def __init__(self, hidden: int = 128, heads: int = 4, kv_heads: int = 2, ffn: int = 344, max_pos: int = 512,
                 theta: float = 10000.0) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.q = nn.Linear(hidden, heads * self.head_dim, bias=False)
        self.k = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(heads * self.head_dim, hidden, bias=False)
        self.gate = nn.Linear(hidden, ffn, bias=False)
        self.up = nn.Linear(hidden, ffn, bias=False)
        self.down = nn.Linear(ffn, hidden, bias=False)
        self.attn_norm, self.mlp_norm = RMSNorm(hidden), RMSNorm(hidden)
        inv_freq = 1.0 / theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim)
        angles = torch.outer(torch.arange(max_pos).float(), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, k_cache: torch.Tensor | None = None,
                v_cache: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, s, _ = x.shape
        past = 0 if k_cache is None else k_cache.shape[2]
        h = self.attn_norm(x)
        q = self.q(h).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = self.cos[past : past + s], self.sin[past : past + s]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if k_cache is not None:
            k, v = torch.cat((k_cache, k), dim=2), torch.cat((v_cache, v), dim=2)
        group = self.heads // self.kv_heads
        keys, values = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = q @ keys.transpose(-1, -2) / math.sqrt(self.head_dim)
        mask = torch.full((s, past + s), float("-inf")).triu(past + 1)  # causal: token i sees positions <= past + i
        attn = (torch.softmax(scores + mask, dim=-1) @ values).transpose(1, 2).reshape(b, s, -1)
        x = x + self.o(attn)
        h = self.mlp_norm(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h)), k, v


def decoder_inputs(seq: int, past: int, hidden: int = 128, kv_heads: int = 2, head_dim: int = 32,
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(x,) for prefill, (x, k_cache, v_cache) for decode after `past` tokens."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, seq, hidden, generator=g)
    if not past:
        return (x,)
    return (x, torch.randn(1, kv_heads, past, head_dim, generator=g), torch.randn(1, kv_heads, past, head_dim,
                                                                                  generator=g))


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial batch-norm statistics and affine parameters (fresh modules have mean 0, var 1: folding them
    into the convolutions would be checked on an identity)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(1.0 + 0.1 * torch.randn(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))
    return model.eval()


def torchvision_model(name: str) -> nn.Module:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return randomize_norms(getattr(torchvision.models, name)(weights=None))


def check_compiled(compiled: hawk_tvm.CompiledModel, model: nn.Module, inputs: tuple, tol: float) -> list[float]:
    """Run `compiled` on `inputs` (not the example inputs it was compiled with) and compare every output."""
    with torch.no_grad():
        want = model(*inputs)
    got = compiled(*inputs)
    want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
    assert len(got) == len(want)
    errors = []
    for g, w in zip(got, want):
        assert isinstance(g, torch.Tensor) and g.shape == w.shape and g.dtype == w.dtype
        errors.append(rel_err(g, w))
    assert max(errors) <= tol, f"max relative error {errors} over {tol}"
    return errors


# -- models ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_torchvision_models_on_host_match_eager(name: str) -> None:
    model = torchvision_model(name)
    example = torch.randn(1, 3, 64, 64)
    compiled = hawk_tvm.compile(model, (example,), target="host", time_budget=BUDGET_S, verbose=False)
    assert compiled.report is not None and compiled.report.rows, "Hawk did not schedule anything"
    assert compiled.build_info["hawk"] and compiled.input_names == ["x"]
    check_compiled(compiled, model, (torch.randn(1, 3, 64, 64),), HOST_TOL)


@pytest.mark.slow
def test_resnet18_on_davinci_within_precision_policy() -> None:
    model = torchvision_model("resnet18")
    example = torch.randn(1, 3, 64, 64)
    compiled = hawk_tvm.compile(model, example, target="davinci", time_budget=BUDGET_S, verbose=False)
    assert compiled.build_info["precision"] == "allow_fp32_to_fp16"
    assert compiled.report.costs and any(c.npu for c in compiled.report.costs), "no task on the NPU"
    check_compiled(compiled, model, (torch.randn(1, 3, 64, 64),), NPU_TOL)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["host", "davinci"])
@pytest.mark.parametrize(("seq", "past"), [(128, 0), (1, 127)], ids=["prefill128", "decode1"])
def test_llama_decoder_block_matches_eager(target: str, seq: int, past: int) -> None:
    torch.manual_seed(0)
    block = DecoderBlock().eval()
    compiled = hawk_tvm.compile(block, decoder_inputs(seq, past), target=target, time_budget=BUDGET_S,
                                verbose=False)
    assert compiled.report is not None and compiled.report.rows
    if target != "host":
        assert any(c.npu for c in compiled.report.costs), "no task of the block on the NPU"
    errors = check_compiled(compiled, block, decoder_inputs(seq, past, seed=1), HOST_TOL if target == "host"
                            else NPU_TOL)
    assert len(errors) == 3  # output, keys and values (with the cache)


def test_numpy_inputs_and_names_give_torch_tensors_and_plain_build_matches() -> None:
    torch.manual_seed(0)
    block = DecoderBlock(hidden=64, heads=2, kv_heads=1, ffn=96).eval()
    x, k, v = decoder_inputs(1, 7, hidden=64, kv_heads=1, head_dim=32)
    compiled = hawk_tvm.compile(block, (x, k, v), hawk=False)
    assert compiled.input_names == ["x", "k_cache", "v_cache"]
    out, keys, values = compiled(x.numpy(), v_cache=v.numpy(), k_cache=k)
    with torch.no_grad():
        want = block(x, k, v)
    assert isinstance(out, torch.Tensor) and keys.shape == (1, 1, 8, 32)
    for g, w in zip((out, keys, values), want):
        assert rel_err(g, w) <= HOST_TOL
    with pytest.raises(InputError, match="has shape"):
        compiled(x[:, :, :32], k, v)
    with pytest.raises(InputError, match="missing"):
        compiled(x, k)


def test_exported_program_and_onnx_modelproto_compile(tmp_path: Path) -> None:
    from hawk_tvm.models import zoo

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(16, 32), nn.Linear(32, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.relu(self.a(x)))

    model = Mlp().eval()
    x = torch.randn(2, 16)
    program = torch.export.export(model, (x,))
    compiled = hawk_tvm.compile(program, hawk=False)
    assert rel_err(compiled(x), model(x).detach()) <= HOST_TOL
    art = compiled.save(tmp_path / "mlp.tar")  # the artifact `hawk run` runs
    np.savez(tmp_path / "in.npz", x=x.numpy())
    assert main(["run", str(art), "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["output_0"], model(x).detach().numpy(), rtol=1e-4, atol=1e-5)

    onnx_model = zoo.build("mlp", batch=2, features=16, hidden=16, classes=8)
    y = hawk_tvm.compile(onnx_model, hawk=False)(np.ones((2, 16), "float32"))
    assert tuple(y.shape) == (2, 8)


# -- hawk compile model.pt2 --------------------------------------------------------------------------------------
class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(x)) * 2.0


def test_cli_compiles_a_pt2_with_hawk_and_runs_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = Scale().eval()
    x = torch.randn(3, 8)
    torch.export.save(torch.export.export(model, (x,)), tmp_path / "scale.pt2")
    art = tmp_path / "scale.tar"
    assert main(["compile", str(tmp_path / "scale.pt2"), "--hawk", "--time-budget", "10s", "--quiet",
                 "-o", str(art)]) == 0
    assert "compiled" in capsys.readouterr().out
    np.savez(tmp_path / "in.npz", x=x.numpy())
    assert main(["run", str(art), "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["output_0"], model(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_cli_dynamic_shape_needs_input_shapes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = Scale().eval()
    batch = torch.export.Dim("batch", min=2, max=64)
    program = torch.export.export(model, (torch.randn(4, 8),), dynamic_shapes={"x": {0: batch}})
    path = tmp_path / "dyn.pt2"
    torch.export.save(program, path)
    assert main(["compile", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dynamic shape" in err[0] and "--input-shapes" in err[0], err
    assert main(["compile", str(path), "--input-shapes", "x:[5,8]", "-o", str(tmp_path / "dyn.tar")]) == 0
    capsys.readouterr()
    x = np.random.default_rng(0).standard_normal((5, 8)).astype("float32")
    np.savez(tmp_path / "in.npz", x=x)
    assert main(["run", str(tmp_path / "dyn.tar"), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                 str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["output_0"], model(torch.from_numpy(x)).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
    assert main(["compile", str(path), "--input-shapes", "x:[5,9]"]) == 2  # the static dim does not match
    assert "static shape" in capsys.readouterr().err


class Lgamma(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.lgamma(x) + 1.0


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # control flow on a tensor's value: torch.export cannot trace it
            return x * 2
        return x


@pytest.mark.parametrize("bad", ["unsupported", "garbage", "missing", "not_a_program"])
def test_cli_bad_pt2_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, bad: str) -> None:
    path = tmp_path / "model.pt2"
    if bad == "unsupported":
        torch.export.save(torch.export.export(Lgamma(), (torch.rand(4) + 1,)), path)
    elif bad == "garbage":
        path.write_bytes(b"not a zip archive")
    elif bad == "not_a_program":
        torch.save({"weights": torch.zeros(2)}, path)  # a zip, but a state dict, not an exported program
    assert main(["compile", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hawk compile: error:"), err
    expected = {"unsupported": "lgamma", "garbage": "not a saved torch.export program", "missing": "not found",
                "not_a_program": "not a saved torch.export program"}[bad]
    assert expected in err[0], err


def test_api_errors_are_one_line_input_errors() -> None:
    cases = [
        (lambda: hawk_tvm.compile(Lgamma(), (torch.rand(4) + 1,)), "unsupported torch operator(s) in Lgamma: lgamma"),
        (lambda: hawk_tvm.compile(DataDependent(), (torch.randn(4),)), "torch.export cannot export DataDependent"),
        (lambda: hawk_tvm.compile(Scale()), "example_inputs are needed"),
        (lambda: hawk_tvm.compile(Scale(), torch.randn(2, 8), target="tpu9"), "unknown target 'tpu9'"),
        (lambda: hawk_tvm.compile(Scale(), torch.randn(2, 8), time_budjet=5), "unknown option 'time_budjet'"),
        (lambda: hawk_tvm.compile(Scale(), torch.randn(2, 8), target="davinci", precision="fp8"),
         "unknown precision 'fp8'"),
        (lambda: hawk_tvm.compile(object()), "cannot compile a object"),
    ]
    for call, expected in cases:
        with pytest.raises(InputError) as info:
            call()
        message = str(info.value)
        assert expected in message and "\n" not in message, message


def test_torch_missing_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from hawk_tvm.torch_frontend import INSTALL_HINT, require_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(InputError, match=r"hawk-tvm\[torch\]") as info:
        require_torch()
    assert str(info.value) == INSTALL_HINT

"""The fused Mish op: accuracy against float64, gradients against torch, stability, memory, fallbacks."""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import relukit.array as ra
import relukit.functional as rf
from relukit._ops import fused
from relukit._ops import mish as mish_ops

N = 1 << 16  # >= mish_ops.MIN_NUMEL: relukit.functional routes to the fused op
EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-45, 20.0, 40.0, 41.0, -87.5, -91.8, -104.0, 1e4, -1e4, 65504.0, -65504.0]
EDGES += [3e38, -3e38, math.inf, -math.inf, math.nan]


@pytest.fixture(scope="module")
def compiled():
    if not fused.compiler_available():
        pytest.skip("no C++ compiler: the fused kernels cannot be built here (the fallback tests still run)")
    assert fused.warmup("mish"), "a C++ compiler is present, so the fused kernels must build"
    fused.RUN_STANCE = "fail_on_recompile"  # a guard miss (a silent, slow eager run) fails the test
    yield fused.kernels("mish")
    fused.RUN_STANCE = "eager_on_recompile"


def grid():
    return torch.cat([torch.linspace(-120, 120, 240_001), torch.tensor(EDGES)])


def test_forward_within_2e6_relative_of_float64(compiled):
    x = grid()
    y = mish_ops.mish_forward(x).double().numpy()
    want = ra.mish(x.double().numpy())
    normal = np.abs(want) >= np.finfo(np.float32).tiny  # subnormal outputs: absolute error instead
    finite = normal & np.isfinite(want)
    relative = np.abs(y[finite] - want[finite]) / np.abs(want[finite])
    assert relative.max() <= 2e-6  # measured 3.2e-7; torch's F.mish reaches 1.6e-5 on this grid
    assert np.abs(y[~normal & np.isfinite(want)] - want[~normal & np.isfinite(want)]).max() <= 1e-44
    assert np.array_equal(np.isnan(y), np.isnan(want)) and np.array_equal(y[np.isinf(want)], want[np.isinf(want)])


def test_backward_matches_torch_and_float64(compiled):
    x = grid()
    grad = torch.randn_like(x).clamp(-4, 4)
    ours = mish_ops.mish_backward(grad, x)
    torch_grad = torch.ops.aten.mish_backward(grad, x)
    finite = torch.isfinite(x)
    torch.testing.assert_close(ours[finite], torch_grad[finite], rtol=1e-5, atol=4e-6)
    want = grad.double().numpy() * ra.mish_derivative(x.double().numpy())
    np.testing.assert_allclose(ours.double().numpy(), want, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_functional_routes_large_float32_to_the_fused_op(compiled):
    x = (torch.randn(N) * 4).requires_grad_()
    grad = torch.randn(N)
    y = rf.mish(x)
    assert "relukit_mish" in y.grad_fn.name()
    y.backward(grad)
    x_ref = x.detach().clone().requires_grad_()
    F.mish(x_ref).backward(grad)
    torch.testing.assert_close(y, F.mish(x_ref.detach()), rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=4e-6)
    small = torch.randn(100, requires_grad=True)
    assert rf.mish(small).grad_fn.name() == "MishBackward0"  # tiny tensors keep torch's kernel


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(8, 16, 32, 32).to(memory_format=torch.channels_last),
        lambda: torch.randn(512, 256).t(),
        lambda: torch.randn(64, 1024)[:, ::2],  # not dense: torch's kernels
    ],
    ids=["channels_last", "transposed", "strided"],
)
def test_layouts(compiled, make):
    x = (make() * 3).requires_grad_()
    grad = torch.randn(x.shape)  # contiguous, unlike x
    y = rf.mish(x)
    want = F.mish(x.detach())
    assert y.stride() == want.stride()
    torch.testing.assert_close(y, want, rtol=2e-6, atol=1e-7)
    y.backward(grad)
    torch.testing.assert_close(x.grad, torch.ops.aten.mish_backward(grad, x.detach()), rtol=1e-5, atol=4e-6)


def test_saves_only_the_input(compiled):
    a = torch.randn(N, requires_grad=True)
    x = a * 2
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        rf.mish(x)
    assert len(saved) == 1 and saved[0] is x  # what torch's mish saves too


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_no_nan_or_inf_for_finite_inputs(compiled, dtype):
    big = torch.finfo(dtype).max
    values = torch.tensor([1e4, -1e4, 65504.0, -65504.0, big, -big, 0.0, -1.5, 88.0, -88.0]).to(dtype)
    x = values.repeat(N // 10 + 1)[:N].clone().requires_grad_()
    y = rf.mish(x)
    y.backward(torch.ones_like(y))
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    head = y.detach()[:10].float()
    assert head[0] == pytest.approx(float(values[0])) and head[1] == 0 and head[4] == float(values[4])


def test_double_backward(compiled):
    x = torch.randn(64, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(torch.ops.relukit.mish, (x,))
    assert torch.autograd.gradgradcheck(lambda g, x: torch.ops.relukit.mish_backward(g, x), (torch.randn_like(x), x))
    x32 = (torch.randn(N) * 3).requires_grad_()  # fused forward, composed backward when create_graph
    (g,) = torch.autograd.grad(rf.mish(x32).sum(), x32, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x32)
    x_ref = x32.detach().clone().requires_grad_()
    (g_ref,) = torch.autograd.grad(F.mish(x_ref).sum(), x_ref, create_graph=True)
    (gg_ref,) = torch.autograd.grad(g_ref.sum(), x_ref)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=4e-6)
    torch.testing.assert_close(gg, gg_ref, rtol=1e-4, atol=1e-5)


def test_opcheck(compiled):
    x = torch.randn(4, 8, requires_grad=True)
    torch.library.opcheck(torch.ops.relukit.mish.default, (x,))
    torch.library.opcheck(torch.ops.relukit.mish_backward.default, (torch.randn(4, 8), x))


def test_guard_miss_runs_the_formula_eagerly(compiled, monkeypatch):
    monkeypatch.setattr(fused, "RUN_STANCE", "eager_on_recompile")
    x = torch.tensor([-2.0])  # size 1: outside the compiled (dynamic-size) graph's guards
    torch.testing.assert_close(compiled.forward(x), F.mish(x))
    torch.testing.assert_close(compiled.backward(torch.ones(1), x), torch.ops.aten.mish_backward(torch.ones(1), x))


def test_inplace(compiled):
    x = torch.randn(N)
    want = F.mish(x)
    assert rf.mish(x, inplace=True) is x and torch.allclose(x, want, rtol=2e-6, atol=1e-7)
    a = torch.randn(N, requires_grad=True)
    y = a * 1.0
    out = rf.mish(y, inplace=True)  # under autograd: torch's own in-place op (needs the input)
    out.sum().backward()
    torch.testing.assert_close(a.grad, torch.ops.aten.mish_backward(torch.ones(N), a.detach()))


def test_empty_output_is_a_plain_contiguous_tensor():
    x = torch.randn(9 << 20)  # 36 MiB: advised to use huge pages
    out = fused.empty_output(x.view(3, -1))
    assert out.shape == (3, 3 << 20) and out.is_contiguous() and out.dtype == x.dtype


# ----------------------------------------------------------------------------------------------
# Fallbacks and compile management (no compiling needed)
# ----------------------------------------------------------------------------------------------
def test_without_a_compiler_torch_kernels_are_used(monkeypatch):
    monkeypatch.setattr(fused, "compiler_available", lambda: False)
    kernels = fused.Fused("mish", {})
    with pytest.warns(fused.FusedKernelWarning, match="no C\\+\\+ compiler found"):
        assert kernels.start(block=True) == "failed"
    monkeypatch.setattr(mish_ops, "_KERNELS", kernels)
    x = (torch.randn(N) * 4).requires_grad_()
    grad = torch.randn(N)
    y = rf.mish(x)
    y.backward(grad)
    assert torch.equal(y, F.mish(x.detach()))  # torch's own kernels: bit-identical
    assert torch.equal(x.grad, torch.ops.aten.mish_backward(grad, x.detach()))


def test_compile_failure_falls_back_with_one_warning(monkeypatch):
    def broken(self):
        raise RuntimeError("simulated InvalidCxxCompiler")

    monkeypatch.setattr(fused.Fused, "_build", broken)
    monkeypatch.setattr(fused, "compiler_available", lambda: True)
    kernels = fused.Fused("mish", {})
    with pytest.warns(fused.FusedKernelWarning, match="simulated InvalidCxxCompiler"):
        assert kernels.start(block=True) == "failed"
    assert not kernels.ready() and kernels.start() == "failed"  # no second attempt, no second warning


def test_compiles_in_the_background_and_serves_torch_meanwhile(monkeypatch):
    release, built = threading.Event(), []
    monkeypatch.setattr(fused, "compiler_available", lambda: True)
    monkeypatch.setattr(fused.Fused, "_build", lambda self: release.wait(10) and built.append(self.name))
    kernels = fused.Fused("mish", {})
    monkeypatch.setattr(mish_ops, "_KERNELS", kernels)
    monkeypatch.setattr(fused, "START_AFTER_ELEMENTS", 2 * N)
    x = torch.randn(N)
    assert torch.equal(rf.mish(x), F.mish(x)) and kernels.state == "idle"  # one-off calls never compile
    assert torch.equal(rf.mish(x), F.mish(x))  # 2N elements seen: compiling starts, torch's result meanwhile
    assert kernels.state == "compiling" and not kernels.ready()
    release.set()
    kernels._done.wait(10)
    assert kernels.state == "ready" and built == ["mish"]


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("RELUKIT_FUSED", "0")
    x = torch.randn(N, requires_grad=True)
    assert not mish_ops.applies(x) and rf.mish(x).grad_fn.name() == "MishBackward0"
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    monkeypatch.setenv("RELUKIT_FUSED", "1")
    assert not mish_ops.applies(x)  # inside torch.compile, Inductor fuses torch's mish itself


def test_inference_mode_and_autocast(compiled):
    with torch.inference_mode():
        x = torch.randn(N) * 3
        torch.testing.assert_close(rf.mish(x), F.mish(x), rtol=2e-6, atol=1e-7)
    x = torch.randn(N) * 3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = rf.mish(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, F.mish(x), rtol=2e-6, atol=1e-7)


def test_importing_compiles_nothing():
    code = (
        "import sys, relukit.functional, relukit.kaf, relukit.array\n"
        "heavy = {'torch._inductor', 'torch._dynamo.convert_frame', 'triton'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_func_transforms_use_torchs_op(compiled):
    x = torch.randn(2, N) * 3
    torch.testing.assert_close(torch.func.vmap(rf.mish)(x), F.mish(x))
    grad = torch.func.grad(lambda t: rf.mish(t).sum())(x[0])
    torch.testing.assert_close(grad, torch.ops.aten.mish_backward(torch.ones(N), x[0]))

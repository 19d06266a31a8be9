"""The native Mish op: accuracy against float64 and mpmath, gradients against torch, stability, threads,
memory, layouts, compile/export/opcheck and the fallback to torch's kernels."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.mpmath_reference import FUNCTIONS
from torch.utils._python_dispatch import TorchDispatchMode

import relukit.array as ra
import relukit.functional as rf
from relukit._ops import allocator, native
from relukit._ops import mish as mish_ops

N = 1 << 16  # >= mish_ops.MIN_NUMEL: relukit.functional routes to the native op
EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-45, 20.0, 40.0, 41.0, -87.5, -91.8, -104.0, 1e4, -1e4, 65504.0, -65504.0]
EDGES += [3e38, -3e38, math.inf, -math.inf, math.nan]
MAX_ULP = 4  # the target; the kernels measure <= 0.5 (float64 inside, one rounding)
TINY = float(np.finfo(np.float32).smallest_subnormal)


@pytest.fixture(scope="module")
def built():
    if os.environ.get("RELUKIT_NATIVE", "1") == "0":
        pytest.skip("native kernels switched off (RELUKIT_NATIVE=0): the fallback tests still run")
    assert native.available(), "the native extension must build where a C++ compiler exists"


def grid() -> torch.Tensor:
    root = np.float32(-1.1924312)
    near_root = root + np.arange(-20_000, 20_000, dtype=np.float32) * np.float32(2**-24)  # float32 steps
    wide = np.concatenate([-np.logspace(-40, 38.5, 4001), np.logspace(-40, 38.5, 4001)]).astype(np.float32)
    parts = [torch.linspace(-120, 120, 240_001), torch.from_numpy(near_root), torch.from_numpy(wide)]
    return torch.cat([*parts, torch.tensor(EDGES)])


def ulp_error(got: torch.Tensor, want: np.ndarray) -> float:
    """max |got - want| in units of the float32 spacing at want (the subnormal spacing at least)."""
    finite = np.isfinite(want)
    spacing = np.maximum(np.spacing(np.abs(want[finite]).astype(np.float32)).astype(np.float64), TINY)
    return float((np.abs(got.double().numpy()[finite] - want[finite]) / spacing).max())


def test_forward_within_4_ulp_of_float64(built):
    x = grid()
    y = mish_ops.mish_forward(x)
    want = ra.mish(x.double().numpy())
    assert ulp_error(y, want) <= MAX_ULP
    assert np.array_equal(np.isnan(y.numpy()), np.isnan(want))  # NaN propagates, nothing else is NaN
    assert np.array_equal(y.numpy()[np.isinf(want)], want[np.isinf(want)])
    assert ulp_error(F.mish(x[:240_001]), want[:240_001]) > MAX_ULP  # torch's float32 Mish is not


def test_backward_within_4_ulp_of_float64(built):
    x = grid()
    grad = torch.randn_like(x).clamp(-4, 4)
    ours = mish_ops.mish_backward(grad, x)
    derivative = ra.mish_derivative(x.double().numpy())
    assert ulp_error(ours, grad.double().numpy() * derivative) <= MAX_ULP
    assert ulp_error(mish_ops.mish_backward(torch.ones_like(x), x), derivative) <= MAX_ULP  # incl. near the root
    assert np.array_equal(np.isnan(ours.numpy()), np.isnan(derivative))
    finite = torch.isfinite(x)
    torch.testing.assert_close(ours[finite], torch.ops.aten.mish_backward(grad, x)[finite], rtol=1e-5, atol=4e-6)


def test_against_mpmath(built):
    x = torch.cat([torch.linspace(-110, 45, 401), torch.linspace(-1.3, -1.1, 101)])
    _mish, _mish_d = FUNCTIONS[("mish", ())]
    want = np.array([float(_mish(float(v))) for v in x])
    want_d = np.array([float(_mish_d(float(v))) for v in x])
    assert ulp_error(mish_ops.mish_forward(x), want) <= MAX_ULP
    assert ulp_error(mish_ops.mish_backward(torch.ones_like(x), x), want_d) <= MAX_ULP


def exp_minimax(degree: int) -> np.ndarray:
    """Coefficients (lowest first) of the polynomial nearest e^r in relative error on |r| <= ln2 / 2: least
    squares on Chebyshev nodes, reweighted by the error (Lawson's iteration), which tends to the minimax fit."""
    half = math.log(2) / 2
    r = half * np.cos(np.pi * (np.arange(4000) + 0.5) / 4000)
    scaled = np.vander(r, degree + 1, increasing=True) / np.exp(r)[:, None]  # p(r) / e^r, linear in p
    weights = np.ones_like(r)
    for _ in range(30):
        root = np.sqrt(weights)
        coefficients = np.linalg.lstsq(scaled * root[:, None], root, rcond=None)[0]
        weights *= np.abs(scaled @ coefficients - 1)
        weights /= weights.sum()
    return coefficients


def relative_error(coefficients) -> float:
    """max |p(r) / e^r - 1| over |r| <= ln2 / 2, p evaluated exactly from its double coefficients (mpmath)."""
    import mpmath

    with mpmath.workdps(40):
        worst = mpmath.mpf(0)
        for r in np.linspace(-math.log(2) / 2, math.log(2) / 2, 2001):
            value = mpmath.polyval([mpmath.mpf(float(c)) for c in coefficients[::-1]], mpmath.mpf(r))
            worst = max(worst, abs(value / mpmath.exp(mpmath.mpf(r)) - 1))
        return float(worst)


def test_exp_polynomial_of_the_kernels_is_minimax():
    source = (native.CSRC / "mish.cpp").read_text()
    body = source[source.index("L exp_bounded(L a)") : source.index("lanes::power_of_two(shifted);")]
    found = [float.fromhex(h) for h in re.findall(r"0x1\.[0-9a-f]+p[-+]?\d+", body)]  # c_7 .. c_0, then c_8
    kernel = np.array(found[-2::-1] + found[-1:])  # lowest first
    assert len(kernel) == 9
    error = relative_error(kernel)
    assert error < 1e-12  # the comment's bound (8e-13): ~1e-5 of a float32 ulp
    assert error <= 1.1 * relative_error(exp_minimax(8))  # as good as a fresh fit
    assert error < relative_error(1 / np.array([math.factorial(k) for k in range(9)])) / 100  # Taylor's: 2.8e-10


def test_edges(built):
    x = torch.tensor([0.0, -0.0, math.inf, -math.inf, math.nan, -1e4, 3e38])
    y = mish_ops.mish_forward(x)
    assert y[0].item() == 0 and math.copysign(1, y[0].item()) == 1
    assert y[1].item() == 0 and math.copysign(1, y[1].item()) == -1
    assert y[2].item() == math.inf and y[3].item() == 0 and math.isnan(y[4].item())
    assert y[5].item() == 0 and y[6].item() == x[6].item()
    d = mish_ops.mish_backward(torch.ones_like(x), x)
    assert d[:2].tolist() == [pytest.approx(0.6), pytest.approx(0.6)] and d[2].item() == 1 and d[3].item() == 0
    assert math.isnan(d[4].item())


def test_functional_routes_float32_to_the_native_op(built):
    x = (torch.randn(N) * 4).requires_grad_()
    grad = torch.randn(N)
    y = rf.mish(x)
    assert y.grad_fn.name() == "NativeMishBackward"
    y.backward(grad)
    x_ref = x.detach().clone().requires_grad_()
    F.mish(x_ref).backward(grad)
    torch.testing.assert_close(y, F.mish(x_ref.detach()), rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=4e-6)
    small = torch.randn(100, requires_grad=True)
    assert rf.mish(small).grad_fn.name() == "MishBackward0"  # tiny tensors keep torch's kernel
    double = torch.randn(N, dtype=torch.float64, requires_grad=True)
    assert rf.mish(double).grad_fn.name() == "MishBackward0"  # float64: torch's kernel (documented)


def test_native_backward_node_edges(built):
    """The C++ node: an expanded gradient (from sum()), a saved input changed in place (autograd's version
    error, as torch's own mish), and a dispatch mode, which sees the custom op instead."""
    x = (torch.randn(N) * 3).requires_grad_()
    rf.mish(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ops.aten.mish_backward(torch.ones(N), x.detach()), rtol=1e-5, atol=4e-6)
    a = torch.randn(N, requires_grad=True)
    hidden = a * 1.0
    y = rf.mish(hidden)
    hidden.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    seen = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with Record():
        y = rf.mish(x)
    assert any("relukit.mish" in name for name in seen)
    torch.testing.assert_close(y, F.mish(x.detach()), rtol=2e-6, atol=1e-7)


def test_same_values_with_any_thread_count(built):
    x = torch.randn(1 << 20) * 6
    grad = torch.randn_like(x)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            results.append((mish_ops.mish_forward(x), mish_ops.mish_backward(grad, x)))
    finally:
        torch.set_num_threads(threads)
    for y, g in results[1:]:
        assert torch.equal(y, results[0][0]) and torch.equal(g, results[0][1])


@pytest.mark.parametrize("shift", [1, 3, 5, 7])
def test_packs_and_scalar_tail_agree(built, shift):
    """Each element's value does not depend on whether it falls in a vector pack or the scalar tail
    (csrc/lanes.h: one template, the same rounding): shifting the input moves elements between them."""
    x = torch.cat([torch.linspace(-120, 60, 100_003), torch.tensor(EDGES), grid()[::7]])
    grad = torch.randn_like(x)
    y, g = mish_ops.mish_forward(x), mish_ops.mish_backward(grad, x)
    y_shifted = mish_ops.mish_forward(x[shift:].contiguous())
    g_shifted = mish_ops.mish_backward(grad[shift:].contiguous(), x[shift:].contiguous())
    torch.testing.assert_close(y_shifted, y[shift:], rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(g_shifted, g[shift:], rtol=0, atol=0, equal_nan=True)
    # pieces shorter than a pack run the scalar path only
    picks = torch.cat(
        [torch.tensor(EDGES), x[torch.randint(0, x.numel(), (2000,), generator=torch.Generator().manual_seed(shift))]]
    )
    scalar_y = torch.cat([mish_ops.mish_forward(piece.contiguous()) for piece in picks.split(shift)])
    scalar_g = torch.cat([mish_ops.mish_backward(torch.ones_like(p), p.contiguous()) for p in picks.split(shift)])
    torch.testing.assert_close(scalar_y, mish_ops.mish_forward(picks), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(
        scalar_g, mish_ops.mish_backward(torch.ones_like(picks), picks), rtol=0, atol=0, equal_nan=True
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(8, 16, 32, 32).to(memory_format=torch.channels_last),
        lambda: torch.randn(512, 256).t(),
        lambda: torch.randn(64, 1024)[:, ::2],  # not dense: torch's kernels
    ],
    ids=["channels_last", "transposed", "strided"],
)
def test_layouts(built, make):
    x = (make() * 3).requires_grad_()
    grad = torch.randn(x.shape)  # contiguous, unlike x
    y = rf.mish(x)
    want = F.mish(x.detach())
    assert y.stride() == want.stride()
    torch.testing.assert_close(y, want, rtol=2e-6, atol=1e-7)
    y.backward(grad)
    torch.testing.assert_close(x.grad, torch.ops.aten.mish_backward(grad, x.detach()), rtol=1e-5, atol=4e-6)
    torch.testing.assert_close(mish_ops.mish_forward(x.detach()), want, rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(
        mish_ops.mish_backward(grad, x.detach()), torch.ops.aten.mish_backward(grad, x.detach()), rtol=1e-5, atol=4e-6
    )


def test_saves_only_the_input(built):
    a = torch.randn(N, requires_grad=True)
    x = a * 2
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        rf.mish(x)
    assert len(saved) == 1 and saved[0] is x  # what torch's mish saves too


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_no_nan_or_inf_for_finite_inputs(dtype):
    big = torch.finfo(dtype).max
    values = torch.tensor([1e4, -1e4, 65504.0, -65504.0, big, -big, 0.0, -1.5, 88.0, -88.0]).to(dtype)
    x = values.repeat(N // 10 + 1)[:N].clone().requires_grad_()
    y = rf.mish(x)
    y.backward(torch.ones_like(y))
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    head = y.detach()[:10].float()
    assert head[0] == pytest.approx(float(values[0])) and head[1] == 0 and head[4] == float(values[4])


def test_double_backward(built):
    x = torch.randn(64, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(torch.ops.relukit.mish, (x,))
    assert torch.autograd.gradgradcheck(lambda g, x: torch.ops.relukit.mish_backward(g, x), (torch.randn_like(x), x))
    x32 = (torch.randn(N) * 3).requires_grad_()  # native forward, composed backward when create_graph
    for op in (rf.mish, torch.ops.relukit.mish):
        (g,) = torch.autograd.grad(op(x32).sum(), x32, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), x32)
        x_ref = x32.detach().clone().requires_grad_()
        (g_ref,) = torch.autograd.grad(F.mish(x_ref).sum(), x_ref, create_graph=True)
        (gg_ref,) = torch.autograd.grad(g_ref.sum(), x_ref)
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=4e-6)
        torch.testing.assert_close(gg, gg_ref, rtol=1e-4, atol=1e-5)


def test_opcheck(built):
    for shape in [(4, 8), (N,)]:
        x = torch.randn(*shape, requires_grad=True)
        torch.library.opcheck(torch.ops.relukit.mish.default, (x,))
        torch.library.opcheck(torch.ops.relukit.mish_backward.default, (torch.randn(*shape), x))


def test_compile_and_export(built):
    def f(x):
        return torch.ops.relukit.mish(x) * 2

    x = torch.randn(N) * 3
    torch.testing.assert_close(torch.compile(f, fullgraph=True)(x), F.mish(x) * 2, rtol=2e-6, atol=1e-6)
    exported = torch.export.export(_Twice(), (x,))
    assert any("relukit.mish" in str(node.target) for node in exported.graph.nodes)
    torch.testing.assert_close(exported.module()(x), F.mish(x) * 2, rtol=2e-6, atol=1e-6)


class _Twice(torch.nn.Module):
    def forward(self, x):
        return torch.ops.relukit.mish(x) * 2


def test_inplace(built):
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
    out = allocator.empty_output(x.view(3, -1))
    assert out.shape == (3, 3 << 20) and out.is_contiguous() and out.dtype == x.dtype


def test_inference_mode_and_autocast(built):
    with torch.inference_mode():
        x = torch.randn(N) * 3
        torch.testing.assert_close(rf.mish(x), F.mish(x), rtol=2e-6, atol=1e-7)
    x = torch.randn(N) * 3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = rf.mish(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, F.mish(x), rtol=2e-6, atol=1e-7)


def test_inside_compile_and_transforms_torchs_op_is_used(monkeypatch):
    x = torch.randn(N)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert not mish_ops.applies(x)  # inside torch.compile, Inductor fuses torch's mish itself


def test_torch_func_transforms_use_torchs_op():
    x = torch.randn(2, N) * 3
    torch.testing.assert_close(torch.func.vmap(rf.mish)(x), F.mish(x))
    grad = torch.func.grad(lambda t: rf.mish(t).sum())(x[0])
    torch.testing.assert_close(grad, torch.ops.aten.mish_backward(torch.ones(N), x[0]))


def test_forced_fallback_uses_torchs_mish():
    code = (
        "import torch, torch.nn.functional as F, relukit.functional as rf\n"
        "from relukit._ops import mish\n"
        "x = (torch.randn(1 << 16) * 4).requires_grad_(); g = torch.randn(1 << 16)\n"
        "y = rf.mish(x); y.backward(g)\n"
        "assert y.grad_fn.name() == 'MishBackward0', y.grad_fn.name()\n"
        "assert torch.equal(y, F.mish(x.detach()))\n"
        "assert torch.equal(x.grad, torch.ops.aten.mish_backward(g, x.detach()))\n"
        "assert torch.equal(mish.mish_forward(x.detach()), F.mish(x.detach()))\n"
    )
    env = {**os.environ, "RELUKIT_NATIVE": "0", "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, env=env)


def test_importing_compiles_nothing():
    code = (
        "import sys, relukit.functional, relukit.kaf, relukit.array\n"
        "heavy = {'torch._inductor', 'torch._dynamo.convert_frame', 'triton'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

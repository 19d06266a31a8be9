"""Kafnets (KAF, KAF2D): values against explicit sums, gradients, memory, the paper's initialization."""

from __future__ import annotations

import math

import array_api_strict as xps
import numpy as np
import pytest
import torch
from torch import nn

import relukit.array as ra
import relukit.functional as rf
from relukit import kafmath
from relukit._ops import kaf as kaf_ops
from relukit.diagnostics import SavedTensorMeter
from relukit.kaf import KAF, KAF2D, fit_error, infer_kaf, kaf2d

SCALAR_KERNELS = {
    "gaussian": lambda z, gamma: math.exp(-gamma * z * z),
    "relu": lambda z, gamma: max(z, 0.0),
    "softplus": lambda z, gamma: math.log1p(math.exp(z)),
}


def explicit_kaf(x, alpha, d, gamma, kernel, channel_axis):
    """sum_i alpha[c, i] k(x - d_i), one element at a time (float64, math module)."""
    k = SCALAR_KERNELS[kernel]
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        row = alpha[0 if alpha.shape[0] == 1 else index[channel_axis]]
        out[index] = sum(a * k(float(x[index]) - di, gamma) for a, di in zip(row, d))
    return out


def explicit_kaf2d(x, alpha, d, gamma, channel_axis):
    axis = channel_axis % x.ndim
    half = x.shape[axis] // 2
    s, t = np.split(x, 2, axis=axis)
    out = np.empty(s.shape)
    for index in np.ndindex(s.shape):
        a = alpha[index[axis]]
        out[index] = sum(
            a[i, j] * math.exp(-gamma * ((s[index] - d[i]) ** 2 + (t[index] - d[j]) ** 2))
            for i in range(len(d))
            for j in range(len(d))
        )
    assert out.shape[axis] == half
    return out


def naive_kaf(x, alpha, d, gamma):
    """The textbook torch form: builds (and autograd keeps) the (..., D) kernel tensor."""
    return (torch.exp(-gamma * (x.unsqueeze(-1) - d) ** 2) * alpha).sum(-1)


def saved_bytes(fn, *, ignore):
    """(bytes autograd keeps for backward, fn's output): SavedTensorMeter, ``ignore`` alive anyway."""
    with SavedTensorMeter(ignore=ignore) as meter:
        out = fn()
    return meter.saved_bytes, out


RNG = np.random.default_rng(0)
D7 = np.linspace(-3, 3, 7)


@pytest.mark.parametrize("kernel", kafmath.KERNELS)
@pytest.mark.parametrize(
    "shape, axis, shared", [((3, 4), 1, False), ((2, 3, 5), -1, False), ((2, 3, 2, 2), 1, False), ((5,), 1, True)]
)
def test_array_kaf_matches_explicit_sum(kernel, shape, axis, shared):
    x = RNG.normal(0, 2, shape)
    alpha = RNG.normal(0, 1, (1 if shared else shape[axis], 7))
    want = explicit_kaf(x, alpha, D7, 0.4, kernel, axis)
    np.testing.assert_allclose(ra.kaf(x, alpha, D7, 0.4, kernel, channel_axis=axis), want, rtol=1e-12, atol=1e-12)
    strict = ra.kaf(xps.asarray(x), xps.asarray(alpha), xps.asarray(D7), 0.4, kernel, channel_axis=axis)
    assert isinstance(strict, type(xps.asarray(x)))
    np.testing.assert_allclose(np.from_dlpack(strict), want, rtol=1e-12, atol=1e-12)


def test_array_kaf_keeps_dtype_and_scalars():
    assert isinstance(ra.kaf(0.5, [[1.0, 2.0]], [-1.0, 1.0], 0.5), float)
    y = ra.kaf(np.ones((2, 3), np.float32), np.ones((3, 2)), [-1.0, 1.0], 0.5)
    assert y.dtype == np.float32 and np.allclose(y, 1 + math.exp(-2.0))
    t = ra.kaf(torch.ones(2, 3, dtype=torch.bfloat16), torch.ones(3, 2), torch.tensor([-1.0, 1.0]), 0.5)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.bfloat16


@pytest.mark.parametrize("kernel", kafmath.KERNELS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_functional_matches_array(kernel, dtype):
    x = torch.randn(4, 6, 3, 3, dtype=dtype) * 2
    alpha, d = torch.randn(6, 7, dtype=dtype), torch.from_numpy(D7).to(dtype)
    want = ra.kaf(x.double().numpy(), alpha.double().numpy(), D7, 0.4, kernel)
    got = rf.kaf(x, alpha, d, 0.4, kernel)
    assert got.dtype == dtype and got.shape == x.shape
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(got.double().numpy(), want, rtol=tol, atol=tol)


def test_kaf2d_matches_explicit_double_sum():
    x = RNG.normal(0, 1.5, (3, 4, 2))
    alpha = RNG.normal(0, 1, (2, 7, 7))
    got = kaf2d(torch.from_numpy(x), torch.from_numpy(alpha), torch.from_numpy(D7), 0.6, channel_axis=1)
    np.testing.assert_allclose(got.numpy(), explicit_kaf2d(x, alpha, D7, 0.6, 1), rtol=1e-12, atol=1e-12)
    y = RNG.normal(0, 1.5, (5, 4))  # channels last: pairs (0, 2) and (1, 3)
    got = kaf2d(torch.from_numpy(y), torch.from_numpy(alpha), torch.from_numpy(D7), 0.6, channel_axis=-1)
    np.testing.assert_allclose(got.numpy(), explicit_kaf2d(y, alpha, D7, 0.6, -1), rtol=1e-12, atol=1e-12)


@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setattr(kaf_ops, "TILE_ELEMENTS", 40)  # many tiles, over B and over S


@pytest.mark.parametrize("kernel", kafmath.KERNELS)
def test_kaf_gradcheck_and_gradgradcheck(kernel, small_tiles):
    torch.manual_seed(0)
    x = (torch.randn(3, 4, 5, dtype=torch.float64) * 2).requires_grad_()
    alpha = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    d = torch.from_numpy(D7)
    fn = lambda x, alpha: rf.kaf(x, alpha, d, 0.4, kernel)
    assert torch.autograd.gradcheck(fn, (x, alpha))
    assert torch.autograd.gradgradcheck(fn, (x, alpha))


def test_kaf2d_gradcheck_and_gradgradcheck(small_tiles):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    alpha = torch.randn(2, 7, 7, dtype=torch.float64, requires_grad=True)
    fn = lambda x, alpha: kaf2d(x, alpha, torch.from_numpy(D7), 0.6)
    assert torch.autograd.gradcheck(fn, (x, alpha))
    assert torch.autograd.gradgradcheck(fn, (x, alpha))


def test_gradients_equal_naive_autograd_and_tiles_do_not_matter(monkeypatch):
    torch.manual_seed(0)
    module = KAF(6, init=None).double()
    x = torch.randn(64, 6, dtype=torch.float64, requires_grad=True)
    grads = []
    for tile in (1 << 20, 50):
        monkeypatch.setattr(kaf_ops, "TILE_ELEMENTS", tile)
        y = module(x)
        grads.append((y, *torch.autograd.grad(y.square().sum(), (x, module.alpha))))
    y_ref = naive_kaf(x, module.alpha, module.dictionary, module.gamma)
    want = (y_ref, *torch.autograd.grad(y_ref.square().sum(), (x, module.alpha)))
    for got in grads:
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_opcheck():
    x, alpha = torch.randn(2, 4, 3, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    d = torch.linspace(-2, 2, 5)
    torch.library.opcheck(torch.ops.relukit.kaf.default, (x, alpha, d, 0.5, "softplus", False))
    torch.library.opcheck(
        torch.ops.relukit.kaf.default, (x, torch.randn(2, 5, 5, requires_grad=True), d, 0.5, "gaussian", True)
    )


@pytest.mark.parametrize("make", [lambda: KAF(512), lambda: KAF2D(512)], ids=["KAF", "KAF2D"])
def test_saves_only_the_input_where_naive_saves_the_kernel_tensor(make):
    torch.manual_seed(0)
    linear, act = nn.Linear(64, 512), make()
    inp = torch.randn(256, 64)
    input_bytes = 256 * 512 * 4
    ours, _ = saved_bytes(lambda: act(linear(inp)), ignore=[inp])
    assert ours <= 2 * input_bytes
    if isinstance(act, KAF):
        naive, y_naive = saved_bytes(lambda: naive_kaf(linear(inp), act.alpha, act.dictionary, act.gamma), ignore=[inp])
        torch.testing.assert_close(act(linear(inp)), y_naive, rtol=1e-5, atol=1e-5)
        assert naive >= act.D * input_bytes  # measured: 40x (the distances and the kernel, D=20 each)
        assert naive / ours >= 20


@pytest.mark.parametrize(
    "init, f, pinned",
    [
        ("relu", lambda x: np.maximum(x, 0), 0.0698),
        ("elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), 0.0225),
        ("tanh", np.tanh, 0.0044),
    ],
)
def test_ridge_initialization_fit_matches_the_measured_numbers(init, f, pinned):
    module = KAF(3, init=init).double()  # D=20, boundary 4, gamma = 1 / (6 Delta^2), eps 1e-4
    x = torch.linspace(-4, 4, 8001, dtype=torch.float64)
    y = module(x[:, None].expand(-1, 3)).detach().numpy()
    error = np.abs(y - f(x.numpy())[:, None]).max()
    assert error == pytest.approx(pinned, rel=0.01)  # REFERENCES.md: 0.070, 0.023, 0.0044
    assert fit_error(module, init) == pytest.approx(error, rel=1e-9)


def test_initializations():
    torch.manual_seed(0)
    assert KAF(1000, init=None).alpha.std().item() == pytest.approx(0.3, rel=0.03)
    assert fit_error(KAF(1, init=np.sin).double(), np.sin) < 0.01
    assert fit_error(KAF(1, init="mish").double(), "mish") < 0.03
    assert fit_error(KAF(1, kernel="softplus", init="tanh").double(), "tanh") < 0.05
    alpha = KAF(4, init="tanh").alpha
    assert alpha.shape == (4, 20) and torch.equal(alpha[0], alpha[3])
    assert KAF(2, kernel="relu", init=None)(torch.randn(3, 2)).shape == (3, 2)
    assert KAF2D(6).alpha.shape == (3, 10, 10)


def test_module_layouts_state_dict_and_repr():
    act = KAF(8)
    assert act.activation_name == "kaf" and KAF2D.activation_name == "kaf2d"
    assert list(act.state_dict()) == ["alpha"] and list(KAF2D(4).state_dict()) == ["alpha"]
    assert act(torch.randn(2, 5, 8)).shape == (2, 5, 8)
    conv = KAF(8, conv=True)
    x = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(conv(x), act(x.movedim(1, -1)).movedim(-1, 1))
    assert KAF2D(8, conv=True)(x).shape == (2, 4, 3, 3) and KAF2D(8)(torch.randn(5, 8)).shape == (5, 4)
    assert KAF2D(4).gamma == pytest.approx(1 / (4 * (2 / 3) ** 2))  # D=10, boundary 3: Delta = 2/3
    assert KAF(1).gamma == pytest.approx(1 / (6 * (8 / 19) ** 2))
    copy = KAF(8, init=None)
    copy.load_state_dict(act.state_dict())
    assert torch.equal(copy.alpha, act.alpha)
    assert act.double().dictionary.dtype == torch.float64
    assert repr(KAF(4)) == "KAF(num_parameters=4, D=20, boundary=4.0, kernel='gaussian', init='relu', conv=False)"
    assert repr(KAF2D(4)) == "KAF2D(num_parameters=4, D=10, boundary=3.0, conv=False)"


def test_half_precision_input_keeps_dtype():
    act = KAF(4, init="tanh")
    x = torch.linspace(-3, 3, 40).reshape(10, 4)
    for dtype in (torch.float16, torch.bfloat16):
        y = act(x.to(dtype))
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), torch.tanh(x.to(dtype).float()), atol=0.02, rtol=0)


def test_empty_input():
    act = KAF(3)
    x = torch.empty(0, 3, requires_grad=True)
    y = act(x)
    y.sum().backward()
    assert KAF(3, conv=True)(torch.empty(2, 3, 0)).shape == (2, 3, 0)
    assert y.shape == (0, 3) and x.grad.shape == (0, 3) and act.alpha.grad is not None


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: KAF(0), ValueError, "KAF: num_parameters must be >= 1, got 0"),
        (lambda: KAF(2.0), TypeError, "KAF: num_parameters must be an int, got 2.0"),
        (lambda: KAF(2, D=1), ValueError, "KAF: D must be >= 2, got 1"),
        (lambda: KAF(2, boundary=-1), ValueError, "KAF: boundary must be > 0, got -1"),
        (lambda: KAF(2, kernel="cauchy"), ValueError, "KAF: kernel must be one of .* got 'cauchy'"),
        (lambda: KAF(2, init="nope"), ValueError, "KAF: init must be .* got 'nope'"),
        (lambda: KAF(2, kernel="relu"), ValueError, "KAF: kernel='relu' cannot be initialized by kernel ridge"),
        (lambda: KAF(2, gamma=math.nan), ValueError, "KAF: gamma must be finite, got nan"),
        (lambda: KAF(2, conv=1), TypeError, "KAF: conv must be a bool, got 1"),
        (lambda: KAF(2, init=lambda d: d[:3]), ValueError, "KAF: init function must map the 20 dictionary points"),
        (lambda: KAF2D(5), ValueError, "KAF2D: num_parameters must be even .* got 5"),
        (lambda: KAF(3)(torch.randn(2, 4)), ValueError, r"KAF: alpha has 3 rows but input has 4 channels on axis 1"),
        (lambda: KAF(3, conv=True)(torch.randn(3)), ValueError, r"KAF: conv=True needs input \(N, C, \*\)"),
        (lambda: KAF2D(4)(torch.randn(2, 6)), ValueError, "KAF2D: alpha has 2 rows but input has 6 channels"),
        (lambda: KAF(2)(torch.ones(2, 2, dtype=torch.long)), TypeError, "KAF: input must have a floating dtype"),
        (lambda: rf.kaf([1.0], torch.ones(1, 2), torch.ones(2), 1.0), TypeError, "kaf: input must be a torch.Tensor"),
        (
            lambda: rf.kaf(torch.ones(2), torch.ones(1, 2), torch.ones(2), 0.0),
            ValueError,
            "kaf: gamma must be > 0, got 0.0",
        ),
        (
            lambda: rf.kaf(torch.ones(2), torch.ones(1, 3), torch.ones(2), 1.0),
            ValueError,
            r"kaf: alpha must have shape \(channels, D\) with D=2",
        ),
        (
            lambda: rf.kaf(torch.ones(2), torch.ones(1, 2), torch.ones(1, 2), 1.0),
            ValueError,
            "kaf: dictionary must be a non-empty 1-D",
        ),
        (
            lambda: rf.kaf(torch.ones(2, 2), torch.ones(2, 2), torch.ones(2), 1.0, channel_axis=2),
            ValueError,
            "kaf: channel_axis=2 is out of range",
        ),
        (
            lambda: kaf2d(torch.ones(2, 3), torch.ones(1, 2, 2), torch.ones(2), 1.0),
            ValueError,
            "kaf2d: input must have an even number of channels",
        ),
        (
            lambda: ra.kaf(np.ones(2), np.ones((1, 2)), [0.0, 1.0], 1.0, kernel="x"),
            ValueError,
            "kaf: kernel must be one of",
        ),
    ],
)
def test_errors_name_the_function_argument_and_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "previous, expected",
    [
        (nn.Linear(3, 7), {"num_parameters": 7, "conv": False}),
        (nn.Conv2d(3, 5, 3), {"num_parameters": 5, "conv": True}),
        (nn.ConvTranspose1d(3, 4, 3), {"num_parameters": 4, "conv": True}),
        (nn.BatchNorm1d(6), {"num_parameters": 6, "conv": True}),
        (nn.GroupNorm(2, 8), {"num_parameters": 8, "conv": True}),
        (nn.LayerNorm([4, 9]), {"num_parameters": 9, "conv": False}),
        (nn.Embedding(10, 12), {"num_parameters": 12, "conv": False}),
    ],
)
def test_infer_kaf(previous, expected):
    assert infer_kaf(previous) == expected
    act = KAF(**expected)
    x = (
        torch.randn(2, expected["num_parameters"], 3)
        if expected["conv"]
        else torch.randn(2, expected["num_parameters"])
    )
    assert act(x).shape == x.shape


def test_infer_kaf_errors():
    with pytest.raises(ValueError, match=r"infer_kaf: cannot infer num_parameters and conv for 'kaf2d' .*\(Dropout\)"):
        infer_kaf(nn.Dropout(), "kaf2d")
    with pytest.raises(
        ValueError, match="infer_kaf: cannot infer num_parameters for 'kaf': there is no layer before it"
    ):
        infer_kaf(None)


def test_torch_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    for module, x in ((KAF(8), torch.randn(4, 8)), (KAF2D(8, conv=True), torch.randn(4, 8, 3, 3))):
        x.requires_grad_()
        compiled = torch.compile(module, fullgraph=True)
        results = []
        for fn in (compiled, module):
            y = fn(x)
            results.append((y, *torch.autograd.grad(y.square().sum(), (x, module.alpha))))
        for got, want in zip(*results):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_torch_func_grad_and_vmap():
    torch.manual_seed(0)
    x, alpha = torch.randn(5, 4, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)
    d = torch.from_numpy(D7)
    grad_x, grad_alpha = torch.func.grad(lambda x, a: rf.kaf(x, a, d, 0.4).sum(), argnums=(0, 1))(x, alpha)
    want = torch.autograd.grad(rf.kaf(x.requires_grad_(), alpha.requires_grad_(), d, 0.4).sum(), (x, alpha))
    torch.testing.assert_close((grad_x, grad_alpha), want)
    batched = torch.func.vmap(lambda row: rf.kaf(row, alpha.detach(), d, 0.4, channel_axis=0))(x.detach())
    torch.testing.assert_close(batched, rf.kaf(x.detach(), alpha.detach(), d, 0.4))

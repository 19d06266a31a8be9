"""relukit._ops.native: the generated C++ kernels against torch's own ops, bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import relukit
import relukit.functional as rf
from relukit import catalog
from relukit._ops import native, packing

pytestmark = pytest.mark.skipif(not native.available(), reason="native kernels not built (RELUKIT_NATIVE=0?)")

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
# (member, relukit call, torch reference) with parameters that exercise every template shape
CASES = [
    ("relu", lambda t, **k: rf.relu(t, **k), lambda t: F.relu(t)),
    ("relu6", lambda t, **k: rf.relu6(t, **k), lambda t: F.relu6(t)),
    ("hardtanh", lambda t, **k: rf.hardtanh(t, -0.5, 2.0, **k), lambda t: F.hardtanh(t, -0.5, 2.0)),
    ("threshold", lambda t, **k: rf.threshold(t, 0.25, -3.0, **k), lambda t: F.threshold(t, 0.25, -3.0)),
    ("leaky_relu", lambda t, **k: rf.leaky_relu(t, 0.2, **k), lambda t: F.leaky_relu(t, 0.2)),
    ("rrelu", lambda t, **k: rf.rrelu(t, 0.1, 0.3, **k), lambda t: F.leaky_relu(t, 0.2)),
]


def special(n: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=generator, dtype=torch.float64) * 4
    edges = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 6.0, 2.0, -0.5, 0.25, 1e-40]
    x[: min(n, len(edges))] = torch.tensor(edges[:n], dtype=torch.float64)
    return x[torch.randperm(n, generator=generator)].to(dtype)


def bits(t: torch.Tensor) -> torch.Tensor:
    """Bit patterns with NaN payloads made canonical (torch's own vectorised and scalar paths differ there)."""
    t = torch.where(t.isnan(), torch.full_like(t, float("nan")), t)
    return t.reshape(-1).view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def gradient(fn, x, grad):
    leaf = x.clone().requires_grad_()
    y = fn(leaf * 1.0)
    y.backward(grad)
    return y.detach(), leaf.grad


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name,ours,reference", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000, 70_001])
def test_values_and_gradients_match_torch(name, ours, reference, dtype, n):
    x = special(n, dtype, seed=n)
    grad = special(n, dtype, seed=n + 1)
    grad[::3] = -0.0
    y, g = gradient(ours, x, grad)
    y_ref, g_ref = gradient(reference, x, grad)
    assert torch.equal(bits(y), bits(y_ref))
    finite = ~x.isnan()  # torch's hardtanh/relu6 backward at NaN depends on the position (README)
    assert torch.equal(bits(g[finite]), bits(g_ref[finite]))


@pytest.mark.parametrize("layout", ["transposed", "channels_last", "sliced"])
def test_non_contiguous_inputs(layout):
    base = special(2 * 3 * 8 * 10, torch.float32, seed=5).view(2, 3, 8, 10)
    x = {
        "transposed": base.transpose(1, 3),
        "channels_last": base.contiguous(memory_format=torch.channels_last),
        "sliced": base[:, :, ::2],
    }[layout]
    grad = torch.randn(x.shape)
    y, g = gradient(lambda t: rf.leaky_relu(t, 0.1), x, grad)
    y_ref, g_ref = gradient(lambda t: F.leaky_relu(t, 0.1), x, grad)
    assert torch.equal(bits(y), bits(y_ref)) and torch.equal(bits(g), bits(g_ref))


@pytest.mark.parametrize("name,ours,reference", CASES, ids=[c[0] for c in CASES])
def test_inplace_keeps_signed_zero_gradients(name, ours, reference):
    x = torch.tensor([-2.0, -0.5, 0.0, 0.7, 3.0, 7.0])
    grad = torch.tensor([-1.0, -0.0, -0.0, -0.0, -0.0, -0.0])
    leaf = x.clone().requires_grad_()
    y = ours(leaf * 1.0, inplace=True)
    y.backward(grad)
    _, g_ref = gradient(reference, x, grad)
    assert type(y.grad_fn).__name__ == "CppFunction"
    assert torch.equal(bits(leaf.grad), bits(g_ref))


def test_inplace_on_a_leaf_is_refused_as_torch_does():
    leaf = torch.randn(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        rf.relu(leaf, inplace=True)


def test_saved_bytes_are_one_bit_per_element_two_for_rectify():
    from relukit.diagnostics import SavedTensorMeter

    x = torch.randn(4096, requires_grad=True) * 1.0
    with SavedTensorMeter() as meter:
        rf.relu(x)
    assert meter.saved_bytes == 4096 // 8
    with SavedTensorMeter() as meter:
        rf.rectify(x, negative_slope=0.1, max_value=3.0)
    assert meter.saved_bytes == 4096 // 4


def test_codes_are_packing_layout():
    x = special(1001, torch.float32, seed=9)
    entry = catalog.BY_NAME["rectify"]
    params = entry.bind("test", {"negative_slope": 0.1, "max_value": 3.0, "threshold": -1.0})
    call = native.call(entry, params)
    _, packed = native.module().forward(x, call.variant, call.constants, False, True)
    expected = packing.pack(entry.codes(x, rf._piecewise.xp_torch, **params), 2)
    assert torch.equal(packed, expected)


def test_double_backward_is_linear_in_the_gradient():
    x = special(300, torch.float64, seed=3)
    leaf, upstream = x.clone().requires_grad_(), torch.randn(300, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(rf.leaky_relu(leaf * 1.0, 0.25), leaf, upstream, create_graph=True)
    (d_upstream,) = torch.autograd.grad(g.sum(), upstream)
    assert torch.equal(d_upstream, torch.where(x > 0, 1.0, 0.25).to(torch.float64))


def test_threads_give_the_same_bits():
    x = special(1 << 18, torch.float32, seed=11)
    grad = torch.randn(1 << 18)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = gradient(lambda t: rf.hardtanh(t, -1.0, 1.0), x, grad)
        torch.set_num_threads(2)
        two = gradient(lambda t: rf.hardtanh(t, -1.0, 1.0), x, grad)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(bits(a), bits(b)) for a, b in zip(one, two))


@pytest.mark.parametrize(
    "name,params",
    [
        ("relu", {}),
        ("relu6", {}),
        ("hardtanh", {"min_val": -0.37, "max_val": 1.5}),
        ("threshold", {"threshold": -2.0, "value": 7.5}),
        ("leaky_relu", {"negative_slope": 0.37}),
        ("rrelu", {"lower": 0.01, "upper": 0.9}),
        ("rectify", {}),
        ("rectify", {"negative_slope": 0.37}),
        ("rectify", {"max_value": 1.5, "threshold": -2.0}),
        ("rectify", {"negative_slope": 0.37, "max_value": 1.5, "threshold": 0.5}),
    ],
)
def test_parameter_values_beyond_the_sampled_ones_find_a_compiled_template(name, params):
    entry = catalog.BY_NAME[name]
    assert native.call(entry, entry.bind("test", params)) is not None


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )


def test_backend_reports_the_path_and_the_switch_selects_the_python_one():
    assert relukit.backend() == "native"
    check = (
        "import torch, relukit, relukit.functional as rf, torch.nn.functional as F\n"
        "x = torch.randn(100, requires_grad=True)\n"
        "assert torch.equal(rf.leaky_relu(x, 0.1), F.leaky_relu(x, 0.1))\n"
        "print(relukit.backend())"
    )
    result = _python(check, RELUKIT_NATIVE="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "python" and "Warning" not in result.stderr


def test_a_failed_build_warns_once_and_falls_back(tmp_path):
    code = (
        "import warnings, torch, relukit, relukit.functional as rf\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    x = torch.randn(10, requires_grad=True)\n"
        "    rf.relu(x); rf.relu(x)\n"
        "print(relukit.backend(), sum('native CPU kernels unavailable' in str(w.message) for w in caught))"
    )
    result = _python(code, RELUKIT_CACHE=str(tmp_path), CXX="false")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "1"]


def test_try_lean_declines_wherever_the_hot_path_does_not_apply():
    """The hot path's one C++ call (relukit.functional): y for a plain CPU tensor (the lean op where autograd
    records, the values alone where it does not), None under torch-function / dispatch modes, functorch
    transforms, the TorchScript tracer, for subclasses and for in-place calls autograd does not record."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    module, handle = native.module(), native.call(catalog.BY_NAME["relu"], {}).handle
    x = torch.randn(40, requires_grad=True)
    y = module.try_lean(x, handle, False)
    assert torch.equal(y, F.relu(x)) and y.grad_fn.name() == "LeanBackward"
    plain = module.try_lean(x.detach(), handle, False)
    assert torch.equal(plain, F.relu(x.detach())) and plain.grad_fn is None and not plain.requires_grad
    assert module.try_lean(x.detach().clone(), handle, True) is None  # torch's relu_ bumps the version
    assert module.try_lean([1.0], handle, False) is None

    class Subclass(torch.Tensor):
        pass

    assert module.try_lean(x.detach().as_subclass(Subclass).requires_grad_(), handle, False) is None
    parameter = torch.nn.Parameter(x.detach().clone())  # a plain tensor to torch-function dispatch too
    assert torch.equal(module.try_lean(parameter, handle, False), F.relu(x))
    with torch.no_grad():
        assert module.try_lean(x, handle, False).grad_fn is None
        assert module.try_lean(x, handle, True) is None
    with TorchFunctionMode():
        assert module.try_lean(x, handle, False) is None
    with TorchDispatchMode():
        assert module.try_lean(x, handle, False) is None
    seen = []
    torch.func.grad(lambda t: seen.append(module.try_lean(t, handle, False)) or t.sum())(x.detach())
    assert seen == [None]
    traced = []
    torch.jit.trace(lambda t: traced.append(module.try_lean(t, handle, False)) or t * 2, (x,), check_trace=False)
    assert traced == [None]

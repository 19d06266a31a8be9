"""relukit.array against independent float64 references (torch's float64 ops, math.erfc)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.cases import CASES, case_id

import relukit.array as ra

GRID = np.concatenate([np.linspace(-100, 100, 200_001), [-1e4, 1e4, -3e38, 3e38, 1e-30, -1e-30, 0.0]])


def reference(name, x64, params):
    """float64 values from code that is not relukit's (torch's float64 kernels, math.erfc)."""
    t = torch.from_numpy(x64)
    if name == "gelu" and params.get("approximate", "none") == "none":
        return np.array([0.5 * v * math.erfc(-v / math.sqrt(2.0)) if math.isfinite(v) else max(v, 0) for v in x64])
    if name == "gelu":  # tanh form as x sigmoid(2u): torch's 0.5 x (1 + tanh u) cancels for x << 0
        u = math.sqrt(2 / math.pi) * (t + 0.044715 * t**3)
        return (t * torch.sigmoid(2 * u)).numpy()
    if name == "rectify":
        s, m, th = params.get("negative_slope", 0.0), params.get("max_value"), params.get("threshold", 0.0)
        above = x64 if m is None else np.clip(x64, 0, m)  # Keras 3 clips to [0, m] when m is set
        return np.where(x64 > th, above, s * (x64 - th))
    if name == "rrelu":
        return F.leaky_relu(t, (params.get("lower", 1 / 8) + params.get("upper", 1 / 3)) / 2).numpy()
    if name == "prelu":
        return F.prelu(t, torch.tensor([params["weight"]], dtype=torch.float64)).numpy()
    return getattr(F, name)(t, **params).numpy()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_matches_float64_reference(case):
    name, params = case
    x32 = GRID.astype(np.float32)
    expected = reference(name, x32.astype(np.float64), params)
    with np.errstate(over="ignore"):  # the float64 reference may exceed float32's range (3e38 * scale)
        got = getattr(ra, name)(x32, **params)
    assert got.dtype == np.float32
    finite = np.abs(expected) < 3.4e38
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-6, atol=1e-7)


def test_gelu_is_accurate_where_torch_float32_is_not():
    # torch's float32 exact GELU loses up to ~20% near x = -5 (1 + erf cancellation); relukit must not.
    x = np.linspace(-6, -4, 2001).astype(np.float32)
    expected = reference("gelu", x.astype(np.float64), {})
    ours = ra.gelu(x).astype(np.float64)
    torch32 = F.gelu(torch.from_numpy(x)).double().numpy()
    ours_error = np.max(np.abs(ours - expected) / np.abs(expected))
    torch_error = np.max(np.abs(torch32 - expected) / np.abs(expected))
    assert ours_error < 1e-6
    assert torch_error > 1e-3, "the motivating torch inaccuracy disappeared; update the docs"


@pytest.mark.parametrize(("dtype", "eps"), [(np.float16, 2.0**-10), (torch.bfloat16, 2.0**-7)])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_half_precisions_within_their_precision(case, dtype, eps):
    name, params = case
    grid = np.linspace(-20, 20, 4001)
    if dtype is np.float16:
        x = grid.astype(np.float16)
        x64 = x.astype(np.float64)
        got = getattr(ra, name)(x, **params).astype(np.float64)
    else:
        x = torch.from_numpy(grid).to(dtype)
        x64 = x.double().numpy()
        got = getattr(ra, name)(x, **params)
        assert got.dtype == dtype
        got = got.double().numpy()
    expected = reference(name, x64, params)
    # one rounding of the result, plus one of a slope parameter for the piecewise-linear members
    np.testing.assert_allclose(got, expected, rtol=eps, atol=1e-7 if dtype is np.float16 else 1e-38)


# rectify has no torch op (finite differences check it in test_array_properties); prelu is checked there too.
@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in ("prelu", "rectify")], ids=case_id)
def test_derivatives_match_torch_autograd_float64(case):
    name, params = case
    x = torch.linspace(-30, 30, 6001, dtype=torch.float64, requires_grad=True)
    if name == "rrelu":
        y = F.leaky_relu(x, (params.get("lower", 1 / 8) + params.get("upper", 1 / 3)) / 2)
    elif name == "gelu" and params.get("approximate", "none") == "none":
        y = x * 0.5 * torch.special.erfc(-x / math.sqrt(2))  # erfc form: no cancellation in the reference
    else:
        y = getattr(F, name)(x, **params)
    (expected,) = torch.autograd.grad(y.sum(), x)
    got = getattr(ra, f"{name}_derivative")(x.detach().numpy(), **params)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-10, atol=1e-12)

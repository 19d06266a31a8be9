"""relukit.array's smooth members against mpmath at 50 digits (tests/mpmath_reference.py), every dtype.

float64: value and derivative within 8 ulp of the truth wherever it is a normal float64, on a dense grid
over [-40, 40], near 0, at +-1e4 and +-1e300, and at 80 points around each root of a derivative (there
the series about the root keeps the error relative too). float32/float16/bfloat16: the float64 result
rounded once, so within 0.5 ulp of the truth plus the float64 error.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from tests.mpmath_reference import FUNCTIONS, ROOTS, grid, low_precision_ulps, truth, ulp_error

import relukit.array as ra

CASES = [(member, params, derivative) for member, params in FUNCTIONS for derivative in (False, True)]
FLOAT64_ULPS = 8


def case_id(case):
    member, params, derivative = case
    return member + "".join(f"-{v}" for _, v in params) + ("'" if derivative else "")


def evaluate(case, x):
    member, params, derivative = case
    return getattr(ra, member + ("_derivative" if derivative else ""))(x, **dict(params))


@functools.cache
def points_and_truth(case):
    x = grid(2001)
    return x, truth(*case, x)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float64_within_8_ulp_of_mpmath(case):
    x, expected = points_and_truth(case)
    error = ulp_error(evaluate(case, x), expected)
    member, _, derivative = case
    root = ROOTS.get("gelu_tanh" if case[1] == (("approximate", "tanh"),) else member)
    if derivative and root is not None:  # within 1e-6 of a root the bound is absolute: 4 ulp of 1.0
        near = np.abs(x - root) < 1e-6
        assert np.all(np.abs(evaluate(case, x[near]) - expected[near]) <= 4 * np.spacing(1.0))
        error = np.where(near, np.nan, error)
    worst = np.nanargmax(error)
    assert error[worst] <= FLOAT64_ULPS, f"{error[worst]} ulp at x={x[worst]!r}"


def test_the_old_gelu_defect_is_gone():
    # 1.2e-11 relative error on [-3.54, -3.14] came from the erf series of the former erfc
    x = np.linspace(-3.54, -3.14, 401)
    assert np.nanmax(ulp_error(ra.gelu(x), truth("gelu", (), False, x))) <= FLOAT64_ULPS


# (dtype, significand bits, smallest normal exponent, largest finite)
LOW_PRECISIONS = {
    "float32": (np.float32, 24, -126, 3.4028234663852886e38),
    "float16": (np.float16, 11, -14, 65504.0),
    "bfloat16": (torch.bfloat16, 8, -126, 3.3895313892515355e38),
}


@pytest.mark.parametrize("precision", LOW_PRECISIONS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_low_precisions_are_the_rounded_float64_result(case, precision):
    dtype, bits, emin, largest = LOW_PRECISIONS[precision]
    x64 = grid(401)
    if dtype is torch.bfloat16:
        x = torch.unique(torch.from_numpy(x64).to(dtype))
        x64 = x.double().numpy()
        got = evaluate(case, x)
        assert got.dtype == dtype
        got = got.double().numpy()
    else:
        with np.errstate(over="ignore"):
            x = np.unique(x64.astype(dtype))
        x64 = x.astype(np.float64)
        got = evaluate(case, x)
        assert got.dtype == dtype
        got = got.astype(np.float64)
    finite = np.isfinite(x64)
    expected = truth(*case, x64[finite])
    keep = np.abs(expected) <= largest
    error = low_precision_ulps(got[finite][keep], expected[keep], bits, emin)
    assert error.max() <= 0.5 + 1e-6, f"{error.max()} ulp at x={x64[finite][keep][error.argmax()]!r}"

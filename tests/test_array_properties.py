"""Properties of relukit.array checked with hypothesis (thousands of examples per property)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.cases import CASES

import relukit.array as ra

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
anything = st.floats(allow_nan=True, allow_infinity=True)
MONOTONE = [
    c
    for c in CASES
    if c[0] in {"relu", "relu6", "hardtanh", "leaky_relu", "rrelu", "elu", "celu", "selu", "softplus", "threshold"}
    and c[1].get("value", -1e9) <= c[1].get("threshold", 0)
]
KINKS = {
    "relu": [0.0],
    "relu6": [0.0, 6.0],
    "hardtanh": [-1.0, 1.0, -0.5, 2.0],
    "threshold": [0.5, 0.0],
    "rectify": [0.0, 5.0, 6.0, -1.0, 1.0],
    "leaky_relu": [0.0],
    "rrelu": [0.0],
    "prelu": [0.0],
    "elu": [0.0],
    "celu": [0.0],
    "selu": [0.0],
    "softplus": [20.0, 5.0],
}  # softplus: linear beyond threshold


@given(anything)
def test_relu_idempotent(x):
    a, b = ra.relu(ra.relu(x)), ra.relu(x)
    assert a == b or (math.isnan(a) and math.isnan(b))


@given(st.floats(allow_nan=False))
def test_relu_odd_decomposition(x):
    assert ra.relu(x) - ra.relu(-x) == x


@given(anything)
def test_leaky_relu_with_unit_slope_is_identity(x):
    y = ra.leaky_relu(x, 1.0)
    assert y == x or (math.isnan(y) and math.isnan(x))


@given(anything)
def test_relu_matches_max_oracle(x):
    assume(not math.isnan(x))
    assert ra.relu(x) == max(0, x)


@given(st.sampled_from(MONOTONE), finite, finite)
def test_monotone_members(case, a, b):
    name, params = case
    low, high = min(a, b), max(a, b)
    f = getattr(ra, name)
    assert f(low, **params) <= f(high, **params)


@given(st.sampled_from(CASES), st.floats(min_value=-30, max_value=30, allow_nan=False))
def test_derivative_is_central_difference(case, x):
    name, params = case
    h = 1e-6
    assume(all(abs(x - k) > 1e3 * h for k in KINKS.get(name, [])))
    f = getattr(ra, name)
    numeric = (f(x + h, **params) - f(x - h, **params)) / (2 * h)
    analytic = getattr(ra, f"{name}_derivative")(x, **params)
    assert math.isclose(analytic, numeric, rel_tol=1e-5, abs_tol=1e-6), (analytic, numeric)


@given(st.lists(st.floats(min_value=-50, max_value=50, allow_nan=False), min_size=1, max_size=64))
def test_prelu_weight_derivative_is_central_difference(values):
    x = np.array(values)
    h = 1e-6
    numeric = (ra.prelu(x, 0.25 + h) - ra.prelu(x, 0.25 - h)) / (2 * h)
    np.testing.assert_allclose(ra.prelu_weight_derivative(x, 0.25), numeric, rtol=1e-6, atol=1e-8)

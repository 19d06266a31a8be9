"""Few-bit derivative tables: optimality against independent methods and closed forms, codes, bad input."""

from __future__ import annotations

import itertools
import math

import array_api_compat.numpy as xp_numpy
import numpy as np
import pytest
from scipy import integrate, optimize

import relukit
from relukit import catalog, fewbit
from relukit.fewbit import fewbit_table

SMOOTH = ("elu", "celu", "selu", "gelu", "silu", "mish", "softplus")


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def density(x):
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi)


def exact_derivative(member: str, **params):
    entry = catalog.BY_NAME[member]
    bound = entry.bind("test", params)
    return lambda x: entry.derivative(np.asarray(x, dtype=np.float64), xp_numpy, **bound)


def quad_moments(fprime, low: float, high: float, kinks=()) -> tuple[float, float, float]:
    """(W, M, Q) = integrals of (1, f', f'^2) phi over [low, high] by adaptive Gauss-Kronrod (QUADPACK)."""
    points = [k for k in kinks if low < k < high] or None
    out = []
    for power in range(3):
        value, _ = integrate.quad(
            lambda x: float(fprime(x)) ** power * float(density(x)),
            low, high, points=points, epsabs=1e-15, epsrel=1e-13, limit=200,
        )  # fmt: skip
        out.append(value)
    return tuple(out)


def quad_error(fprime, boundaries, kinks=()) -> tuple[np.ndarray, float]:
    """Conditional means and their squared error for the given boundaries, by quad on each interval."""
    edges = [-12.0, *boundaries, 12.0]
    moments = np.array([quad_moments(fprime, a, b, kinks) for a, b in zip(edges, edges[1:])])
    w, m, q = moments.T
    return m / w, float(np.sum(q - m * m / w))


# ----------------------------------------------------------------------------------------------
# Closed forms (1 bit)
# ----------------------------------------------------------------------------------------------
def test_gelu_one_bit_matches_closed_form():
    # f' = Phi + x phi and f'(x) + f'(-x) = 1, so the cut is at 0; E[Phi phi; x > 0] = 3/8,
    # E[x phi^2; x > 0] = 1/(4 pi); E[f'^2] = 1/3 + 2 / (3 pi sqrt 3).
    table = fewbit_table("gelu", bits=1)
    low, high = 0.25 - 1 / (2 * math.pi), 0.75 + 1 / (2 * math.pi)
    error = 1 / 3 + 2 / (3 * math.pi * math.sqrt(3)) - 0.5 * (low**2 + high**2)
    # The error is flat to float64 precision within ~1e-8 of the optimum: boundaries and levels to ~1e-8.
    assert table.boundaries[0] == pytest.approx(0.0, abs=1e-7)
    assert table.levels == pytest.approx((low, high), abs=1e-8)
    assert table.rms_error == pytest.approx(math.sqrt(error), rel=1e-10)
    assert table.derivative_rms == pytest.approx(math.sqrt(1 / 3 + 2 / (3 * math.pi * math.sqrt(3))), rel=1e-12)


def test_softplus_one_bit_is_symmetric_with_sigmoid_means():
    import mpmath

    table = fewbit_table("softplus", bits=1)
    upper = 2 * mpmath.quad(lambda x: mpmath.npdf(x) / (1 + mpmath.exp(-x)), [0, mpmath.inf])
    assert table.boundaries[0] == pytest.approx(0.0, abs=1e-7)
    assert table.levels == pytest.approx((1 - float(upper), float(upper)), abs=1e-8)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 0.5])
def test_elu_one_bit_matches_closed_form_minimum(alpha):
    # f' = alpha e^x (x <= 0), 1 (x > 0); E[e^x; x < b] = e^(1/2) Phi(b - 1), E[e^2x; x < 0] = e^2 Phi(-2);
    # error(b) = E[f'^2] - M_1^2 / W_1 - M_2^2 / W_2 with the means of the two sides of b <= 0.
    def error(b: float) -> float:
        w1, m1 = normal_cdf(b), alpha * math.exp(0.5) * normal_cdf(b - 1)
        m = alpha * math.exp(0.5) * normal_cdf(-1) + 0.5
        q = alpha**2 * math.exp(2) * normal_cdf(-2) + 0.5
        return q - m1 * m1 / w1 - (m - m1) ** 2 / (1 - w1)

    best = optimize.minimize_scalar(error, bounds=(-4.0, 0.0), method="bounded", options={"xatol": 1e-10})
    table = fewbit_table("elu", bits=1, alpha=alpha)
    assert table.boundaries[0] == pytest.approx(best.x, abs=1e-6)
    assert table.rms_error**2 == pytest.approx(best.fun, rel=1e-9)


# ----------------------------------------------------------------------------------------------
# Optimality against independent methods
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("member", ["elu", "gelu", "silu", "mish", "softplus"])
@pytest.mark.parametrize("bits", [1, 2])
def test_brute_force_on_a_grid_does_no_better(member, bits):
    # Every choice of boundaries from a 0.05 grid on [-3, 3], moments by cumulative Simpson (h = 1e-3).
    x = np.linspace(-10.0, 10.0, 20001)
    fprime = exact_derivative(member)(x)
    cumulative = np.stack(
        [integrate.cumulative_simpson(f * density(x), x=x, initial=0.0) for f in (np.ones_like(x), fprime, fprime**2)]
    )
    index = np.flatnonzero(np.isclose(np.round(x / 0.05) * 0.05, x) & (np.abs(x) <= 3.0 + 1e-9))
    combos = np.array(list(itertools.combinations(index, (1 << bits) - 1)))
    edges = np.concatenate([np.zeros((len(combos), 1), int), combos, np.full((len(combos), 1), len(x) - 1)], axis=1)
    w, m, q = np.diff(cumulative[:, edges], axis=2)
    errors = np.sum(q - m * m / w, axis=1)
    table = fewbit_table(member, bits=bits)
    assert table.rms_error**2 <= errors.min() + 1e-12
    assert errors.min() <= table.rms_error**2 * 1.01
    np.testing.assert_allclose(x[combos[np.argmin(errors)]], table.boundaries, atol=0.05)


@pytest.mark.parametrize(
    ("member", "params", "kinks"),
    [
        ("gelu", {}, ()),
        ("silu", {}, ()),
        ("mish", {}, ()),
        ("selu", {}, (0.0,)),
        ("softplus", {"threshold": 1.0}, (1.0,)),
    ],
)
def test_levels_are_conditional_means_and_no_boundary_move_helps(member, params, kinks):
    table = fewbit_table(member, bits=3, **params)
    fprime = exact_derivative(member, **params)
    levels, error = quad_error(fprime, table.boundaries, kinks)
    np.testing.assert_allclose(table.levels, levels, rtol=1e-9, atol=1e-12)
    assert table.rms_error**2 == pytest.approx(error, rel=1e-9)
    for j, delta in itertools.product(range(len(table.boundaries)), (-1e-3, 1e-3)):
        moved = list(table.boundaries)
        moved[j] += delta
        assert quad_error(fprime, moved, kinks)[1] >= error * (1 - 1e-12), (j, delta)


@pytest.mark.parametrize("member", ["gelu", "silu", "mish", "softplus", "elu"])
def test_a_lloyd_max_step_does_not_move_the_boundaries(member):
    # Independent refinement: levels by quad, then each boundary at the root of f'(b) = mean of its levels.
    table = fewbit_table(member, bits=3)
    fprime = exact_derivative(member)
    levels, _ = quad_error(fprime, table.boundaries, (0.0,) if member == "elu" else ())
    for j, b in enumerate(table.boundaries):
        target = (levels[j] + levels[j + 1]) / 2
        root = optimize.brentq(lambda x: float(fprime(x)) - target, b - 0.05, b + 0.05, xtol=1e-14)
        assert root == pytest.approx(b, abs=1e-6), j


@pytest.mark.parametrize("member", SMOOTH)
def test_boundaries_increase_and_error_falls_with_bits(member):
    tables = [fewbit_table(member, bits=bits) for bits in range(1, 6)]
    for table in tables:
        assert len(table.boundaries) == (1 << table.bits) - 1 and len(table.levels) == 1 << table.bits
        assert np.all(np.diff(table.boundaries) > 0)
    errors = [t.rms_error for t in tables]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    # A piecewise-constant fit with twice the steps has about half the error (rms ~ 1/K for smooth f').
    assert all(0.4 < b / a < 0.6 for a, b in zip(errors[2:], errors[3:]))
    assert tables[0].rms_error < tables[0].derivative_rms


def test_eight_bits_are_accepted():
    table = fewbit_table("softplus", bits=8)
    assert len(table.levels) == 256 and np.all(np.diff(table.boundaries) > 0)
    assert 0.45 < table.rms_error / fewbit_table("softplus", bits=7).rms_error < 0.55


# ----------------------------------------------------------------------------------------------
# Reproducibility, parameters, bad input
# ----------------------------------------------------------------------------------------------
def test_tables_are_reproducible_and_cached():
    first = fewbit_table("mish", bits=3)
    assert fewbit_table("mish", 3) is first
    fewbit._solve.cache_clear()
    again = fewbit_table("mish", bits=3)
    assert again is not first and again == first  # bit for bit


def test_aliases_and_parameters():
    assert fewbit_table("swish", bits=2) == fewbit_table("silu", bits=2)
    assert fewbit_table("elu", bits=2, alpha=1) is fewbit_table("elu", bits=2, alpha=1.0)
    assert fewbit_table("celu", bits=2).levels == pytest.approx(fewbit_table("elu", bits=2).levels, rel=1e-12)
    tanh = fewbit_table("gelu", bits=3, approximate="tanh")
    assert tanh.params == (("approximate", "tanh"),) and tanh != fewbit_table("gelu", bits=3)
    assert tanh.rms_error == pytest.approx(fewbit_table("gelu", bits=3).rms_error, rel=1e-2)
    assert relukit.fewbit_table is fewbit_table


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("gelu", 0), {}, ValueError, "fewbit_table: bits must be in 1..8, got 0"),
        (("gelu", 9), {}, ValueError, "fewbit_table: bits must be in 1..8, got 9"),
        (("gelu", 2.0), {}, TypeError, "fewbit_table: bits must be an int in 1..8, got 2.0"),
        (("gelu", True), {}, TypeError, "fewbit_table: bits must be an int in 1..8, got True"),
        (("gelu", "3"), {}, TypeError, "fewbit_table: bits must be an int in 1..8, got '3'"),
        (("relu", 3), {}, ValueError, "fewbit_table: relu is piecewise-linear"),
        (("leaky", 1), {}, ValueError, "fewbit_table: leaky_relu is piecewise-linear.*member='leaky'"),
        (("prelu", 3), {}, ValueError, "fewbit_table: prelu is piecewise-linear"),
        (("nope", 3), {}, ValueError, "unknown activation 'nope'"),
        (("elu", 3), {"alpha": math.nan}, ValueError, "fewbit_table: alpha must be finite, got nan"),
        (("gelu", 3), {"approximate": "fast"}, ValueError, "fewbit_table: approximate must be 'none' or 'tanh'"),
        (("silu", 3), {"beta": 2.0}, TypeError, r"fewbit_table: unexpected argument\(s\) \['beta'\]"),
    ],
)
def test_bad_input(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        fewbit_table(*args, **kwargs)


# ----------------------------------------------------------------------------------------------
# Codes and the approximate derivative
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 3, 4])
def test_codes_count_the_boundaries_below(bits):
    table = fewbit_table("gelu", bits=bits)
    x = np.concatenate([np.random.default_rng(0).normal(size=1000), table.boundaries, [-np.inf, np.inf]])
    codes = table.codes(x)
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    np.testing.assert_array_equal(codes, np.searchsorted(table.boundaries, x, side="left"))
    np.testing.assert_array_equal(table.derivative(x), np.asarray(table.levels)[codes])


def test_nan_takes_the_top_code_and_boundaries_the_lower():
    table = fewbit_table("selu", bits=2)
    x = np.array([math.nan, table.boundaries[0], np.nextafter(table.boundaries[0], 1), 0.0, -0.0])
    assert table.codes(x).tolist() == [3, 0, 1, 2, 2]  # selu's boundary at 0: x = 0 gets the x <= 0 level
    assert table.derivative(np.array([math.nan]))[0] == table.levels[-1]


def test_codes_and_derivative_in_torch_and_array_api_strict():
    import array_api_strict
    import torch

    table = fewbit_table("mish", bits=3)
    x = np.random.default_rng(1).normal(size=(4, 50))
    expected = table.codes(x)
    t = torch.from_numpy(x)
    assert table.codes(t).dtype == torch.uint8
    np.testing.assert_array_equal(table.codes(t).numpy(), expected)
    assert table.derivative(t.float()).dtype == torch.float32
    np.testing.assert_array_equal(table.derivative(t).numpy(), table.derivative(x))
    strict = array_api_strict.asarray(x)
    np.testing.assert_array_equal(np.asarray(table.codes(strict)), expected)
    np.testing.assert_array_equal(np.asarray(table.derivative(strict)), table.derivative(x))


def test_codes_of_float32_compare_in_float32():
    table = fewbit_table("silu", bits=2)
    x = np.array(table.boundaries, dtype=np.float32)
    expected = np.searchsorted(np.float32(table.boundaries), x, side="left")
    np.testing.assert_array_equal(table.codes(x), expected)
    assert table.derivative(x).dtype == np.float32


def test_format_lists_every_code():
    text = str(fewbit_table("gelu", bits=2))
    assert text.startswith("gelu(approximate='none') 2-bit derivative table: rms error 0.08945")
    assert len(text.splitlines()) == 2 + 4 and "-inf" in text and " inf " in text + " "

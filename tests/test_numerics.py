"""The stored constants of relukit.numerics and relukit.formulas against mpmath, and the building blocks."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from tests.mpmath_reference import FUNCTIONS

from relukit import formulas, numerics

mp.mp.dps = 50


def exact(pair):
    return mp.mpf(pair[0]) + mp.mpf(pair[1])


def test_mills_ratio_at_the_centers():
    for i, value in enumerate(numerics.MILLS_AT_CENTERS):
        c = mp.mpf(0.125 + 0.25 * i)
        mills = mp.erfc(c / mp.sqrt(2)) / 2 / (mp.exp(-c * c / 2) / mp.sqrt(2 * mp.pi))
        assert value == float(mills)


@pytest.mark.parametrize(
    ("name", "member", "params"),
    [
        ("GELU_ROOT", "gelu", ()),
        ("GELU_TANH_ROOT", "gelu", (("approximate", "tanh"),)),
        ("SILU_ROOT", "silu", ()),
        ("MISH_ROOT", "mish", ()),
    ],
)
def test_roots_in_double_double(name, member, params):
    root = exact(getattr(formulas, name))
    derivative = FUNCTIONS[(member, params)][1]
    true_root = mp.findroot(derivative, root)
    assert abs(root - true_root) < mp.mpf(2) ** -104


def test_constants_in_double_double():
    assert abs(exact(formulas.GELU_TANH_K) - 2 * mp.sqrt(2 / mp.pi)) < mp.mpf(2) ** -104
    assert abs(exact(numerics.LN2) - mp.log(2)) < mp.mpf(2) ** -104
    assert float(1 / mp.sqrt(2 * mp.pi)) == numerics.INV_SQRT_2PI


def test_two_prod_and_two_sum_are_exact():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=200) * 1e3, rng.normal(size=200)
    p, e = numerics.two_prod(a, b)
    s, f = numerics.two_sum(a, b)
    for i in range(200):
        assert mp.mpf(p[i]) + mp.mpf(e[i]) == mp.mpf(a[i]) * mp.mpf(b[i])
        assert mp.mpf(s[i]) + mp.mpf(f[i]) == mp.mpf(a[i]) + mp.mpf(b[i])


def test_normal_tail_is_relative_accurate_over_its_range():
    t = np.concatenate([np.linspace(0, 38, 3001), [2.9999999999999996, 3.0]])
    got = numerics.normal_tail(t, np)
    expected = np.array([float(mp.erfc(mp.mpf(v) / mp.sqrt(2)) / 2) for v in t])
    normal = expected >= np.finfo(np.float64).tiny
    assert np.max(np.abs(got - expected)[normal] / np.spacing(expected[normal])) <= 4

"""float64 truth for the smooth members: their definitions evaluated in mpmath at 50 digits.

Written from the textbook formulas (erfc, exp, log1p, tanh), not from relukit's code, and shared by
tests/test_formulas.py and benchmarks/accuracy.py.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

mp.mp.dps = 50
_K = mp.sqrt(2 / mp.pi)
_C = mp.mpf("0.044715")


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def _normal_cdf(x):
    if abs(x) > 1e3:  # mpmath's erfc overflows near 1e300; the tail is below 1e-200000 here
        return mp.mpf(x > 0)
    return mp.erfc(-x / mp.sqrt(2)) / 2


def _normal_pdf(x):
    return mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)


def _elu(x, alpha=1, scale=1):
    return scale * (x if x > 0 else alpha * mp.expm1(x))


def _elu_d(x, alpha=1, scale=1):
    return scale * (1 if x > 0 else alpha * mp.exp(x))


def _tanh_gelu(x):
    return x * _sigmoid(2 * _K * (x + _C * x**3))


def _tanh_gelu_d(x):
    s = _sigmoid(2 * _K * (x + _C * x**3))
    return s + x * s * (1 - s) * 2 * _K * (1 + 3 * _C * x * x)


def _softplus(x):
    return x if x > 20 else mp.log1p(mp.exp(x))  # torch's threshold=20 is part of the definition


def _mish(x):
    return x * mp.tanh(mp.log1p(mp.exp(x)))


def _mish_d(x):
    t = mp.tanh(mp.log1p(mp.exp(x)))
    return t + x * (1 - t * t) * _sigmoid(x)


SELU_ALPHA = mp.mpf("1.6732632423543772848170429916717")
SELU_SCALE = mp.mpf("1.0507009873554804934193349852946")

# (member, params) -> (value, derivative) as functions of an mpf
FUNCTIONS = {
    ("elu", ()): (_elu, _elu_d),
    ("celu", ()): (_elu, _elu_d),  # alpha = 1
    ("celu", (("alpha", 2.0),)): (
        lambda x: x if x > 0 else 2 * mp.expm1(x / 2),
        lambda x: 1 if x > 0 else mp.exp(x / 2),
    ),
    ("selu", ()): (lambda x: _elu(x, SELU_ALPHA, SELU_SCALE), lambda x: _elu_d(x, SELU_ALPHA, SELU_SCALE)),
    ("gelu", ()): (lambda x: x * _normal_cdf(x), lambda x: _normal_cdf(x) + x * _normal_pdf(x)),
    ("gelu", (("approximate", "tanh"),)): (_tanh_gelu, _tanh_gelu_d),
    ("silu", ()): (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    ("mish", ()): (_mish, _mish_d),
    ("softplus", ()): (_softplus, lambda x: 1 if x > 20 else _sigmoid(x)),
}
ROOTS = {
    "gelu": -0.7517915246935645,
    "gelu_tanh": -0.7524614220710163,
    "silu": -1.2784645427610737,
    "mish": -1.1924312145154952,
}


def truth(member: str, params: tuple, derivative: bool, x: np.ndarray) -> np.ndarray:
    """The float64 value (correctly rounded from 50 digits) at each float64 x."""
    function = FUNCTIONS[(member, params)][int(derivative)]
    return np.array([float(function(mp.mpf(float(v)))) for v in x])


def grid(points: int = 2001) -> np.ndarray:
    """A dense grid over [-40, 40], tails and special points, points around each derivative root."""
    dense = np.linspace(-40.0, 40.0, points)
    near_zero = np.concatenate([np.geomspace(1e-300, 1e-1, 60), -np.geomspace(1e-300, 1e-1, 60)])
    special = np.array([0.0, -1e4, 1e4, -1e300, 1e300, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 3.0, -3.0, -3.54, -3.14])
    roots = np.array(list(ROOTS.values()))
    offsets = np.concatenate([np.geomspace(1e-7, 0.5, 40), -np.geomspace(1e-7, 0.5, 40)])
    rng = np.random.default_rng(0)
    random = rng.uniform(-40, 40, 1000)
    return np.unique(np.concatenate([dense, near_zero, special, (roots[:, None] + offsets).ravel(), random]))


def ulp_error(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| in ulps of expected (NaN where expected is not a normal float64)."""
    normal = np.isfinite(expected) & (np.abs(expected) >= np.finfo(np.float64).tiny)
    spacing = np.spacing(np.where(normal, np.abs(expected), 1.0))
    return np.where(normal, np.abs(got - expected) / spacing, np.nan)


def low_precision_ulps(got: np.ndarray, expected: np.ndarray, bits: int, emin: int) -> np.ndarray:
    """|got - truth| in ulps of a format with ``bits`` significand bits at the truth (subnormal spacing
    below 2^emin)."""
    exponent = np.floor(np.log2(np.maximum(np.abs(expected), 2.0**emin)))
    return np.abs(got - expected) / 2.0 ** (exponent - bits + 1)

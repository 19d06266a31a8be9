"""Accurate float64 building blocks of the smooth members (:mod:`relukit.formulas`), in the array API.

* **Double-double products** (Dekker 1971): ``x**2`` and the tanh-GELU argument ``2u`` keep their rounding
  error, so ``exp(-x**2 / 2)`` and ``exp(-|2u|)`` are accurate to ~1 ulp even where the exponent is large
  (a rounded exponent of size E would cost ~E ulp).
* **The normal tail** ``Q(t) = 1 - Phi(t) = phi(t) R(t)`` with R the Mills ratio: on [0, 3) a Taylor series
  of R about the nearest of 12 centers (coefficients from the ODE R' = t R - 1, started from R at each
  center), beyond it Laplace's continued fraction R(t) = 1/(t + 1/(t + 2/(t + ...))). Neither subtracts
  nearly equal numbers, so Q is accurate to a few ulp everywhere, where ``1 - erf`` is not.
* **Series about a root of a derivative** (gelu', silu', mish' cross zero): near a simple root r the
  textbook formula cancels (relative error ~ eps / |x - r|). There relukit evaluates ``sum_k c_k d^k``
  with ``d = (x - r_hi) - r_lo``; the coefficients are generated at import by power-series arithmetic from
  the member's own formula, the root is stored in double-double. tests/test_numerics.py checks the stored
  numbers (roots, R at the centers) against mpmath.
"""

from __future__ import annotations

import math
from fractions import Fraction

from array_api_compat import device

# ----------------------------------------------------------------------------------------------
# Double-double arithmetic (elementwise; no FMA in the array API, hence Dekker's split)
# ----------------------------------------------------------------------------------------------
_SPLIT = 134217729.0  # 2**27 + 1


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    """(p, e) with p = fl(a b) and p + e = a b exactly (|a|, |b| <= ~1e150)."""
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def two_sum(a, b):
    """(s, e) with s = fl(a + b) and s + e = a + b exactly."""
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


def dd_mul(a_hi, a_lo, b_hi, b_lo):
    p, e = two_prod(a_hi, b_hi)
    e = e + (a_hi * b_lo + a_lo * b_hi)
    s = p + e
    return s, e - (s - p)


def dd_constant(value: Fraction | float) -> tuple[float, float]:
    """(hi, lo) of an exact rational: a constant in double-double."""
    hi = float(value)
    return hi, float(Fraction(value) - Fraction(hi))


def exp_dd(hi, lo, xp):
    """e^(hi + lo) for |lo| <= ulp(hi): e^hi (1 + lo)."""
    e = xp.exp(hi)
    return e + e * lo


LN2 = (0.6931471805599453, 2.3190468138462996e-17)  # ln 2 in double-double
UNSCALE = 2.0**-64


def exp_dd_scaled(hi, lo, xp):
    """2^64 e^(hi + lo): a product that is normal keeps all its bits where e^(hi + lo) alone would be
    subnormal (callers multiply by ``UNSCALE`` last). The shift 64 ln 2 is added in double-double."""
    s, e = two_sum(hi, 64.0 * LN2[0])
    return exp_dd(s, (e + lo) + 64.0 * LN2[1], xp)


# ----------------------------------------------------------------------------------------------
# The normal distribution
# ----------------------------------------------------------------------------------------------
BIG = 1e10  # |x| beyond which the tails are exactly 0 or 1 in float64; keeps the split finite
INV_SQRT_2PI = 0.3989422804014327
_STEP, _CENTERS, _TERMS = 0.25, 12, 24
# R(0.125 + 0.25 i), i = 0..11, correctly rounded (mpmath; checked in tests/test_numerics.py)
MILLS_AT_CENTERS = (
    1.1374909212036046,
    0.9515271920712067,
    0.8105337152790304,
    0.7012808218544301,
    0.6149545961509297,
    0.545542135658217,
    0.48885044152757373,
    0.44189573283260003,
    0.4025146181296721,
    0.3691112106902634,
    0.3404893532870847,
    0.31573921586941,
)


def mills_taylor(center: float, value: float, terms: int) -> list[float]:
    """Taylor coefficients of R about ``center`` from R' = t R - 1: (k+1) a_(k+1) = c a_k + a_(k-1) - [k=0]."""
    a = [value, center * value - 1.0]
    for k in range(1, terms - 1):
        a.append((center * a[k] + a[k - 1]) / (k + 1))
    return a


_MILLS_TABLE = [mills_taylor(_STEP * (i + 0.5), MILLS_AT_CENTERS[i], _TERMS) for i in range(_CENTERS)]


def normal_pdf_scaled(x, xp):
    """2^64 phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi): the exponent in double-double (|x| clipped at BIG)."""
    b = xp.clip(x, -BIG, BIG)
    p, e = two_prod(b, b)
    return exp_dd_scaled(-0.5 * p, -0.5 * e, xp) * INV_SQRT_2PI


def mills_ratio(t, xp):
    """R(t) = Q(t) / phi(t) for t >= 0: Taylor series about the nearest center below 3, continued fraction
    (50 terms) from 3 on."""

    near = xp.where(t < _CENTERS * _STEP, t, 0.0)  # NaN and large t pick center 0 (their value is unused)
    index = xp.astype(xp.clip(xp.floor(near / _STEP), 0, _CENTERS - 1), xp.int64)
    flat = xp.reshape(index, (-1,))
    table = xp.asarray(_MILLS_TABLE, dtype=t.dtype, device=device(t))
    d = near - (xp.astype(index, t.dtype) + 0.5) * _STEP
    series = xp.zeros_like(t)
    for k in range(_TERMS - 1, -1, -1):
        series = series * d + xp.reshape(xp.take(table[:, k], flat, axis=0), t.shape)
    c = xp.clip(t, _CENTERS * _STEP, BIG)
    fraction = c
    for k in range(50, 0, -1):
        fraction = c + k / fraction
    return xp.where(t < _CENTERS * _STEP, series, 1.0 / fraction)


def normal_tail(t, xp):
    """Q(t) = 1 - Phi(t) = phi(t) R(t) for t >= 0, to a few ulp (0 beyond t ~ 38.6, where it underflows)."""
    return (normal_pdf_scaled(t, xp) * mills_ratio(t, xp)) * UNSCALE


# ----------------------------------------------------------------------------------------------
# Power series (Python floats, at import) and the series of a derivative about its root
# ----------------------------------------------------------------------------------------------
def series_mul(a: list[float], b: list[float]) -> list[float]:
    return [math.fsum(a[j] * b[k - j] for j in range(k + 1)) for k in range(len(a))]


def series_div(a: list[float], b: list[float]) -> list[float]:
    q: list[float] = []
    for k in range(len(a)):
        q.append((a[k] - math.fsum(q[j] * b[k - j] for j in range(k))) / b[0])
    return q


def series_exp(a: list[float]) -> list[float]:
    """exp of a series: y' = a' y, so k y_k = sum_j j a_j y_(k-j)."""
    y = [math.exp(a[0])]
    for k in range(1, len(a)):
        y.append(math.fsum(j * a[j] * y[k - j] for j in range(1, k + 1)) / k)
    return y


def series_derivative(a: list[float]) -> list[float]:
    return [(k + 1) * a[k + 1] for k in range(len(a) - 1)] + [0.0]


def series_x(r: float, n: int) -> list[float]:
    """The series of x itself about r."""
    return [r, 1.0] + [0.0] * (n - 2)


def series_const(value: float, n: int) -> list[float]:
    return [value] + [0.0] * (n - 1)


def series_add(*terms: list[float]) -> list[float]:
    return [math.fsum(column) for column in zip(*terms)]


def series_scale(a: list[float], factor: float) -> list[float]:
    return [factor * v for v in a]


ROOT_TERMS = 40
ROOT_WINDOW = 0.75  # |x - r| below which the root series replaces the formula


def near_root(x, xp, root: tuple[float, float], coefficients: list[float], formula):
    """``formula`` away from the root; ``sum_(k>=1) c_k d^k``, d = (x - r_hi) - r_lo, within ROOT_WINDOW of
    it. c_0 is 0 by the definition of r; x - r_hi is exact there (Sterbenz)."""
    d = (x - root[0]) - root[1]
    d = xp.where(xp.abs(d) < ROOT_WINDOW, d, 0.0)  # far points: no overflow in the unused series
    series = xp.zeros_like(x)
    for c in reversed(coefficients[1:]):
        series = (series + c) * d
    return xp.where(d != 0, series, formula)

"""Reference formulas of the ReLU family, written once against the array API (``xp`` is the array's
namespace). :mod:`relukit.catalog` binds them to names and parameters; nothing else should hold a formula.
Each is named after its member: ``leaky_relu`` (forward), ``leaky_relu_derivative``, ``leaky_relu_codes`` and
``leaky_relu_slopes`` (derivative codes), ``leaky_relu_torch`` (torch's eager forward, where it differs).

They run in the input's dtype for piecewise-linear members (exact there) and in float64 for smooth
members (see ``relukit.array``), so constants and overflow guards are chosen for float64. Piecewise-linear
members also define their derivative *codes*: the region of each element, decided by torch's own backward
condition at kinks and at NaN.
"""

from __future__ import annotations

from fractions import Fraction

from relukit import numerics as nm
from relukit.numerics import BIG  # |x| beyond which x**2, x**3 would overflow needlessly; results saturate

# SELU constants (Klambauer et al. 2017), as in torch.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_COEF = 0.044715
# 2 sqrt(2/pi) in double-double (mpmath; checked in tests/test_numerics.py): tanh-GELU's 2u = K x (1 + c x^2)
GELU_TANH_K = (1.5957691216057308, -9.96930880911092e-17)
_GELU_TANH_C = nm.dd_constant(Fraction("0.044715"))  # the decimal constant itself, not its float64
# Roots of the derivatives in double-double (mpmath; checked in tests/test_numerics.py)
GELU_ROOT = (-0.7517915246935645, 1.4956759177009883e-17)
GELU_TANH_ROOT = (-0.7524614220710163, 3.635560509207687e-17)
SILU_ROOT = (-1.2784645427610737, -1.0946994183093437e-16)
MISH_ROOT = (-1.1924312145154952, -4.8484829848031044e-17)


def sigmoid(x, xp):
    """1 / (1 + e^-x) from e = e^(-|x|), which never overflows: ~1.5 ulp."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def cases(xp, *conditions_and_values):
    """``xp.where`` chain: (c1, v1, c2, v2, ..., otherwise) -> value of the first true condition."""
    *pairs, out = conditions_and_values
    for condition, value in reversed(list(zip(pairs[::2], pairs[1::2]))):
        out = xp.where(condition, value, out)
    return out


def relu(x, xp):
    return xp.where(x <= 0, 0, x)


def relu_torch(x, xp):
    return xp.where(x < 0, 0, x)  # torch clamp_min(x, 0): -0.0 and NaN pass


def relu_codes(x, xp):
    return ~(x <= 0)  # torch threshold_backward(grad, y, 0): NaN passes


def relu_slopes(**_):
    """The two regions of relu, relu6, hardtanh and threshold: stopped (0) and passed (1)."""
    return (0.0, 1.0)


def relu6(x, xp):
    return hardtanh(x, xp, 0, 6)


def relu6_codes(x, xp):
    return hardtanh_codes(x, xp, 0, 6)


def hardtanh(x, xp, min_val=-1.0, max_val=1.0):
    return cases(xp, x < min_val, min_val, x > max_val, max_val, x)


def hardtanh_codes(x, xp, min_val=-1.0, max_val=1.0):
    # torch hardtanh_backward: grad passes where min_val < x < max_val. At NaN torch's CPU kernel is
    # inconsistent (its vectorized body gives 0, its scalar tail passes grad); relukit always gives 0.
    return (x > min_val) & (x < max_val)


def threshold(x, xp, threshold, value):
    return xp.where(x <= threshold, value, x)


def threshold_codes(x, xp, threshold, value):
    return ~(x <= threshold)  # torch threshold_backward: NaN passes


def leaky_relu(x, xp, negative_slope=0.01):
    # slope 0 gives 0 at -inf (the limit); torch's kernel computes -inf * 0 = NaN there.
    below = 0.0 if negative_slope == 0 else xp.minimum(x, 0) * negative_slope
    return xp.where(x < 0, below, x)


def leaky_relu_torch(x, xp, negative_slope=0.01):
    return xp.where(x > 0, x, x * negative_slope)  # torch leaky_relu: x > 0 ? x : x * slope


def leaky_relu_codes(x, xp, negative_slope=0.01):
    return x > 0  # torch leaky_relu_backward: x > 0 ? grad : grad * slope


def leaky_relu_slopes(negative_slope=0.01):
    return (negative_slope, 1.0)


def rrelu_slope(lower, upper):
    """(l + u) / 2: the mean of rrelu's random slope, its slope in eval (Xu et al. 2015)."""
    return (lower + upper) / 2


def rrelu(x, xp, lower, upper):
    return leaky_relu(x, xp, rrelu_slope(lower, upper))


def rrelu_torch(x, xp, lower, upper):
    return leaky_relu_torch(x, xp, rrelu_slope(lower, upper))


def rrelu_codes(x, xp, lower, upper):
    return leaky_relu_codes(x, xp)


def rrelu_slopes(lower, upper):
    return leaky_relu_slopes(rrelu_slope(lower, upper))


def rectify(x, xp, negative_slope=0.0, max_value=None, threshold=0.0):
    # Keras 3 ReLU.static_call: clip(x [x > t], 0, m) - s relu(t - x). With a max_value the clip's lower
    # bound 0 applies too, so for threshold < 0 the interval (t, 0] maps to 0; without one it keeps x.
    above = x if max_value is None else xp.clip(x, 0.0, max_value)
    below = 0.0 if negative_slope == 0 else (xp.minimum(x, threshold) - threshold) * negative_slope
    return xp.where(x <= threshold, below, above)  # NaN is not <= threshold: it stays NaN


def rectify_codes(x, xp, negative_slope=0.0, max_value=None, threshold=0.0):
    linear = ~(x <= threshold)  # NaN counts as linear, as in torch's relu/threshold backward
    if max_value is None:
        return linear
    clipped = (x >= max_value) | (x <= 0)  # x <= 0 only matters for threshold < 0: (t, 0] is clipped to 0
    if negative_slope == 0:
        return linear & ~clipped
    return xp.astype(linear, xp.uint8) + xp.astype(linear & clipped, xp.uint8)


def rectify_slopes(negative_slope=0.0, max_value=None, threshold=0.0):
    if max_value is None or negative_slope == 0:
        return (negative_slope, 1.0)
    return (negative_slope, 1.0, 0.0)


def elu(x, xp, alpha=1.0, scale=1.0, divisor=1.0):
    """scale (x if x > 0 else alpha expm1(x / divisor)): NumPy's expm1, no cancellation near 0."""
    negative = alpha * xp.expm1(xp.minimum(x, 0) / divisor)
    return scale * xp.where(x > 0, x, negative)


def elu_derivative(x, xp, alpha=1.0, scale=1.0, divisor=1.0):
    # torch elu_backward takes the negative branch at x == 0.
    negative = (alpha / divisor) * xp.exp(xp.minimum(x, 0) / divisor)
    return scale * xp.where(x > 0, 1.0, xp.where(x <= 0, negative, x))


def celu(x, xp, alpha=1.0):
    return elu(x, xp, alpha, 1.0, alpha)  # max(0, x) + min(0, alpha (e^(x/alpha) - 1))


def celu_derivative(x, xp, alpha=1.0):
    return elu_derivative(x, xp, alpha, 1.0, alpha)


def selu(x, xp):
    return elu(x, xp, SELU_ALPHA, SELU_SCALE)


def selu_derivative(x, xp):
    return elu_derivative(x, xp, SELU_ALPHA, SELU_SCALE)


def prelu(x, xp, weight):
    return xp.where(x > 0, x, weight * x)


def prelu_derivative(x, xp, weight):
    return xp.where(x > 0, 1.0, xp.where(x <= 0, weight, x))  # NaN passes as NaN


def leaky_relu_inverse(y, xp, negative_slope=0.01):
    """x from y = leaky_relu(x): y if y > 0 else y / s (exact for s > 0; s <= 0 folds the two branches)."""
    return xp.where(y > 0, y, y / negative_slope)


def elu_inverse(y, xp, alpha=1.0, scale=1.0, divisor=1.0):
    """x from y = elu(x): y / scale if y > 0 else divisor log1p(y / (scale alpha)) (alpha, scale > 0).

    Exact in real arithmetic; in floating point log1p loses digits as y approaches -scale alpha (x far
    below 0), and gives -inf where expm1 has saturated to -1."""
    return xp.where(y > 0, y / scale, divisor * xp.log1p(xp.where(y > 0, 0 * y, y) / (scale * alpha)))


def _gelu_tanh_argument(x, xp):
    """2u = K x (1 + c x^2) in double-double: its rounding error would be |2u| ulp of e^(2u)."""
    p, e = nm.two_prod(x, x)
    c_hi, c_lo = nm.dd_mul(p, e, *_GELU_TANH_C)
    one_hi, one_lo = nm.two_sum(1.0, c_hi)
    inner = nm.dd_mul(one_hi, one_lo + c_lo, x, 0.0)
    return nm.dd_mul(*inner, *GELU_TANH_K)


def _gelu_tanh_parts(x, xp):
    """(x clipped, e = e^-|2u|, 2^64 e, 1 + e, 2u >= 0), e from the double-double 2u."""
    b = xp.clip(x, -BIG, BIG)
    a_hi, a_lo = _gelu_tanh_argument(b, xp)
    scaled = nm.exp_dd_scaled(-xp.abs(a_hi), xp.where(a_hi >= 0, -a_lo, a_lo), xp)
    e = scaled * nm.UNSCALE
    return b, e, scaled, 1.0 + e, a_hi >= 0


def gelu(x, xp, approximate="none"):
    """x Phi(x) with Phi = 1 - Q(x) or Q(-x) (``numerics.normal_tail``: Mills-ratio series and continued
    fraction, exponent in double-double); 'tanh': x sigmoid(2u), 0.5 (1 + tanh u) without cancellation,
    2u in double-double."""
    low_clipped = xp.maximum(x, -BIG)  # keeps +inf -> +inf, -inf -> -0
    if approximate == "tanh":
        b, e, scaled, one_e, positive = _gelu_tanh_parts(x, xp)
        return xp.where(positive, low_clipped / one_e, (b * (scaled / one_e)) * nm.UNSCALE)
    t = xp.abs(x)
    ratio, density = nm.mills_ratio(t, xp), nm.normal_pdf_scaled(t, xp)
    negative = ((xp.clip(x, -BIG, 0.0) * ratio) * density) * nm.UNSCALE  # x Q(t), no subnormal intermediate
    return xp.where(x < 0, negative, low_clipped * (1.0 - (density * ratio) * nm.UNSCALE))


def gelu_derivative(x, xp, approximate="none"):
    """Phi(x) + x phi(x) = phi(t) (R(t) - t) for x = -t < 0, 1 - phi(t) (R(t) - t) for x = t >= 0 (R: Mills
    ratio); tanh: s + x s (1 - s) 2u'. Near the root (x ~ -0.7518) a series about it (``numerics``)."""
    if approximate == "tanh":
        b, e, scaled, one_e, positive = _gelu_tanh_parts(x, xp)
        slope = GELU_TANH_K[0] * (1.0 + 3.0 * GELU_TANH_COEF * b * b)
        above = 1.0 / one_e + b * (e / (one_e * one_e)) * slope
        below = ((scaled / one_e) * (1.0 + b * slope / one_e)) * nm.UNSCALE
        return nm.near_root(x, xp, GELU_TANH_ROOT, _GELU_TANH_ROOT_SERIES, xp.where(positive, above, below))
    t = xp.clip(xp.abs(x), 0.0, BIG)
    excess = (nm.normal_pdf_scaled(t, xp) * (nm.mills_ratio(t, xp) - t)) * nm.UNSCALE
    return nm.near_root(x, xp, GELU_ROOT, _GELU_ROOT_SERIES, xp.where(x < 0, excess, 1.0 - excess))


def silu(x, xp):
    return xp.maximum(x, -BIG) * sigmoid(x, xp)  # silu(-inf) = 0, not -inf * 0


def silu_derivative(x, xp):
    """sigma(x) (1 + x (1 - sigma(x))); near the root (x ~ -1.2785) a series about it."""
    s = sigmoid(x, xp)
    finite_x = xp.where(xp.isinf(x), 0.0, x)  # the x (1 - s) term vanishes at +-inf
    formula = s * (1.0 + finite_x * sigmoid(-x, xp))
    return nm.near_root(x, xp, SILU_ROOT, _SILU_ROOT_SERIES, formula)


def mish_parts(x, xp):
    # Single exponential: with n = e^x, tanh(softplus(x)) = n(n+2) / (n(n+2) + 2) (Misra 2019).
    # n is formed as q q, q = e^(x/2): see mish. relukit._ops.mish compiles this same code for float32.
    q = xp.exp(xp.minimum(x, 40.0) * 0.5)
    n = q * q
    w = n * (n + 2.0)
    return q, n, w, w / (w + 2.0)


def mish(x, xp):
    # x < 0: x t = (x q) (q r), r = (n+2) / (w+2), so that where n = e^x is subnormal in float32
    # (x < -87) the product is still rounded once, not built from a subnormal factor.
    q, n, w, t = mish_parts(x, xp)
    negative = (xp.clip(x, -BIG, 0.0) * q) * (q * ((n + 2.0) / (w + 2.0)))
    return xp.where(x < 0, negative, xp.maximum(x, -BIG) * t)


def mish_derivative(x, xp):
    """tanh(sp) + x sech^2(sp) sigmoid(x), with sech^2(sp) sigmoid(x) = 4 n (n+1) / (w+2)^2; near the root
    (x ~ -1.1924) a series about it."""
    _, n, w, t = mish_parts(x, xp)
    b = xp.clip(x, -BIG, BIG)
    formula = xp.where(x > 40.0, 1.0, t + 4.0 * b * n * (n + 1.0) / ((w + 2.0) * (w + 2.0)))
    return nm.near_root(x, xp, MISH_ROOT, _MISH_ROOT_SERIES, formula)


def softplus(x, xp, beta=1.0, threshold=20.0):
    """(max(bx, 0) + log1p(e^-|bx|)) / beta, x where beta x > threshold (torch's definition)."""
    bx = x * beta
    smooth = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
    return xp.where(bx > threshold, x, smooth)


def softplus_derivative(x, xp, beta=1.0, threshold=20.0):
    bx = x * beta
    return xp.where(bx > threshold, 1.0, sigmoid(bx, xp))


# Series of each derivative about its root, from the formulas above written as power series.
def _root_series(r: float, f_series) -> list[float]:
    """Taylor coefficients of f' about r, where ``f_series(x, n)`` builds f from the series x of x."""
    n = nm.ROOT_TERMS + 1
    coefficients = nm.series_derivative(f_series(nm.series_x(r, n), n))[: nm.ROOT_TERMS]
    return [0.0, *coefficients[1:]]  # f'(r) = 0 by the definition of r


def _sigmoid_series(a, n):
    one = nm.series_const(1.0, n)
    return nm.series_div(one, nm.series_add(one, nm.series_exp(nm.series_scale(a, -1.0))))


def _gelu_series(x, n):
    r = x[0]
    gaussian = nm.series_scale(nm.series_exp([-0.5 * r * r, -r, -0.5] + [0.0] * (n - 3)), nm.INV_SQRT_2PI)
    cdf = [-r * gaussian[0]] + [gaussian[k] / (k + 1) for k in range(n - 1)]  # Phi(r) = -r phi(r) at the root
    return nm.series_mul(x, cdf)


def _gelu_tanh_series(x, n):
    cubic = nm.series_mul(x, nm.series_mul(x, x))
    argument = nm.series_scale(nm.series_add(x, nm.series_scale(cubic, GELU_TANH_COEF)), sum(GELU_TANH_K))
    return nm.series_mul(x, _sigmoid_series(argument, n))


def _mish_series(x, n):
    e = nm.series_exp(x)
    w = nm.series_mul(e, nm.series_add(e, nm.series_const(2.0, n)))
    return nm.series_mul(x, nm.series_div(w, nm.series_add(w, nm.series_const(2.0, n))))


_GELU_ROOT_SERIES = _root_series(GELU_ROOT[0], _gelu_series)
_GELU_TANH_ROOT_SERIES = _root_series(GELU_TANH_ROOT[0], _gelu_tanh_series)
_SILU_ROOT_SERIES = _root_series(SILU_ROOT[0], lambda x, n: nm.series_mul(x, _sigmoid_series(x, n)))
_MISH_ROOT_SERIES = _root_series(MISH_ROOT[0], _mish_series)


def prelu_weight_derivative(x, xp):
    """d prelu / d weight, elementwise (before the reduction over non-channel axes)."""
    return xp.where(x > 0, 0.0, x)

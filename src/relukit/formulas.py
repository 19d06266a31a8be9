"""Reference formulas of the ReLU family, written once against the array API (``xp`` is the array's
namespace). :mod:`relukit.catalog` binds them to names and parameters; nothing else should hold a formula.

They run in the input's dtype for piecewise-linear members (exact there) and in float64 for smooth
members (see ``relukit.array``), so constants and overflow guards are chosen for float64. Piecewise-linear
members also define their derivative *codes*: the region of each element, decided by torch's own backward
condition at kinks and at NaN.
"""

from __future__ import annotations

import math

# SELU constants (Klambauer et al. 2017), as in torch.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_TANH_COEF = 0.044715
BIG = 1e10  # |x| beyond which x**2, x**3 would overflow float64 needlessly; results saturate here


def sigmoid(x, xp):
    e = xp.exp(-xp.abs(x))  # never overflows
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def cases(xp, *conditions_and_values):
    """``xp.where`` chain: (c1, v1, c2, v2, ..., otherwise) -> value of the first true condition."""
    *pairs, out = conditions_and_values
    for condition, value in reversed(list(zip(pairs[::2], pairs[1::2]))):
        out = xp.where(condition, value, out)
    return out


def erfc(z, xp):
    """erfc in pure array-API float64: Maclaurin series of erf for |z| < 2.5, Laplace continued
    fraction beyond (both to ~1e-14 relative); erfc(-z) = 2 - erfc(z)."""
    a = xp.abs(z)
    s = xp.minimum(a, 2.5)
    term, series = s, s
    for n in range(1, 60):
        term = term * (-(s * s)) / n
        series = series + term / (2 * n + 1)
    small = 1.0 - series * (2.0 / math.sqrt(math.pi))
    c = xp.maximum(a, 2.5)
    tail = c
    for k in range(60, 0, -1):
        tail = c + (k / 2.0) / tail
    large = xp.exp(-(c * c)) / (tail * math.sqrt(math.pi))
    upper = xp.where(a < 2.5, small, large)
    return xp.where(z >= 0, upper, 2.0 - upper)


def phi_cdf(x, xp):
    return 0.5 * erfc(-x / math.sqrt(2.0), xp)


def relu(x, xp):
    return xp.where(x <= 0, 0, x)


def hardtanh(x, xp, min_val=-1.0, max_val=1.0):
    return cases(xp, x < min_val, min_val, x > max_val, max_val, x)


def hardtanh_codes(x, xp, min_val=-1.0, max_val=1.0):
    # torch hardtanh_backward: grad passes where min_val < x < max_val. At NaN torch's CPU kernel is
    # inconsistent (its vectorized body gives 0, its scalar tail passes grad); relukit always gives 0.
    return (x > min_val) & (x < max_val)


def leaky(x, xp, negative_slope=0.01):
    # slope 0 gives 0 at -inf (the limit); torch's kernel computes -inf * 0 = NaN there.
    below = 0.0 if negative_slope == 0 else xp.minimum(x, 0) * negative_slope
    return xp.where(x < 0, below, x)


def leaky_torch(x, xp, negative_slope=0.01):
    return xp.where(x > 0, x, x * negative_slope)  # torch leaky_relu: x > 0 ? x : x * slope


def leaky_codes(x, xp, negative_slope=0.01):
    return x > 0  # torch leaky_relu_backward: x > 0 ? grad : grad * slope


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


def elu(x, xp, alpha=1.0, scale=1.0, input_scale=1.0):
    negative = alpha * xp.expm1(xp.minimum(x, 0) * input_scale)
    return scale * xp.where(x > 0, x, negative)


def elu_derivative(x, xp, alpha=1.0, scale=1.0, input_scale=1.0):
    # torch elu_backward takes the negative branch at x == 0.
    negative = alpha * input_scale * xp.exp(xp.minimum(x, 0) * input_scale)
    return scale * xp.where(x > 0, 1.0, xp.where(x <= 0, negative, x))


def gelu(x, xp, approximate="none"):
    bounded = xp.clip(x, -BIG, BIG)
    low_clipped = xp.maximum(x, -BIG)  # keeps +inf -> +inf, -inf -> 0
    if approximate == "tanh":
        inner = SQRT_2_OVER_PI * (bounded + GELU_TANH_COEF * bounded**3)
        return low_clipped * sigmoid(2.0 * inner, xp)  # 0.5 (1 + tanh u) = sigmoid(2u), no cancellation
    return low_clipped * phi_cdf(bounded, xp)


def gelu_derivative(x, xp, approximate="none"):
    b = xp.clip(x, -BIG, BIG)
    if approximate == "tanh":
        inner = SQRT_2_OVER_PI * (b + GELU_TANH_COEF * b**3)
        s = sigmoid(2.0 * inner, xp)
        d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * b * b)
        return s + b * 2.0 * s * sigmoid(-2.0 * inner, xp) * d_inner
    density = xp.exp(-0.5 * b * b) / math.sqrt(2.0 * math.pi)
    return phi_cdf(b, xp) + b * density


def silu(x, xp):
    return xp.maximum(x, -BIG) * sigmoid(x, xp)  # silu(-inf) = 0, not -inf * 0


def silu_derivative(x, xp):
    s = sigmoid(x, xp)
    finite_x = xp.where(xp.isinf(x), 0.0, x)  # the x (1 - s) term vanishes at +-inf
    return s * (1.0 + finite_x * sigmoid(-x, xp))


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
    # d/dx = tanh(sp) + x sech^2(sp) sigmoid(x), and sech^2(sp) sigmoid(x) = 4 n (n+1) / (w+2)^2.
    _, n, w, t = mish_parts(x, xp)
    b = xp.clip(x, -BIG, BIG)
    return xp.where(x > 40.0, 1.0, t + 4.0 * b * n * (n + 1.0) / ((w + 2.0) * (w + 2.0)))


def softplus(x, xp, beta=1.0, threshold=20.0):
    bx = x * beta
    smooth = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
    return xp.where(bx > threshold, x, smooth)


def softplus_derivative(x, xp, beta=1.0, threshold=20.0):
    bx = x * beta
    return xp.where(bx > threshold, 1.0, sigmoid(bx, xp))


def prelu_weight_derivative(x, xp):
    """d prelu / d weight, elementwise (before the reduction over non-channel axes)."""
    return xp.where(x > 0, 0.0, x)

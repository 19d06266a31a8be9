"""The one definition of every relukit activation.

Each :class:`Activation` holds the name, the parameters with their defaults and checks, the reference
forward and derivative written once against the array API (``xp`` is the array's namespace), and for
the piecewise-linear members their *derivative codes*: a small integer region per element and the
constant derivative of each region. ``relukit.array``, ``relukit.functional``, ``relukit.nn``, the
registry, ONNX export and the docs table are all derived from this module. It imports neither NumPy
nor torch.

Reference formulas run in the input's dtype for piecewise-linear members (they are exact there) and in
float64 for smooth members (see ``relukit.array``), so their constants and overflow guards are chosen
for float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# SELU constants (Klambauer et al. 2017), as in torch.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_COEF = 0.044715
_BIG = 1e10  # |x| beyond which x**2, x**3 would overflow float64 needlessly; results saturate here


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------
def _real(fn: str, arg: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{fn}: {arg} must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{fn}: {arg} must be finite, got {value!r}")
    return number


def finite(fn: str, arg: str, value: Any) -> Any:
    _real(fn, arg, value)
    return value


def nonzero(fn: str, arg: str, value: Any) -> Any:
    if _real(fn, arg, value) == 0:
        raise ValueError(f"{fn}: {arg} must be non-zero, got {value!r}")
    return value


def positive(fn: str, arg: str, value: Any) -> Any:
    if _real(fn, arg, value) <= 0:
        raise ValueError(f"{fn}: {arg} must be > 0, got {value!r}")
    return value


def non_negative(fn: str, arg: str, value: Any) -> Any:
    if _real(fn, arg, value) < 0:
        raise ValueError(f"{fn}: {arg} must be >= 0, got {value!r}")
    return value


def optional_non_negative(fn: str, arg: str, value: Any) -> Any:
    return None if value is None else non_negative(fn, arg, value)


def gelu_approximation(fn: str, arg: str, value: Any) -> Any:
    if value not in ("none", "tanh"):
        raise ValueError(f"{fn}: {arg} must be 'none' or 'tanh', got {value!r}")
    return value


REQUIRED = object()  # default of a parameter that has none (torch's threshold, value)


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    check: Callable[[str, str, Any], Any] = finite


# ----------------------------------------------------------------------------------------------
# The entry
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Activation:
    """One member of the family.

    ``forward(x, xp, **p)`` and ``derivative(x, xp, **p)`` are the reference math. Piecewise-linear
    members leave ``derivative`` out and give ``codes(x, xp, **p)`` and ``slopes(**p)``: the region of
    each element (a bool mask for two regions, uint8 0..2 for three), decided by torch's own backward
    condition at kinks and at NaN, and the constant derivative of each region. Their derivative is
    ``slopes[codes]`` (NaN where x is NaN) and their backward is ``grad * slopes[codes]``, where
    ``backward`` says how a slope-0 region treats the incoming gradient: "select" gives 0 (torch's
    threshold/hardtanh backward), "multiply" gives grad * slope (torch's leaky_relu backward, which
    keeps NaN and the sign of zero).

    ``torch_formula`` is torch's eager forward written against the array API, given only where it differs
    from ``forward`` (relu keeps -0.0; leaky_relu computes x * slope, so slope 0 gives -0.0 and NaN at
    -inf). The fused Triton kernels (``relukit.kernels``) are generated from ``kernel_forward``, so their
    values are torch's bit for bit.
    """

    name: str
    formula: str
    derivative_formula: str
    forward: Callable[..., Any]
    params: tuple[Param, ...] = ()
    derivative: Callable[..., Any] | None = None
    codes: Callable[..., Any] | None = None
    slopes: Callable[..., tuple[float, ...]] | None = None
    aliases: tuple[str, ...] = ()
    backward: str = "select"
    module: str = ""  # class name in relukit.nn (and in torch.nn when torch has the module)
    torch_op: str | None = None  # name in torch.nn.functional with the same parameters, if any
    torch_inplace: bool = False  # torch's function takes inplace=
    keeps_integers: Callable[..., bool] = lambda **p: False  # noqa: E731 (a plain default callable)
    validate: Callable[..., None] = lambda fn, **p: None  # noqa: E731
    torch_formula: Callable[..., Any] | None = None
    reference: str = ""
    summary: str = ""

    @property
    def piecewise_linear(self) -> bool:
        return self.codes is not None

    def bind(self, fn: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Checked parameters with defaults filled in; ``fn`` names the caller in errors."""
        names = {p.name for p in self.params}
        unknown = set(kwargs) - names
        if unknown:
            raise TypeError(f"{fn}: unexpected argument(s) {sorted(unknown)}; takes {sorted(names)}")
        missing = [p.name for p in self.params if p.default is REQUIRED and p.name not in kwargs]
        if missing:
            raise TypeError(f"{fn}: missing required argument(s) {missing}")
        bound = {p.name: p.check(fn, p.name, kwargs.get(p.name, p.default)) for p in self.params}
        self.validate(fn, **bound)
        return bound

    @property
    def kernel_forward(self) -> Callable[..., Any]:
        """The forward the fused kernels compute: torch's eager formula (see ``torch_formula``)."""
        return self.torch_formula or self.forward

    def code_bits(self, **p: Any) -> int:
        """Bits per element of the packed derivative codes: 1 for two regions, 2 for three."""
        return 1 if len(self.slopes(**p)) <= 2 else 2


def _integral(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _ordered(low: str, high: str) -> Callable[..., None]:
    def check(fn: str, **p: Any) -> None:
        if p[low] > p[high]:
            raise ValueError(f"{fn}: {low} must be <= {high}, got {low}={p[low]!r}, {high}={p[high]!r}")

    return check


# ----------------------------------------------------------------------------------------------
# Reference math
# ----------------------------------------------------------------------------------------------
def _sigmoid(x, xp):
    e = xp.exp(-xp.abs(x))  # never overflows
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _cases(xp, *conditions_and_values):
    """``xp.where`` chain: (c1, v1, c2, v2, ..., otherwise) -> value of the first true condition."""
    *pairs, out = conditions_and_values
    for condition, value in reversed(list(zip(pairs[::2], pairs[1::2]))):
        out = xp.where(condition, value, out)
    return out


def _erfc(z, xp):
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


def _phi_cdf(x, xp):
    return 0.5 * _erfc(-x / math.sqrt(2.0), xp)


def _relu(x, xp):
    return xp.where(x <= 0, 0, x)


def _hardtanh(x, xp, min_val=-1.0, max_val=1.0):
    return _cases(xp, x < min_val, min_val, x > max_val, max_val, x)


def _hardtanh_codes(x, xp, min_val=-1.0, max_val=1.0):
    # torch hardtanh_backward: grad passes where min_val < x < max_val. At NaN torch's CPU kernel is
    # inconsistent (its vectorized body gives 0, its scalar tail passes grad); relukit always gives 0.
    return (x > min_val) & (x < max_val)


def _leaky(x, xp, negative_slope=0.01):
    # slope 0 gives 0 at -inf (the limit); torch's kernel computes -inf * 0 = NaN there.
    below = 0.0 if negative_slope == 0 else xp.minimum(x, 0) * negative_slope
    return xp.where(x < 0, below, x)


def _leaky_torch(x, xp, negative_slope=0.01):
    return xp.where(x > 0, x, x * negative_slope)  # torch leaky_relu: x > 0 ? x : x * slope


def _leaky_codes(x, xp, negative_slope=0.01):
    return x > 0  # torch leaky_relu_backward: x > 0 ? grad : grad * slope


def _rectify(x, xp, negative_slope=0.0, max_value=None, threshold=0.0):
    above = x if max_value is None else xp.minimum(x, max_value)
    below = 0.0 if negative_slope == 0 else (xp.minimum(x, threshold) - threshold) * negative_slope
    return xp.where(x <= threshold, below, above)  # NaN is not <= threshold: it stays NaN


def _rectify_codes(x, xp, negative_slope=0.0, max_value=None, threshold=0.0):
    linear = ~(x <= threshold)  # NaN counts as linear, as in torch's relu/threshold backward
    if max_value is None:
        return linear
    clipped = x >= max_value
    if negative_slope == 0:
        return linear & ~clipped
    return xp.astype(linear, xp.uint8) + xp.astype(linear & clipped, xp.uint8)


def _rectify_slopes(negative_slope=0.0, max_value=None, threshold=0.0):
    if max_value is None or negative_slope == 0:
        return (negative_slope, 1.0)
    return (negative_slope, 1.0, 0.0)


def _elu(x, xp, alpha=1.0, scale=1.0, input_scale=1.0):
    negative = alpha * xp.expm1(xp.minimum(x, 0) * input_scale)
    return scale * xp.where(x > 0, x, negative)


def _elu_derivative(x, xp, alpha=1.0, scale=1.0, input_scale=1.0):
    # torch elu_backward takes the negative branch at x == 0.
    negative = alpha * input_scale * xp.exp(xp.minimum(x, 0) * input_scale)
    return scale * xp.where(x > 0, 1.0, xp.where(x <= 0, negative, x))


def _gelu(x, xp, approximate="none"):
    bounded = xp.clip(x, -_BIG, _BIG)
    low_clipped = xp.maximum(x, -_BIG)  # keeps +inf -> +inf, -inf -> 0
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (bounded + _GELU_TANH_COEF * bounded**3)
        return low_clipped * _sigmoid(2.0 * inner, xp)  # 0.5 (1 + tanh u) = sigmoid(2u), no cancellation
    return low_clipped * _phi_cdf(bounded, xp)


def _gelu_derivative(x, xp, approximate="none"):
    b = xp.clip(x, -_BIG, _BIG)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (b + _GELU_TANH_COEF * b**3)
        s = _sigmoid(2.0 * inner, xp)
        d_inner = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_COEF * b * b)
        return s + b * 2.0 * s * _sigmoid(-2.0 * inner, xp) * d_inner
    density = xp.exp(-0.5 * b * b) / math.sqrt(2.0 * math.pi)
    return _phi_cdf(b, xp) + b * density


def _silu(x, xp):
    return xp.maximum(x, -_BIG) * _sigmoid(x, xp)  # silu(-inf) = 0, not -inf * 0


def _silu_derivative(x, xp):
    s = _sigmoid(x, xp)
    finite_x = xp.where(xp.isinf(x), 0.0, x)  # the x (1 - s) term vanishes at +-inf
    return s * (1.0 + finite_x * _sigmoid(-x, xp))


def _mish_parts(x, xp):
    # Single exponential: with n = e^x, tanh(softplus(x)) = n(n+2) / (n(n+2) + 2) (Misra 2019).
    # n is formed as q q, q = e^(x/2): see _mish. relukit._ops.mish compiles this same code for float32.
    q = xp.exp(xp.minimum(x, 40.0) * 0.5)
    n = q * q
    w = n * (n + 2.0)
    return q, n, w, w / (w + 2.0)


def _mish(x, xp):
    # x < 0: x t = (x q) (q r), r = (n+2) / (w+2), so that where n = e^x is subnormal in float32
    # (x < -87) the product is still rounded once, not built from a subnormal factor.
    q, n, w, t = _mish_parts(x, xp)
    negative = (xp.clip(x, -_BIG, 0.0) * q) * (q * ((n + 2.0) / (w + 2.0)))
    return xp.where(x < 0, negative, xp.maximum(x, -_BIG) * t)


def _mish_derivative(x, xp):
    # d/dx = tanh(sp) + x sech^2(sp) sigmoid(x), and sech^2(sp) sigmoid(x) = 4 n (n+1) / (w+2)^2.
    _, n, w, t = _mish_parts(x, xp)
    b = xp.clip(x, -_BIG, _BIG)
    return xp.where(x > 40.0, 1.0, t + 4.0 * b * n * (n + 1.0) / ((w + 2.0) * (w + 2.0)))


def _softplus(x, xp, beta=1.0, threshold=20.0):
    bx = x * beta
    smooth = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
    return xp.where(bx > threshold, x, smooth)


def _softplus_derivative(x, xp, beta=1.0, threshold=20.0):
    bx = x * beta
    return xp.where(bx > threshold, 1.0, _sigmoid(bx, xp))


def prelu_weight_derivative(x, xp):
    """d prelu / d weight, elementwise (before the reduction over non-channel axes)."""
    return xp.where(x > 0, 0.0, x)


# ----------------------------------------------------------------------------------------------
# The catalog
# ----------------------------------------------------------------------------------------------
_SLOPE = Param("negative_slope", 0.01)

MEMBERS: tuple[Activation, ...] = (
    Activation(
        "relu",
        r"\max(0, x)",
        r"1 \text{ if } x > 0 \text{ else } 0",
        module="ReLU",
        forward=_relu,
        codes=lambda x, xp: ~(x <= 0),  # torch threshold_backward(grad, y, 0): NaN passes
        slopes=lambda: (0.0, 1.0),
        torch_formula=lambda x, xp: xp.where(x < 0, 0, x),  # clamp_min(x, 0): -0.0 and NaN pass
        keeps_integers=lambda: True,
        torch_op="relu",
        torch_inplace=True,
        reference="Nair & Hinton 2010; Glorot, Bordes & Bengio 2011",
        summary="The default: cheap, sparse, non-saturating for x > 0; units can die.",
    ),
    Activation(
        "relu6",
        r"\min(\max(0, x), 6)",
        r"1 \text{ if } 0 < x < 6 \text{ else } 0",
        module="ReLU6",
        forward=lambda x, xp: _hardtanh(x, xp, 0, 6),
        codes=lambda x, xp: _hardtanh_codes(x, xp, 0, 6),
        slopes=lambda: (0.0, 1.0),
        keeps_integers=lambda: True,
        torch_op="relu6",
        torch_inplace=True,
        reference="Krizhevsky 2010; Howard et al. 2017 (MobileNets)",
        summary="ReLU capped at 6: bounded range for low-precision inference.",
    ),
    Activation(
        "hardtanh",
        r"\min(\max(x, a), b)",
        r"1 \text{ if } a < x < b \text{ else } 0",
        module="Hardtanh",
        forward=_hardtanh,
        codes=_hardtanh_codes,
        params=(Param("min_val", -1.0), Param("max_val", 1.0)),
        slopes=lambda **p: (0.0, 1.0),
        keeps_integers=lambda min_val, max_val: _integral(min_val, max_val),
        validate=_ordered("min_val", "max_val"),
        torch_op="hardtanh",
        torch_inplace=True,
        reference="Collobert 2004",
        summary="Linear inside [min_val, max_val], clipped outside.",
    ),
    Activation(
        "threshold",
        r"x \text{ if } x > t \text{ else } v",
        r"1 \text{ if } x > t \text{ else } 0",
        module="Threshold",
        forward=lambda x, xp, threshold, value: xp.where(x <= threshold, value, x),
        codes=lambda x, xp, threshold, value: ~(x <= threshold),
        params=(Param("threshold", REQUIRED), Param("value", REQUIRED)),
        slopes=lambda **p: (0.0, 1.0),
        keeps_integers=lambda threshold, value: _integral(threshold, value),
        torch_op="threshold",
        torch_inplace=True,
        summary="Replaces every x <= threshold by value.",
    ),
    Activation(
        "rectify",
        r"\min(x, m) \text{ if } x > t \text{ else } s (x - t)",
        r"1 \text{ if } t < x < m;\ 0 \text{ if } x \ge m > t;\ s \text{ if } x \le t",
        module="Rectify",
        forward=_rectify,
        codes=_rectify_codes,
        slopes=_rectify_slopes,
        params=(
            Param("negative_slope", 0.0, non_negative),
            Param("max_value", None, optional_non_negative),
            Param("threshold", 0.0),
        ),
        reference="Keras 3 keras.activations.relu",
        summary="Keras' general rectifier; jumps at threshold when threshold != 0.",
    ),
    Activation(
        "leaky_relu",
        r"x \text{ if } x \ge 0 \text{ else } s x",
        r"1 \text{ if } x > 0 \text{ else } s",
        module="LeakyReLU",
        forward=_leaky,
        codes=_leaky_codes,
        torch_formula=_leaky_torch,
        params=(_SLOPE,),
        slopes=lambda negative_slope: (negative_slope, 1.0),
        aliases=("leaky", "leakyrelu", "lrelu"),
        torch_op="leaky_relu",
        torch_inplace=True,
        backward="multiply",
        reference="Maas, Hannun & Ng 2013",
        summary="A small slope for x < 0 keeps every unit trainable (no dead units).",
    ),
    Activation(
        "rrelu",
        r"x \text{ if } x \ge 0 \text{ else } \frac{l+u}{2} x",
        r"1 \text{ if } x > 0 \text{ else } \frac{l+u}{2}",
        module="RReLU",
        forward=lambda x, xp, lower, upper: _leaky(x, xp, (lower + upper) / 2),
        codes=lambda x, xp, lower, upper: _leaky_codes(x, xp),
        torch_formula=lambda x, xp, lower, upper: _leaky_torch(x, xp, (lower + upper) / 2),
        slopes=lambda lower, upper: ((lower + upper) / 2, 1.0),
        params=(Param("lower", 1.0 / 8), Param("upper", 1.0 / 3)),
        validate=_ordered("lower", "upper"),
        torch_op="rrelu",
        torch_inplace=True,
        backward="multiply",
        reference="Xu, Wang, Chen & Li 2015",
        summary="Randomized leaky slope in training; this is the deterministic eval form.",
    ),
    Activation(
        "prelu",
        r"x \text{ if } x > 0 \text{ else } a_c x",
        r"1 \text{ if } x > 0 \text{ else } a_c",
        module="PReLU",
        forward=lambda x, xp, weight: xp.where(x > 0, x, weight * x),
        derivative=lambda x, xp, weight: xp.where(x > 0, 1.0, xp.where(x <= 0, weight, x)),
        aliases=("parametric_relu",),
        torch_op="prelu",
        reference="He, Zhang, Ren & Sun 2015",
        summary="Leaky ReLU with a learned slope per channel.",
    ),
    Activation(
        "elu",
        r"x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)",
        r"1 \text{ if } x > 0 \text{ else } \alpha e^x",
        module="ELU",
        forward=_elu,
        derivative=_elu_derivative,
        params=(Param("alpha", 1.0),),
        torch_op="elu",
        torch_inplace=True,
        reference="Clevert, Unterthiner & Hochreiter 2015",
        summary="Smooth negative saturation at -alpha; mean activations nearer zero.",
    ),
    Activation(
        "celu",
        r"\max(0, x) + \min(0, \alpha (e^{x/\alpha} - 1))",
        r"1 \text{ if } x > 0 \text{ else } e^{x/\alpha}",
        module="CELU",
        forward=lambda x, xp, alpha: _elu(x, xp, alpha, 1.0, 1.0 / alpha),
        derivative=lambda x, xp, alpha: _elu_derivative(x, xp, alpha, 1.0, 1.0 / alpha),
        params=(Param("alpha", 1.0, nonzero),),
        torch_op="celu",
        torch_inplace=True,
        reference="Barron 2017",
        summary="ELU made continuously differentiable for every alpha.",
    ),
    Activation(
        "selu",
        r"\lambda (x \text{ if } x > 0 \text{ else } \alpha (e^x - 1))",
        r"\lambda (1 \text{ if } x > 0 \text{ else } \alpha e^x)",
        module="SELU",
        forward=lambda x, xp: _elu(x, xp, SELU_ALPHA, SELU_SCALE),
        derivative=lambda x, xp: _elu_derivative(x, xp, SELU_ALPHA, SELU_SCALE),
        torch_op="selu",
        torch_inplace=True,
        reference="Klambauer, Unterthiner, Mayr & Hochreiter 2017",
        summary="Self-normalizing ELU (alpha ~ 1.6733, lambda ~ 1.0507).",
    ),
    Activation(
        "gelu",
        r"x \Phi(x)",
        r"\Phi(x) + x \varphi(x)",
        module="GELU",
        forward=_gelu,
        derivative=_gelu_derivative,
        params=(Param("approximate", "none", gelu_approximation),),
        torch_op="gelu",
        reference="Hendrycks & Gimpel 2016",
        summary="x weighted by the Gaussian CDF; 'tanh' is the fast approximation.",
    ),
    Activation(
        "silu",
        r"x \sigma(x)",
        r"\sigma(x) (1 + x (1 - \sigma(x)))",
        module="SiLU",
        forward=_silu,
        derivative=_silu_derivative,
        aliases=("swish",),
        torch_op="silu",
        torch_inplace=True,
        reference="Elfwing, Uchibe & Doya 2017; Ramachandran, Zoph & Le 2017",
        summary="Smooth, non-monotonic self-gated ReLU.",
    ),
    Activation(
        "mish",
        r"x \tanh(\operatorname{softplus}(x))",
        r"\tanh(\operatorname{sp}(x)) + x \operatorname{sech}^2(\operatorname{sp}(x)) \sigma(x)",
        module="Mish",
        forward=_mish,
        derivative=_mish_derivative,
        torch_op="mish",
        torch_inplace=True,
        reference="Misra 2019 (arXiv:1908.08681)",
        summary="Smooth, non-monotonic; minimum ~ -0.30884 at x ~ -1.1924.",
    ),
    Activation(
        "softplus",
        r"\frac{1}{\beta} \log(1 + e^{\beta x})",
        r"\sigma(\beta x)",
        module="Softplus",
        forward=_softplus,
        derivative=_softplus_derivative,
        params=(Param("beta", 1.0, positive), Param("threshold", 20.0)),
        torch_op="softplus",
        reference="Dugas et al. 2001",
        summary="Smooth ReLU; linear where beta x > threshold (as torch).",
    ),
)

BY_NAME: dict[str, Activation] = {m.name: m for m in MEMBERS}


def lookup(name: str) -> Activation:
    """The entry for a name or alias (case-insensitive, '-' and '_' alike)."""
    key = str(name).lower().replace("-", "_")
    for member in MEMBERS:
        if key == member.name or key in member.aliases:
            return member
    raise ValueError(f"unknown activation {name!r}; available: {', '.join(BY_NAME)}")

"""The one definition of every relukit activation.

Each :class:`Activation` holds the name, the parameters with their defaults and checks, the reference
forward and derivative written once against the array API (``xp`` is the array's namespace), and for
the piecewise-linear members their *derivative codes*: a small integer region per element and the
constant derivative of each region. ``relukit.array``, ``relukit.functional``, ``relukit.nn``, the
registry, ONNX export and the docs table are all derived from this module; the formulas themselves are
in :mod:`relukit.formulas`. It imports neither NumPy nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relukit import formulas as fx

SELU_ALPHA, SELU_SCALE = fx.SELU_ALPHA, fx.SELU_SCALE


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------
def _real(fn: str, arg: str, value: Any) -> float:
    """float(value) for a real scalar (Python or 0-d array); TypeError for bool, complex, arrays, strings."""
    is_complex = isinstance(value, complex) or "complex" in str(getattr(value, "dtype", ""))
    if (
        isinstance(value, bool)
        or is_complex
        or getattr(value, "ndim", 0) != 0
        or not isinstance(value, (int, float))
        and not hasattr(value, "__float__")
    ):
        raise TypeError(f"{fn}: {arg} must be a real number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {arg} must be a real number, got {value!r}") from None
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
    takes_weight: bool = False  # a learned per-channel weight tensor comes beside the input (prelu), not a Param
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
# The catalog
# ----------------------------------------------------------------------------------------------
_SLOPE = Param("negative_slope", 0.01)

MEMBERS: tuple[Activation, ...] = (
    Activation(
        "relu",
        r"\max(0, x)",
        r"1 \text{ if } x > 0 \text{ else } 0",
        module="ReLU",
        forward=fx.relu,
        codes=fx.relu_codes,
        slopes=fx.relu_slopes,
        torch_formula=fx.relu_torch,
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
        forward=fx.relu6,
        codes=fx.relu6_codes,
        slopes=fx.relu_slopes,
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
        forward=fx.hardtanh,
        codes=fx.hardtanh_codes,
        params=(Param("min_val", -1.0), Param("max_val", 1.0)),
        slopes=fx.relu_slopes,
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
        forward=fx.threshold,
        codes=fx.threshold_codes,
        params=(Param("threshold", REQUIRED), Param("value", REQUIRED)),
        slopes=fx.relu_slopes,
        keeps_integers=lambda threshold, value: _integral(threshold, value),
        torch_op="threshold",
        torch_inplace=True,
        summary="Replaces every x <= threshold by value.",
    ),
    Activation(
        "rectify",
        r"\operatorname{clip}(x, 0, m) \text{ if } x > t \text{ else } s (x - t);\ \text{no clip without } m",
        r"s \text{ if } x \le t;\ 1 \text{ if } x > t \text{ and } (0 < x < m \text{ or no } m);\ \text{else } 0",
        module="Rectify",
        forward=fx.rectify,
        codes=fx.rectify_codes,
        slopes=fx.rectify_slopes,
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
        forward=fx.leaky_relu,
        codes=fx.leaky_relu_codes,
        torch_formula=fx.leaky_relu_torch,
        params=(_SLOPE,),
        slopes=fx.leaky_relu_slopes,
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
        forward=fx.rrelu,
        codes=fx.rrelu_codes,
        torch_formula=fx.rrelu_torch,
        slopes=fx.rrelu_slopes,
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
        forward=fx.prelu,
        derivative=fx.prelu_derivative,
        aliases=("parametric_relu",),
        takes_weight=True,
        torch_op="prelu",
        reference="He, Zhang, Ren & Sun 2015",
        summary="Leaky ReLU with a learned slope per channel.",
    ),
    Activation(
        "elu",
        r"x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)",
        r"1 \text{ if } x > 0 \text{ else } \alpha e^x",
        module="ELU",
        forward=fx.elu,
        derivative=fx.elu_derivative,
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
        forward=fx.celu,
        derivative=fx.celu_derivative,
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
        forward=fx.selu,
        derivative=fx.selu_derivative,
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
        forward=fx.gelu,
        derivative=fx.gelu_derivative,
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
        forward=fx.silu,
        derivative=fx.silu_derivative,
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
        forward=fx.mish,
        derivative=fx.mish_derivative,
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
        forward=fx.softplus,
        derivative=fx.softplus_derivative,
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

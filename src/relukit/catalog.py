"""The one definition of every relukit activation.

Each :class:`Activation` holds the name, the parameters with their defaults and checks, the reference
forward and derivative written once against the array API (``xp`` is the array's namespace), and for
the piecewise-linear members their *derivative codes*: a small integer region per element and the
constant derivative of each region. ``relukit.array``, ``relukit.functional``, ``relukit.nn``, the
registry, ONNX export and the docs table are all derived from this module; the formulas themselves are
in :mod:`relukit.formulas`. It imports neither NumPy nor torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relukit import formulas as fx
from relukit.parameters import (
    REQUIRED,
    Param,
    gelu_approximation,
    independent,
    integral,
    non_negative,
    nonzero,
    optional_non_negative,
    ordered,
    positive,
)
from relukit.parameters import finite as finite  # re-exported: relukit.array checks prelu's weight with it

SELU_ALPHA, SELU_SCALE = fx.SELU_ALPHA, fx.SELU_SCALE


def _never(**p: Any) -> bool:
    return False


@dataclass(frozen=True)
class PiecewiseLinear:
    """The derivative codes of a piecewise-linear member (the lean backward runs on these).

    ``codes(x, xp, **p)`` is the region of each element (a bool mask for two regions, uint8 0..2 for three),
    decided by torch's own backward condition at kinks and at NaN; ``slopes(**p)`` the constant derivative
    of each region. The derivative is ``slopes[codes]`` (NaN where x is NaN) and the backward is
    ``grad * slopes[codes]``, where ``backward`` says how a slope-0 region treats the incoming gradient:
    "select" gives 0 (torch's threshold/hardtanh backward), "multiply" gives grad * slope (torch's
    leaky_relu backward, which keeps NaN and the sign of zero).
    """

    codes: Callable[..., Any]
    slopes: Callable[..., tuple[float, ...]]
    backward: str = "select"


@dataclass(frozen=True)
class TorchBinding:
    """Where torch has the member: ``op`` in torch.nn.functional with the same parameters, whether it takes
    ``inplace=``, and ``formula``, torch's eager forward against the array API, given only where it differs
    from the reference (relu keeps -0.0; leaky_relu computes x * slope, so slope 0 gives -0.0 and NaN at -inf).
    """

    op: str
    inplace: bool = False
    formula: Callable[..., Any] | None = None


@dataclass(frozen=True)
class DtypePolicy:
    """``keeps_integers(**p)``: an integer input stays integer (relu, and clipping with integral bounds)."""

    keeps_integers: Callable[..., bool] = _never


@dataclass(frozen=True)
class Docs:
    """What the docs table and docstrings add to the formulas: the paper and a one-line summary."""

    summary: str = ""
    reference: str = ""


@dataclass(frozen=True)
class Activation:
    """One member of the family.

    ``forward(x, xp, **p)`` is the reference math; smooth members give ``derivative(x, xp, **p)``,
    piecewise-linear ones their derivative codes (``piecewise``, see :class:`PiecewiseLinear`) instead.
    ``params`` are checked one by one, then together by ``validate(fn, **p)``; ``takes_weight`` means a
    learned per-channel weight tensor comes beside the input (prelu), not a Param. ``module`` is the class
    name in relukit.nn (and in torch.nn when torch has the module). The optional parts are small records:
    ``torch`` (:class:`TorchBinding`), ``dtypes`` (:class:`DtypePolicy`), ``docs`` (:class:`Docs`).

    The fused Triton kernels (``relukit.kernels``) and the native ones are generated from
    ``kernel_forward``, torch's eager formula, so their values are torch's bit for bit. The read-only
    properties below (``codes``, ``slopes``, ``backward``, ``torch_op``, ...) are shorthands into the records.
    """

    name: str
    formula: str
    derivative_formula: str
    forward: Callable[..., Any]
    module: str = ""
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    derivative: Callable[..., Any] | None = None
    piecewise: PiecewiseLinear | None = None
    validate: Callable[..., None] = independent
    takes_weight: bool = False
    torch: TorchBinding | None = None
    dtypes: DtypePolicy = DtypePolicy()
    docs: Docs = Docs()

    @property
    def piecewise_linear(self) -> bool:
        return self.piecewise is not None

    @property
    def codes(self) -> Callable[..., Any] | None:
        return self.piecewise.codes if self.piecewise else None

    @property
    def slopes(self) -> Callable[..., tuple[float, ...]] | None:
        return self.piecewise.slopes if self.piecewise else None

    @property
    def backward(self) -> str:
        return self.piecewise.backward if self.piecewise else "select"

    @property
    def torch_op(self) -> str | None:
        return self.torch.op if self.torch else None

    @property
    def torch_inplace(self) -> bool:
        return self.torch.inplace if self.torch else False

    @property
    def torch_formula(self) -> Callable[..., Any] | None:
        return self.torch.formula if self.torch else None

    @property
    def keeps_integers(self) -> Callable[..., bool]:
        return self.dtypes.keeps_integers

    @property
    def reference(self) -> str:
        return self.docs.reference

    @property
    def summary(self) -> str:
        return self.docs.summary

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
        """The forward the fused kernels compute: torch's eager formula (see :class:`TorchBinding`)."""
        return self.torch_formula or self.forward

    def code_bits(self, **p: Any) -> int:
        """Bits per element of the packed derivative codes: 1 for two regions, 2 for three."""
        return 1 if len(self.slopes(**p)) <= 2 else 2


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
        piecewise=PiecewiseLinear(fx.relu_codes, fx.relu_slopes),
        torch=TorchBinding("relu", inplace=True, formula=fx.relu_torch),
        dtypes=DtypePolicy(keeps_integers=integral),
        docs=Docs(
            summary="The default: cheap, sparse, non-saturating for x > 0; units can die.",
            reference="Nair & Hinton 2010; Glorot, Bordes & Bengio 2011",
        ),
    ),
    Activation(
        "relu6",
        r"\min(\max(0, x), 6)",
        r"1 \text{ if } 0 < x < 6 \text{ else } 0",
        module="ReLU6",
        forward=fx.relu6,
        piecewise=PiecewiseLinear(fx.relu6_codes, fx.relu_slopes),
        torch=TorchBinding("relu6", inplace=True),
        dtypes=DtypePolicy(keeps_integers=integral),
        docs=Docs(
            summary="ReLU capped at 6: bounded range for low-precision inference.",
            reference="Krizhevsky 2010; Howard et al. 2017 (MobileNets)",
        ),
    ),
    Activation(
        "hardtanh",
        r"\min(\max(x, a), b)",
        r"1 \text{ if } a < x < b \text{ else } 0",
        module="Hardtanh",
        forward=fx.hardtanh,
        params=(Param("min_val", -1.0), Param("max_val", 1.0)),
        piecewise=PiecewiseLinear(fx.hardtanh_codes, fx.relu_slopes),
        validate=ordered("min_val", "max_val"),
        torch=TorchBinding("hardtanh", inplace=True),
        dtypes=DtypePolicy(keeps_integers=integral),
        docs=Docs(summary="Linear inside [min_val, max_val], clipped outside.", reference="Collobert 2004"),
    ),
    Activation(
        "threshold",
        r"x \text{ if } x > t \text{ else } v",
        r"1 \text{ if } x > t \text{ else } 0",
        module="Threshold",
        forward=fx.threshold,
        params=(Param("threshold", REQUIRED), Param("value", REQUIRED)),
        piecewise=PiecewiseLinear(fx.threshold_codes, fx.relu_slopes),
        torch=TorchBinding("threshold", inplace=True),
        dtypes=DtypePolicy(keeps_integers=integral),
        docs=Docs(summary="Replaces every x <= threshold by value."),
    ),
    Activation(
        "rectify",
        r"\operatorname{clip}(x, 0, m) \text{ if } x > t \text{ else } s (x - t);\ \text{no clip without } m",
        r"s \text{ if } x \le t;\ 1 \text{ if } x > t \text{ and } (0 < x < m \text{ or no } m);\ \text{else } 0",
        module="Rectify",
        forward=fx.rectify,
        params=(
            Param("negative_slope", 0.0, non_negative),
            Param("max_value", None, optional_non_negative),
            Param("threshold", 0.0),
        ),
        piecewise=PiecewiseLinear(fx.rectify_codes, fx.rectify_slopes),
        docs=Docs(
            summary="Keras' general rectifier; jumps at threshold when threshold != 0.",
            reference="Keras 3 keras.activations.relu",
        ),
    ),
    Activation(
        "leaky_relu",
        r"x \text{ if } x \ge 0 \text{ else } s x",
        r"1 \text{ if } x > 0 \text{ else } s",
        module="LeakyReLU",
        forward=fx.leaky_relu,
        params=(_SLOPE,),
        aliases=("leaky", "leakyrelu", "lrelu"),
        piecewise=PiecewiseLinear(fx.leaky_relu_codes, fx.leaky_relu_slopes, backward="multiply"),
        torch=TorchBinding("leaky_relu", inplace=True, formula=fx.leaky_relu_torch),
        docs=Docs(
            summary="A small slope for x < 0 keeps every unit trainable (no dead units).",
            reference="Maas, Hannun & Ng 2013",
        ),
    ),
    Activation(
        "rrelu",
        r"x \text{ if } x \ge 0 \text{ else } \frac{l+u}{2} x",
        r"1 \text{ if } x > 0 \text{ else } \frac{l+u}{2}",
        module="RReLU",
        forward=fx.rrelu,
        params=(Param("lower", 1.0 / 8), Param("upper", 1.0 / 3)),
        piecewise=PiecewiseLinear(fx.rrelu_codes, fx.rrelu_slopes, backward="multiply"),
        validate=ordered("lower", "upper"),
        torch=TorchBinding("rrelu", inplace=True, formula=fx.rrelu_torch),
        docs=Docs(
            summary="Randomized leaky slope in training; this is the deterministic eval form.",
            reference="Xu, Wang, Chen & Li 2015",
        ),
    ),
    Activation(
        "prelu",
        r"x \text{ if } x > 0 \text{ else } a_c x",
        r"1 \text{ if } x > 0 \text{ else } a_c",
        module="PReLU",
        forward=fx.prelu,
        aliases=("parametric_relu",),
        derivative=fx.prelu_derivative,
        takes_weight=True,
        torch=TorchBinding("prelu"),
        docs=Docs(summary="Leaky ReLU with a learned slope per channel.", reference="He, Zhang, Ren & Sun 2015"),
    ),
    Activation(
        "elu",
        r"x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)",
        r"1 \text{ if } x > 0 \text{ else } \alpha e^x",
        module="ELU",
        forward=fx.elu,
        params=(Param("alpha", 1.0),),
        derivative=fx.elu_derivative,
        torch=TorchBinding("elu", inplace=True),
        docs=Docs(
            summary="Smooth negative saturation at -alpha; mean activations nearer zero.",
            reference="Clevert, Unterthiner & Hochreiter 2015",
        ),
    ),
    Activation(
        "celu",
        r"\max(0, x) + \min(0, \alpha (e^{x/\alpha} - 1))",
        r"1 \text{ if } x > 0 \text{ else } e^{x/\alpha}",
        module="CELU",
        forward=fx.celu,
        params=(Param("alpha", 1.0, nonzero),),
        derivative=fx.celu_derivative,
        torch=TorchBinding("celu", inplace=True),
        docs=Docs(summary="ELU made continuously differentiable for every alpha.", reference="Barron 2017"),
    ),
    Activation(
        "selu",
        r"\lambda (x \text{ if } x > 0 \text{ else } \alpha (e^x - 1))",
        r"\lambda (1 \text{ if } x > 0 \text{ else } \alpha e^x)",
        module="SELU",
        forward=fx.selu,
        derivative=fx.selu_derivative,
        torch=TorchBinding("selu", inplace=True),
        docs=Docs(
            summary="Self-normalizing ELU (alpha ~ 1.6733, lambda ~ 1.0507).",
            reference="Klambauer, Unterthiner, Mayr & Hochreiter 2017",
        ),
    ),
    Activation(
        "gelu",
        r"x \Phi(x)",
        r"\Phi(x) + x \varphi(x)",
        module="GELU",
        forward=fx.gelu,
        params=(Param("approximate", "none", gelu_approximation),),
        derivative=fx.gelu_derivative,
        torch=TorchBinding("gelu"),
        docs=Docs(
            summary="x weighted by the Gaussian CDF; 'tanh' is the fast approximation.",
            reference="Hendrycks & Gimpel 2016",
        ),
    ),
    Activation(
        "silu",
        r"x \sigma(x)",
        r"\sigma(x) (1 + x (1 - \sigma(x)))",
        module="SiLU",
        forward=fx.silu,
        aliases=("swish",),
        derivative=fx.silu_derivative,
        torch=TorchBinding("silu", inplace=True),
        docs=Docs(
            summary="Smooth, non-monotonic self-gated ReLU.",
            reference="Elfwing, Uchibe & Doya 2017; Ramachandran, Zoph & Le 2017",
        ),
    ),
    Activation(
        "mish",
        r"x \tanh(\operatorname{softplus}(x))",
        r"\tanh(\operatorname{sp}(x)) + x \operatorname{sech}^2(\operatorname{sp}(x)) \sigma(x)",
        module="Mish",
        forward=fx.mish,
        derivative=fx.mish_derivative,
        torch=TorchBinding("mish", inplace=True),
        docs=Docs(
            summary="Smooth, non-monotonic; minimum ~ -0.30884 at x ~ -1.1924.",
            reference="Misra 2019 (arXiv:1908.08681)",
        ),
    ),
    Activation(
        "softplus",
        r"\frac{1}{\beta} \log(1 + e^{\beta x})",
        r"\sigma(\beta x)",
        module="Softplus",
        forward=fx.softplus,
        params=(Param("beta", 1.0, positive), Param("threshold", 20.0)),
        derivative=fx.softplus_derivative,
        torch=TorchBinding("softplus"),
        docs=Docs(summary="Smooth ReLU; linear where beta x > threshold (as torch).", reference="Dugas et al. 2001"),
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

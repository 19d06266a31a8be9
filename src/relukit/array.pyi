"""relukit.array: the ReLU family on Python scalars, NumPy and any array-API array."""

# Generated from the runtime by `python -m relukit.stubs` (make stubs); do not edit.
from typing import Any, Protocol, TypeVar, overload, type_check_only

import relukit.catalog

__all__ = [
    "relu",
    "relu_derivative",
    "relu6",
    "relu6_derivative",
    "hardtanh",
    "hardtanh_derivative",
    "threshold",
    "threshold_derivative",
    "rectify",
    "rectify_derivative",
    "leaky_relu",
    "leaky_relu_derivative",
    "rrelu",
    "rrelu_derivative",
    "prelu",
    "prelu_derivative",
    "elu",
    "elu_derivative",
    "celu",
    "celu_derivative",
    "selu",
    "selu_derivative",
    "gelu",
    "gelu_derivative",
    "silu",
    "silu_derivative",
    "mish",
    "mish_derivative",
    "softplus",
    "softplus_derivative",
    "prelu_weight_derivative",
    "kaf",
]

@type_check_only
class _Array(Protocol):
    """An array-API array (NumPy, torch, CuPy, JAX, array-api-strict): it has a shape and a dtype."""

    @property
    def shape(self) -> Any: ...
    @property
    def dtype(self) -> Any: ...

_ArrayT = TypeVar("_ArrayT", bound=_Array)

@overload
def relu(x: float, /) -> float:
    """The default: cheap, sparse, non-saturating for x > 0; units can die."""

@overload
def relu(x: _ArrayT, /) -> _ArrayT:
    """The default: cheap, sparse, non-saturating for x > 0; units can die."""

@overload
def relu_derivative(x: float, /) -> float:
    """Derivative of relu"""

@overload
def relu_derivative(x: _ArrayT, /) -> _ArrayT:
    """Derivative of relu"""

@overload
def relu6(x: float, /) -> float:
    """ReLU capped at 6: bounded range for low-precision inference."""

@overload
def relu6(x: _ArrayT, /) -> _ArrayT:
    """ReLU capped at 6: bounded range for low-precision inference."""

@overload
def relu6_derivative(x: float, /) -> float:
    """Derivative of relu6"""

@overload
def relu6_derivative(x: _ArrayT, /) -> _ArrayT:
    """Derivative of relu6"""

@overload
def hardtanh(x: float, /, min_val: float = -1.0, max_val: float = 1.0) -> float:
    """Linear inside [min_val, max_val], clipped outside."""

@overload
def hardtanh(x: _ArrayT, /, min_val: float = -1.0, max_val: float = 1.0) -> _ArrayT:
    """Linear inside [min_val, max_val], clipped outside."""

@overload
def hardtanh_derivative(x: float, /, min_val: float = -1.0, max_val: float = 1.0) -> float:
    """Derivative of hardtanh"""

@overload
def hardtanh_derivative(x: _ArrayT, /, min_val: float = -1.0, max_val: float = 1.0) -> _ArrayT:
    """Derivative of hardtanh"""

@overload
def threshold(x: float, /, threshold: float, value: float) -> float:
    """Replaces every x <= threshold by value."""

@overload
def threshold(x: _ArrayT, /, threshold: float, value: float) -> _ArrayT:
    """Replaces every x <= threshold by value."""

@overload
def threshold_derivative(x: float, /, threshold: float, value: float) -> float:
    """Derivative of threshold"""

@overload
def threshold_derivative(x: _ArrayT, /, threshold: float, value: float) -> _ArrayT:
    """Derivative of threshold"""

@overload
def rectify(x: float, /, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> float:
    """Keras' general rectifier; jumps at threshold when threshold != 0."""

@overload
def rectify(
    x: _ArrayT, /, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> _ArrayT:
    """Keras' general rectifier; jumps at threshold when threshold != 0."""

@overload
def rectify_derivative(
    x: float, /, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> float:
    """Derivative of rectify"""

@overload
def rectify_derivative(
    x: _ArrayT, /, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> _ArrayT:
    """Derivative of rectify"""

@overload
def leaky_relu(x: float, /, negative_slope: float = 0.01) -> float:
    """A small slope for x < 0 keeps every unit trainable (no dead units)."""

@overload
def leaky_relu(x: _ArrayT, /, negative_slope: float = 0.01) -> _ArrayT:
    """A small slope for x < 0 keeps every unit trainable (no dead units)."""

@overload
def leaky_relu_derivative(x: float, /, negative_slope: float = 0.01) -> float:
    """Derivative of leaky_relu"""

@overload
def leaky_relu_derivative(x: _ArrayT, /, negative_slope: float = 0.01) -> _ArrayT:
    """Derivative of leaky_relu"""

@overload
def rrelu(x: float, /, lower: float = 0.125, upper: float = 0.3333333333333333) -> float:
    """Randomized leaky slope in training; this is the deterministic eval form."""

@overload
def rrelu(x: _ArrayT, /, lower: float = 0.125, upper: float = 0.3333333333333333) -> _ArrayT:
    """Randomized leaky slope in training; this is the deterministic eval form."""

@overload
def rrelu_derivative(x: float, /, lower: float = 0.125, upper: float = 0.3333333333333333) -> float:
    """Derivative of rrelu"""

@overload
def rrelu_derivative(x: _ArrayT, /, lower: float = 0.125, upper: float = 0.3333333333333333) -> _ArrayT:
    """Derivative of rrelu"""

@overload
def prelu(x: float, /, weight: float | _Array, channel_axis: int = 1) -> float:
    """Leaky ReLU with a learned slope per channel."""

@overload
def prelu(x: _ArrayT, /, weight: float | _Array, channel_axis: int = 1) -> _ArrayT:
    """Leaky ReLU with a learned slope per channel."""

@overload
def prelu_derivative(x: float, /, weight: float | _Array, channel_axis: int = 1) -> float:
    """Derivative of prelu"""

@overload
def prelu_derivative(x: _ArrayT, /, weight: float | _Array, channel_axis: int = 1) -> _ArrayT:
    """Derivative of prelu"""

@overload
def elu(x: float, /, alpha: float = 1.0) -> float:
    """Smooth negative saturation at -alpha; mean activations nearer zero."""

@overload
def elu(x: _ArrayT, /, alpha: float = 1.0) -> _ArrayT:
    """Smooth negative saturation at -alpha; mean activations nearer zero."""

@overload
def elu_derivative(x: float, /, alpha: float = 1.0) -> float:
    """Derivative of elu"""

@overload
def elu_derivative(x: _ArrayT, /, alpha: float = 1.0) -> _ArrayT:
    """Derivative of elu"""

@overload
def celu(x: float, /, alpha: float = 1.0) -> float:
    """ELU made continuously differentiable for every alpha."""

@overload
def celu(x: _ArrayT, /, alpha: float = 1.0) -> _ArrayT:
    """ELU made continuously differentiable for every alpha."""

@overload
def celu_derivative(x: float, /, alpha: float = 1.0) -> float:
    """Derivative of celu"""

@overload
def celu_derivative(x: _ArrayT, /, alpha: float = 1.0) -> _ArrayT:
    """Derivative of celu"""

@overload
def selu(x: float, /) -> float:
    """Self-normalizing ELU (alpha ~ 1.6733, lambda ~ 1.0507)."""

@overload
def selu(x: _ArrayT, /) -> _ArrayT:
    """Self-normalizing ELU (alpha ~ 1.6733, lambda ~ 1.0507)."""

@overload
def selu_derivative(x: float, /) -> float:
    """Derivative of selu"""

@overload
def selu_derivative(x: _ArrayT, /) -> _ArrayT:
    """Derivative of selu"""

@overload
def gelu(x: float, /, approximate: str = "none") -> float:
    """x weighted by the Gaussian CDF; 'tanh' is the fast approximation."""

@overload
def gelu(x: _ArrayT, /, approximate: str = "none") -> _ArrayT:
    """x weighted by the Gaussian CDF; 'tanh' is the fast approximation."""

@overload
def gelu_derivative(x: float, /, approximate: str = "none") -> float:
    """Derivative of gelu"""

@overload
def gelu_derivative(x: _ArrayT, /, approximate: str = "none") -> _ArrayT:
    """Derivative of gelu"""

@overload
def silu(x: float, /) -> float:
    """Smooth, non-monotonic self-gated ReLU."""

@overload
def silu(x: _ArrayT, /) -> _ArrayT:
    """Smooth, non-monotonic self-gated ReLU."""

@overload
def silu_derivative(x: float, /) -> float:
    """Derivative of silu"""

@overload
def silu_derivative(x: _ArrayT, /) -> _ArrayT:
    """Derivative of silu"""

@overload
def mish(x: float, /) -> float:
    """Smooth, non-monotonic; minimum ~ -0.30884 at x ~ -1.1924."""

@overload
def mish(x: _ArrayT, /) -> _ArrayT:
    """Smooth, non-monotonic; minimum ~ -0.30884 at x ~ -1.1924."""

@overload
def mish_derivative(x: float, /) -> float:
    """Derivative of mish"""

@overload
def mish_derivative(x: _ArrayT, /) -> _ArrayT:
    """Derivative of mish"""

@overload
def softplus(x: float, /, beta: float = 1.0, threshold: float = 20.0) -> float:
    """Smooth ReLU; linear where beta x > threshold (as torch)."""

@overload
def softplus(x: _ArrayT, /, beta: float = 1.0, threshold: float = 20.0) -> _ArrayT:
    """Smooth ReLU; linear where beta x > threshold (as torch)."""

@overload
def softplus_derivative(x: float, /, beta: float = 1.0, threshold: float = 20.0) -> float:
    """Derivative of softplus"""

@overload
def softplus_derivative(x: _ArrayT, /, beta: float = 1.0, threshold: float = 20.0) -> _ArrayT:
    """Derivative of softplus"""

@overload
def prelu_weight_derivative(x: float, weight: Any = 0.25, channel_axis: int = 1) -> float:
    """d prelu(x, weight) / d weight, elementwise: 0 where x > 0, else x (sum over non-channel axes to get the
    weight's gradient)."""

@overload
def prelu_weight_derivative(x: _ArrayT, weight: Any = 0.25, channel_axis: int = 1) -> _ArrayT:
    """d prelu(x, weight) / d weight, elementwise: 0 where x > 0, else x (sum over non-channel axes to get the
    weight's gradient)."""

@overload
def kaf(x: float, alpha: Any, dictionary: Any, gamma: float, kernel: str = "gaussian", channel_axis: int = 1) -> float:
    """Kernel activation function (Scardapane et al. 2017, arXiv:1707.04035), evaluated in float64."""

@overload
def kaf(
    x: _ArrayT, alpha: Any, dictionary: Any, gamma: float, kernel: str = "gaussian", channel_axis: int = 1
) -> _ArrayT:
    """Kernel activation function (Scardapane et al. 2017, arXiv:1707.04035), evaluated in float64."""

def derivative_from_codes(entry: relukit.catalog.Activation, x: Any, xp: Any, params: dict[str, Any]) -> Any:
    """``slopes[codes(x)]`` with NaN where x is NaN: the derivative of a piecewise-linear member."""

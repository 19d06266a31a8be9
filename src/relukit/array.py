"""relukit.array: the ReLU family on Python scalars, NumPy and any array-API array.

Every function here is generated from :mod:`relukit.catalog`: ``relu(x)``, ``relu_derivative(x)``,
``leaky_relu(x, negative_slope=0.01)`` and so on, plus ``prelu_weight_derivative``. Results are
computed in the input's own namespace (array-api-compat finds it), never through NumPy for other
arrays. Semantics:

* NaN in gives NaN out, forward and derivative (the textbook ``max(0, x)`` maps NaN to 0; relukit
  does not). relu(-0.0) is +0.0 (x for x > 0, else 0); torch's eager relu returns -0.0.
* Derivatives at kinks follow torch's autograd: relu'(0) = 0, leaky_relu'(0) = negative_slope,
  hardtanh'(min_val) = hardtanh'(max_val) = 0, elu'(0) = alpha.
* Floating dtypes are kept. relu, relu6, and threshold/hardtanh with integer bounds keep integer
  dtypes; every other member returns the namespace's default float for integer input. bool, complex
  and object input raise ``TypeError``.
* Smooth members are evaluated in float64 (where the namespace has it) and rounded once to the input
  dtype, so float32/float16/bfloat16 results are as accurate as their dtype allows.

This module does not import torch.
"""

from __future__ import annotations

import inspect
from typing import Any

import array_api_compat
import numpy as np

from relukit import catalog, formulas, kafmath
from relukit.catalog import Activation

__all__: list[str] = []


def _namespace(fn: str, x: Any) -> tuple[Any, Any, bool]:
    """(array, namespace, was a Python scalar)."""
    if isinstance(x, bool) or isinstance(x, complex):
        raise TypeError(f"{fn}: x must be a real number or a real array, got {type(x).__name__} {x!r}")
    scalar = isinstance(x, (int, float))
    if scalar or isinstance(x, np.generic):
        x = np.asarray(x)
    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError as error:
        raise TypeError(f"{fn}: x must be a number or an array, got {type(x).__name__}") from error
    return x, xp, scalar


def _kind(fn: str, x: Any, xp: Any) -> str:
    for kind in ("real floating", "integral"):
        try:
            if xp.isdtype(x.dtype, kind):
                return kind
        except (TypeError, ValueError):
            break
    raise TypeError(f"{fn}: x has unsupported dtype {x.dtype}; expected a real floating or integer dtype")


def _default_float(xp: Any, x: Any) -> Any:
    return xp.__array_namespace_info__().default_dtypes(device=array_api_compat.device(x))["real floating"]


def _working_dtype(xp: Any, x: Any) -> Any:
    """float64 where the namespace/device has it: one rounding at the end keeps results exact."""
    try:
        return xp.__array_namespace_info__().dtypes(device=array_api_compat.device(x), kind="real floating")["float64"]
    except (KeyError, TypeError, ValueError):
        return x.dtype


def _prepare(fn: str, entry: Activation, x: Any, params: dict[str, Any]) -> tuple[Any, Any, Any, bool]:
    """Returns (x in its working dtype, xp, output dtype, scalar input)."""
    x, xp, scalar = _namespace(fn, x)
    kind = _kind(fn, x, xp)
    if kind == "integral" and entry.piecewise_linear and entry.keeps_integers(**params):
        return x, xp, x.dtype, scalar
    out_dtype = x.dtype if kind == "real floating" else _default_float(xp, x)
    work = out_dtype if entry.piecewise_linear else _working_dtype(xp, x)
    return xp.astype(x, work), xp, out_dtype, scalar


def _finish(result: Any, xp: Any, dtype: Any, scalar: bool) -> Any:
    if result.dtype != dtype:
        result = xp.astype(result, dtype)
    if scalar:
        return result.item()
    if isinstance(result, np.ndarray) and result.ndim == 0:
        return result[()]
    return result


def derivative_from_codes(entry: Activation, x: Any, xp: Any, params: dict[str, Any]) -> Any:
    """``slopes[codes(x)]`` with NaN where x is NaN: the derivative of a piecewise-linear member."""
    codes = entry.codes(x, xp, **params)
    slopes = entry.slopes(**params)
    floating = xp.isdtype(x.dtype, "real floating")
    value = [float(s) if floating else int(s) for s in slopes]
    if xp.isdtype(codes.dtype, "bool"):
        derivative = xp.where(codes, xp.full_like(x, value[1]), value[0])
    else:
        derivative = xp.full_like(x, value[-1])
        for code in range(len(slopes) - 1):
            derivative = xp.where(codes == code, value[code], derivative)
    return xp.where(xp.isnan(x), x, derivative) if floating else derivative


def _channel_weight(fn: str, x: Any, xp: Any, weight: Any, channel_axis: int) -> Any:
    """The prelu weight reshaped to broadcast along ``channel_axis`` of x."""
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, int):
        raise TypeError(f"{fn}: channel_axis must be an int, got {channel_axis!r}")
    if isinstance(weight, (int, float)) and not isinstance(weight, bool):
        weight = catalog.finite(fn, "weight", weight)
        return xp.asarray(weight, dtype=x.dtype, device=array_api_compat.device(x))
    if not hasattr(weight, "shape"):
        weight = np.asarray(weight)
    weight_xp = array_api_compat.array_namespace(weight)
    if not (weight_xp.isdtype(weight.dtype, "real floating") or weight_xp.isdtype(weight.dtype, "integral")):
        raise TypeError(f"{fn}: weight must be a real number or a real array, got dtype {weight.dtype}")
    if not bool(weight_xp.all(weight_xp.isfinite(weight))):
        raise ValueError(f"{fn}: weight must be finite, got {weight!r}")
    weight = xp.asarray(weight, dtype=x.dtype, device=array_api_compat.device(x))
    size = 1
    for dim in weight.shape:
        size *= dim
    weight = xp.reshape(weight, (size,))
    if size == 1:
        return weight[0]
    if x.ndim < 2:
        raise ValueError(f"{fn}: weight has {size} values but x has no channel axis (x.ndim={x.ndim})")
    axis = channel_axis % x.ndim if -x.ndim <= channel_axis < x.ndim else None
    if axis is None or x.shape[axis] != size:
        raise ValueError(
            f"{fn}: weight of {size} values does not broadcast along channel_axis={channel_axis} "
            f"of x with shape {tuple(x.shape)}"
        )
    shape = [1] * x.ndim
    shape[axis] = size
    return xp.reshape(weight, tuple(shape))


def _evaluate(fn: str, entry: Activation, x: Any, params: dict[str, Any], derivative: bool) -> Any:
    x, xp, dtype, scalar = _prepare(fn, entry, x, params)
    if entry.takes_weight:
        params = {"weight": _channel_weight(fn, x, xp, params["weight"], params.pop("channel_axis"))}
    if not derivative:
        result = entry.forward(x, xp, **params)
    elif entry.derivative is not None:
        result = entry.derivative(x, xp, **params)
    else:
        result = derivative_from_codes(entry, x, xp, params)
    return _finish(result, xp, dtype, scalar)


def _signature(entry: Activation) -> inspect.Signature:
    x = inspect.Parameter("x", inspect.Parameter.POSITIONAL_ONLY)
    if entry.takes_weight:
        rest = [
            inspect.Parameter("weight", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("channel_axis", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=1),
        ]
    else:
        rest = [
            inspect.Parameter(
                p.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=inspect.Parameter.empty if p.default is catalog.REQUIRED else p.default,
            )
            for p in entry.params
        ]
    return inspect.Signature([x, *rest])


def _make(entry: Activation, derivative: bool):
    name = f"{entry.name}_derivative" if derivative else entry.name
    signature = _signature(entry)

    def function(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{name}: {error}") from None
        bound.apply_defaults()
        x = bound.arguments.pop("x")
        params = dict(bound.arguments)
        if not entry.takes_weight:
            params = entry.bind(name, params)
        return _evaluate(name, entry, x, params, derivative)

    formula = entry.derivative_formula if derivative else entry.formula
    what = f"Derivative of {entry.name}" if derivative else entry.summary
    function.__name__ = function.__qualname__ = name
    function.__signature__ = signature
    function.__doc__ = f"{what}\n\n.. math:: {formula}\n\nReference: {entry.reference or 'torch'}.\n"
    return function


def prelu_weight_derivative(x: Any, weight: Any = 0.25, channel_axis: int = 1) -> Any:
    """d prelu(x, weight) / d weight, elementwise: 0 where x > 0, else x (sum over non-channel axes
    to get the weight's gradient)."""
    fn = "prelu_weight_derivative"
    x, xp, dtype, scalar = _prepare(fn, catalog.BY_NAME["prelu"], x, {})
    _channel_weight(fn, x, xp, weight, channel_axis)  # validates the shape
    return _finish(formulas.prelu_weight_derivative(x, xp), xp, dtype, scalar)


def kaf(x: Any, alpha: Any, dictionary: Any, gamma: float, kernel: str = "gaussian", channel_axis: int = 1) -> Any:
    """Kernel activation function (Scardapane et al. 2017, arXiv:1707.04035), evaluated in float64.

    .. math:: g_c(x) = \\sum_{i=1}^{D} \\alpha_{c,i}\\, k(x, d_i), \\qquad k(x, d) = e^{-\\gamma (x - d)^2}

    ``alpha`` is (C, D) with C = x.shape[channel_axis], or (1, D) for one function shared by every
    element; ``kernel`` is "gaussian", "relu" or "softplus" (see :mod:`relukit.kafmath`).
    """
    x, xp, scalar = _namespace("kaf", x)
    dtype = x.dtype if _kind("kaf", x, xp) == "real floating" else _default_float(xp, x)
    work = xp.astype(x, _working_dtype(xp, x))
    return _finish(kafmath.evaluate("kaf", work, alpha, dictionary, gamma, xp, kernel, channel_axis), xp, dtype, scalar)


for _entry in catalog.MEMBERS:
    for _derivative in (False, True):
        _function = _make(_entry, _derivative)
        globals()[_function.__name__] = _function
        __all__.append(_function.__name__)
__all__ += ["prelu_weight_derivative", "kaf"]
del _entry, _derivative, _function

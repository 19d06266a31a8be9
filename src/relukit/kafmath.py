"""Kernel activation functions (Kafnets), the math, written once against the array API.

Scardapane, Van Vaerenbergh, Totaro & Uncini 2017, "Kafnets: kernel-based non-parametric activation
functions for neural networks" (arXiv:1707.04035). Each unit c has its own activation

.. math:: g_c(s) = \\sum_{i=1}^{D} \\alpha_{c,i}\\, k(s, d_i),
   \\qquad d = \\operatorname{linspace}(-b, b, D) \\text{ (fixed, shared)}

with the Gaussian kernel :math:`k(s, d) = e^{-\\gamma (s - d)^2}`, :math:`\\gamma = 1 / (6 \\Delta^2)`
(:math:`\\Delta` the grid step), or the ReLU / softplus kernels of the authors' reference code,
:math:`k(s, d) = \\max(0, s - d)` and :math:`\\log(1 + e^{s - d})`. The 2-D KAF mixes pairs of units
(s, t) over a D x D grid, :math:`g_c(s, t) = \\sum_{i,j} \\alpha_{c,i,j} e^{-\\gamma ((s - d_i)^2 + (t - d_j)^2)}`,
:math:`\\gamma = 1 / (4 \\Delta^2)`; the Gaussian factorizes, so it costs two 1-D kernels and a D x D product.

Every function here works on a *canonical* array of shape (B, C, S): B the axes before the channel
axis, C the channels, S the axes after it. ``relukit.array.kaf`` and the torch ops in
``relukit._ops.kaf`` (which evaluate these same functions on tiles) reshape to it. This module
imports NumPy only (for the ridge-regression initialization), never torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from relukit import catalog

KERNELS = ("gaussian", "relu", "softplus")
RIDGE_EPS = 1e-4  # the ridge of the initialization, as in the authors' PyTorch code


# ----------------------------------------------------------------------------------------------
# Dictionary, bandwidth, kernels
# ----------------------------------------------------------------------------------------------
def grid_step(D: int, boundary: float) -> float:
    """Delta, the spacing of ``linspace(-boundary, boundary, D)``."""
    return 2.0 * boundary / (D - 1)


def gaussian_gamma(D: int, boundary: float) -> float:
    """The paper's rule of thumb for the 1-D Gaussian kernel, gamma = 1 / (6 Delta^2)."""
    return 1.0 / (6.0 * grid_step(D, boundary) ** 2)


def gaussian_gamma_2d(D: int, boundary: float) -> float:
    """gamma = 1 / (4 Delta^2) for the 2-D KAF: the bandwidth sigma = sqrt(2) Delta of the 2-D grid."""
    return 1.0 / (4.0 * grid_step(D, boundary) ** 2)


def kernel_value(z: Any, gamma: float, kernel: str, xp: Any) -> Any:
    """k(s, d) as a function of z = s - d."""
    if kernel == "gaussian":
        return xp.exp(-gamma * (z * z))
    if kernel == "relu":
        return catalog.BY_NAME["relu"].forward(z, xp)
    return catalog.BY_NAME["softplus"].forward(z, xp)


def kernel_derivative(z: Any, gamma: float, kernel: str, xp: Any) -> Any:
    """d k(s, d) / d s as a function of z = s - d."""
    if kernel == "gaussian":
        return (-2.0 * gamma) * z * xp.exp(-gamma * (z * z))
    if kernel == "relu":
        return xp.astype(z > 0, z.dtype)  # 0 at the kink, as relu'(0) = 0
    return catalog.BY_NAME["softplus"].derivative(z, xp)


# ----------------------------------------------------------------------------------------------
# Forward and vector-Jacobian products on canonical (B, C, S) arrays
# ----------------------------------------------------------------------------------------------
def _distances(x3: Any, dictionary: Any, xp: Any) -> Any:
    return xp.expand_dims(x3, axis=-1) - dictionary  # (B, C, S, D)


def kaf(x3: Any, alpha: Any, dictionary: Any, gamma: float, kernel: str, xp: Any) -> Any:
    """g(x) = sum_i alpha[c, i] k(x, d_i); alpha is (C, D) or (1, D) (shared)."""
    K = kernel_value(_distances(x3, dictionary, xp), gamma, kernel, xp)
    return xp.sum(K * xp.expand_dims(alpha, axis=1), axis=-1)


def kaf_vjp(grad3: Any, x3: Any, alpha: Any, dictionary: Any, gamma: float, kernel: str, xp: Any) -> tuple[Any, Any]:
    """(grad_x, grad_alpha): grad * sum_i alpha_i k'(x, d_i), and sum over B, S of grad * k(x, d_i)."""
    z = _distances(x3, dictionary, xp)
    grad_x = grad3 * xp.sum(kernel_derivative(z, gamma, kernel, xp) * xp.expand_dims(alpha, axis=1), axis=-1)
    grad_alpha = xp.sum(xp.expand_dims(grad3, axis=-1) * kernel_value(z, gamma, kernel, xp), axis=(0, 2))
    if alpha.shape[0] == 1:
        grad_alpha = xp.sum(grad_alpha, axis=0, keepdims=True)
    return grad_x, grad_alpha


def _halves(x3: Any, dictionary: Any, gamma: float, xp: Any) -> tuple[Any, Any, Any, Any]:
    half = x3.shape[1] // 2
    z1 = _distances(x3[:, :half, :], dictionary, xp)
    z2 = _distances(x3[:, half:, :], dictionary, xp)
    return z1, z2, kernel_value(z1, gamma, "gaussian", xp), kernel_value(z2, gamma, "gaussian", xp)


def kaf2d(x3: Any, alpha: Any, dictionary: Any, gamma: float, xp: Any) -> Any:
    """g(s, t) = sum_ij alpha[c, i, j] k(s, d_i) k(t, d_j), s from the first half of the channels, t
    from the second; alpha is (C/2, D, D) or (1, D, D). Output (B, C/2, S)."""
    _, _, K1, K2 = _halves(x3, dictionary, gamma, xp)
    return xp.sum(K1 * xp.matmul(K2, xp.matrix_transpose(alpha)), axis=-1)


def kaf2d_vjp(grad3: Any, x3: Any, alpha: Any, dictionary: Any, gamma: float, xp: Any) -> tuple[Any, Any]:
    z1, z2, K1, K2 = _halves(x3, dictionary, gamma, xp)
    inner1 = xp.matmul(K1, alpha)  # sum_i K1_i alpha_ij, indexed by j
    inner2 = xp.matmul(K2, xp.matrix_transpose(alpha))  # sum_j alpha_ij K2_j, indexed by i
    grad1 = grad3 * xp.sum((-2.0 * gamma) * z1 * K1 * inner2, axis=-1)
    grad2 = grad3 * xp.sum((-2.0 * gamma) * z2 * K2 * inner1, axis=-1)
    weighted = xp.expand_dims(grad3, axis=-1) * K1  # (B, C2, S, D_i)
    grad_alpha = xp.sum(xp.matmul(xp.matrix_transpose(weighted), K2), axis=0)  # (C2, D_i, D_j)
    if alpha.shape[0] == 1:
        grad_alpha = xp.sum(grad_alpha, axis=0, keepdims=True)
    return xp.concat([grad1, grad2], axis=1), grad_alpha


# ----------------------------------------------------------------------------------------------
# Argument checks and the canonical shape
# ----------------------------------------------------------------------------------------------
def check_kernel(fn: str, kernel: Any) -> str:
    if kernel not in KERNELS:
        raise ValueError(f"{fn}: kernel must be one of {KERNELS}, got {kernel!r}")
    return kernel


def check_gamma(fn: str, gamma: Any) -> float:
    return float(catalog.positive(fn, "gamma", gamma))


def canonical_shape(
    fn: str, shape: tuple[int, ...], alpha_shape: tuple[int, ...], D: int, channel_axis: int, pairs: bool
) -> tuple[tuple[int, int, int], tuple[int, ...]]:
    """((B, C, S), output shape) for x of ``shape``; raises ValueError naming what does not fit."""
    name = "alpha"
    want = (D, D) if pairs else (D,)
    if len(alpha_shape) != len(want) + 1 or tuple(alpha_shape[1:]) != want:
        layout = "(channels/2, D, D)" if pairs else "(channels, D)"
        raise ValueError(f"{fn}: {name} must have shape {layout} with D={D} (the dictionary size), got {alpha_shape}")
    units = alpha_shape[0]
    if not isinstance(channel_axis, int) or isinstance(channel_axis, bool):
        raise TypeError(f"{fn}: channel_axis must be an int, got {channel_axis!r}")
    numel = math.prod(shape)
    if units == 1 and not pairs:  # one activation shared by every element
        return (1, 1, numel), tuple(shape)
    if not -len(shape) <= channel_axis < len(shape):
        raise ValueError(f"{fn}: channel_axis={channel_axis} is out of range for input of shape {tuple(shape)}")
    axis = channel_axis % len(shape)
    channels = shape[axis]
    if pairs and channels % 2:
        raise ValueError(f"{fn}: input must have an even number of channels (pairs), got {channels} on axis {axis}")
    expected = 2 * units if pairs else units
    if units != 1 and channels != expected:
        raise ValueError(
            f"{fn}: {name} has {units} rows but input has {channels} channels on axis {axis} "
            f"(input shape {tuple(shape)}; expected {expected})"
        )
    B, S = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
    out = list(shape)
    out[axis] = channels // 2 if pairs else channels
    return (B, channels, S), tuple(out)


def dictionary_size(fn: str, dictionary_shape: tuple[int, ...]) -> int:
    if len(dictionary_shape) != 1 or dictionary_shape[0] < 1:
        raise ValueError(f"{fn}: dictionary must be a non-empty 1-D array, got shape {tuple(dictionary_shape)}")
    return dictionary_shape[0]


# ----------------------------------------------------------------------------------------------
# Initialization by kernel ridge regression
# ----------------------------------------------------------------------------------------------
def ridge_alpha(fn: str, target: Callable[[Any], Any], D: int, boundary: float, gamma: float, kernel: str):
    """alpha = (K + eps I)^-1 f(d), K_ij = k(d_i, d_j), eps = 1e-4 (float64 NumPy array of length D), so
    that sum_j alpha_j k(s, d_j) ~ f(s) on [-boundary, boundary]. The ReLU kernel's K is singular
    (strictly triangular): its solution is f(d) / eps-sized, so it is refused."""
    if kernel == "relu":
        raise ValueError(
            f"{fn}: kernel='relu' cannot be initialized by kernel ridge regression (its kernel matrix is "
            "singular, condition number ~1e21); use init=None"
        )
    d = np.linspace(-boundary, boundary, D)
    K = kernel_value(d[:, None] - d[None, :], gamma, kernel, np)
    f = np.asarray(target(d), dtype=np.float64)
    if f.shape != d.shape or not np.all(np.isfinite(f)):
        raise ValueError(f"{fn}: init function must map the {D} dictionary points to {D} finite values, got {f!r}")
    return np.linalg.solve(K + RIDGE_EPS * np.eye(D), f)


def init_function(fn: str, init: Any) -> Callable[[Any], Any] | None:
    """The target of the ridge initialization: 'tanh', a catalog member's name (defaults), a callable
    (given a float64 NumPy array), or None (random initialization)."""
    if init is None or callable(init):
        return init
    if init == "tanh":
        return np.tanh
    if isinstance(init, str):
        try:
            entry = catalog.lookup(init)
        except ValueError:
            entry = None
        if (
            entry is not None
            and not any(p.default is catalog.REQUIRED for p in entry.params)
            and not entry.takes_weight
        ):
            return lambda d: entry.forward(d, np, **{p.name: p.default for p in entry.params})
    raise ValueError(
        f"{fn}: init must be 'relu', 'elu', 'tanh', another member's name, a callable or None, got {init!r}"
    )


# ----------------------------------------------------------------------------------------------
# Any layout: the public array entry point
# ----------------------------------------------------------------------------------------------
def evaluate(
    fn: str, x: Any, alpha: Any, dictionary: Any, gamma: Any, xp: Any, kernel: str = "gaussian", channel_axis: int = 1
) -> Any:
    """KAF of ``x`` (already in its working dtype) with channels on ``channel_axis``."""
    import array_api_compat

    device = array_api_compat.device(x)
    as_array = lambda v: xp.asarray(v if hasattr(v, "shape") else np.asarray(v), dtype=x.dtype, device=device)
    kernel = check_kernel(fn, kernel)
    gamma = check_gamma(fn, gamma)
    dictionary, alpha = as_array(dictionary), as_array(alpha)
    D = dictionary_size(fn, tuple(dictionary.shape))
    (B, C, S), out_shape = canonical_shape(fn, tuple(x.shape), tuple(alpha.shape), D, channel_axis, pairs=False)
    y3 = kaf(xp.reshape(x, (B, C, S)), alpha, dictionary, gamma, kernel, xp)
    return xp.reshape(y3, out_shape)

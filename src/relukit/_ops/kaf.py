"""KAF and 2-D KAF as ``torch.library`` ops that keep only the input for backward.

A naive KAF builds the (..., D) kernel tensor k(x, d_i) and autograd keeps it and the distances
x - d_i: 2D times the activation's memory (40x at D=20). ``relukit::kaf(x3, alpha, dictionary, gamma, kernel,
pairs)`` evaluates ``relukit.kafmath`` tile by tile, so the (..., D) tensor never exists beyond one tile
of ~2^20 elements, and saves only x (alpha and the dictionary are parameters/buffers, alive anyway).
Backward recomputes the kernel tile by tile; it is a composition of differentiable torch ops, so
double backward works. ``x3`` is the canonical (B, C, S) view (channels in the middle). Under
``torch.func`` transforms, which cannot see through ``register_autograd``, the untiled formula runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from relukit import kafmath
from relukit._ops.traceable import xp_traceable as xp

TILE_ELEMENTS = 1 << 20  # elements of the (b, C, s, D) kernel tensor per tile (4 MiB in float32)


def tiles(shape: tuple[int, int, int], width: int) -> Iterator[tuple[slice, slice]]:
    """(rows of B, columns of S) covering (B, C, S) so that each tile holds ~TILE_ELEMENTS x ``width``."""
    B, C, S = shape
    per_column = max(1, C * width)
    if S * per_column <= TILE_ELEMENTS:
        rows = max(1, TILE_ELEMENTS // max(1, S * per_column))
        for b in range(0, B, rows):
            yield slice(b, min(b + rows, B)), slice(0, S)
        return
    columns = max(1, TILE_ELEMENTS // per_column)
    for b in range(B):
        for s in range(0, S, columns):
            yield slice(b, b + 1), slice(s, min(s + columns, S))


def _work_dtype(x: torch.Tensor, alpha: torch.Tensor) -> torch.dtype:
    """float32 at least: half-precision sums of D exponentials lose too much."""
    return torch.promote_types(torch.promote_types(x.dtype, alpha.dtype), torch.float32)


def _width(alpha: torch.Tensor, pairs: bool) -> int:
    D = alpha.shape[-1]
    return 3 * D if pairs else D  # a 2-D tile holds K1, K2 and their product with alpha


def _forward(x3, alpha, dictionary, gamma, kernel, pairs):
    work = _work_dtype(x3, alpha)
    alpha, dictionary = alpha.to(work), dictionary.to(work)
    B, C, S = x3.shape
    y3 = x3.new_empty((B, C // 2 if pairs else C, S))
    for rows, columns in tiles(tuple(x3.shape), _width(alpha, pairs)):
        tile = x3[rows, :, columns].to(work)
        if pairs:
            y3[rows, :, columns] = kafmath.kaf2d(tile, alpha, dictionary, gamma, xp)
        else:
            y3[rows, :, columns] = kafmath.kaf(tile, alpha, dictionary, gamma, kernel, xp)
    return y3


@torch.library.custom_op("relukit::kaf", mutates_args=())
def kaf_forward(
    x3: torch.Tensor, alpha: torch.Tensor, dictionary: torch.Tensor, gamma: float, kernel: str, pairs: bool
) -> torch.Tensor:
    return _forward(x3, alpha, dictionary, gamma, kernel, pairs)


@kaf_forward.register_fake
def _(x3, alpha, dictionary, gamma, kernel, pairs):
    B, C, S = x3.shape
    return x3.new_empty((B, C // 2 if pairs else C, S))


def vjp(grad3, x3, alpha, dictionary, gamma, kernel, pairs, need_x=True, need_alpha=True):
    """(grad_x3, grad_alpha), recomputing the kernel tile by tile; differentiable torch ops only."""
    work = _work_dtype(x3, alpha)
    alpha_w, dictionary = alpha.to(work), dictionary.to(work)
    grad_x = torch.empty_like(x3) if need_x else None
    grad_alpha = torch.zeros_like(alpha_w) if need_alpha else None
    for rows, columns in tiles(tuple(x3.shape), _width(alpha, pairs)):
        tile, grad_tile = x3[rows, :, columns].to(work), grad3[rows, :, columns].to(work)
        if pairs:
            gx, ga = kafmath.kaf2d_vjp(grad_tile, tile, alpha_w, dictionary, gamma, xp)
        else:
            gx, ga = kafmath.kaf_vjp(grad_tile, tile, alpha_w, dictionary, gamma, kernel, xp)
        if need_x:
            grad_x[rows, :, columns] = gx
        if need_alpha:
            grad_alpha = grad_alpha + ga
    return grad_x, None if grad_alpha is None else grad_alpha.to(alpha.dtype)


def _setup_context(ctx, inputs, output) -> None:
    x3, alpha, dictionary, gamma, kernel, pairs = inputs
    ctx.save_for_backward(x3, alpha, dictionary)
    ctx.gamma, ctx.kernel, ctx.pairs = gamma, kernel, pairs


def _backward(ctx, grad3):
    x3, alpha, dictionary = ctx.saved_tensors
    need_x, need_alpha = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    grad_x, grad_alpha = vjp(grad3, x3, alpha, dictionary, ctx.gamma, ctx.kernel, ctx.pairs, need_x, need_alpha)
    return grad_x, grad_alpha, None, None, None, None


kaf_forward.register_autograd(_backward, setup_context=_setup_context)


# ----------------------------------------------------------------------------------------------
# The functional forms
# ----------------------------------------------------------------------------------------------
def _check(fn: str, x: Any, alpha: Any, dictionary: Any) -> None:
    for arg, value in (("input", x), ("alpha", alpha), ("dictionary", dictionary)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{fn}: {arg} must be a torch.Tensor, got {type(value).__name__}")
        if not value.is_floating_point():
            raise TypeError(f"{fn}: {arg} must have a floating dtype, got {value.dtype}")


def apply(fn, x, alpha, dictionary, gamma, kernel, channel_axis, pairs):
    """Checks the arguments (errors name ``fn``) and runs the op on the canonical view of ``x``."""
    _check(fn, x, alpha, dictionary)
    kernel = kafmath.check_kernel(fn, kernel)
    gamma = kafmath.check_gamma(fn, gamma)
    D = kafmath.dictionary_size(fn, tuple(dictionary.shape))
    shape3, out_shape = kafmath.canonical_shape(fn, tuple(x.shape), tuple(alpha.shape), D, channel_axis, pairs)
    x3, dictionary = x.reshape(shape3), dictionary.detach()
    if torch._C._are_functorch_transforms_active():  # torch.func cannot see through register_autograd
        if pairs:
            return kafmath.kaf2d(x3, alpha, dictionary, gamma, xp).reshape(out_shape)
        return kafmath.kaf(x3, alpha, dictionary, gamma, kernel, xp).reshape(out_shape)
    return kaf_forward(x3, alpha, dictionary, gamma, kernel, pairs).reshape(out_shape)


def kaf(
    input: torch.Tensor,
    alpha: torch.Tensor,
    dictionary: torch.Tensor,
    gamma: float,
    kernel: str = "gaussian",
    channel_axis: int = 1,
) -> torch.Tensor:
    """Kernel activation function (Scardapane et al. 2017, arXiv:1707.04035).

    .. math:: g_c(x) = \\sum_{i=1}^{D} \\alpha_{c,i}\\, k(x, d_i), \\qquad k(x, d) = e^{-\\gamma (x - d)^2}

    Args:
        input: any shape, channels on ``channel_axis``.
        alpha: (C, D) mixing coefficients, C = input.shape[channel_axis]; (1, D) shares one function.
        dictionary: the D fixed points d_i (1-D).
        gamma: Gaussian bandwidth (> 0; the paper's rule is 1 / (6 Delta^2), ``kafmath.gaussian_gamma``).
        kernel: "gaussian", "relu" (max(0, x - d)) or "softplus" (log(1 + e^(x - d))).

    Returns a tensor shaped like ``input``. Autograd keeps only ``input``; gradients flow to input and alpha.
    """
    return apply("kaf", input, alpha, dictionary, gamma, kernel, channel_axis, pairs=False)


def kaf2d(
    input: torch.Tensor, alpha: torch.Tensor, dictionary: torch.Tensor, gamma: float, channel_axis: int = 1
) -> torch.Tensor:
    """2-D kernel activation function over pairs of channels (Scardapane et al. 2017, Sec. 3.3).

    .. math:: g_c(s, t) = \\sum_{i,j} \\alpha_{c,i,j}\\, e^{-\\gamma ((s - d_i)^2 + (t - d_j)^2)}

    Channel c of the output mixes channel c (s) and channel c + C/2 (t) of ``input`` (C even); alpha is
    (C/2, D, D) (or (1, D, D), shared); gamma's rule is 1 / (4 Delta^2) (``kafmath.gaussian_gamma_2d``).
    The output has C/2 channels.
    """
    return apply("kaf2d", input, alpha, dictionary, gamma, "gaussian", channel_axis, pairs=True)

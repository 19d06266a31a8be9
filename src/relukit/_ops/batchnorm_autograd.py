r"""The autograd of relukit.nn.BatchNormAct in training (relukit.batchnorm_act has the math): torch's
BatchNorm ops in ``autograd.Function``\ s that keep only the activation's output (invertible members), or
for relu / relu6 the output and the BN outputs it hides, or inside a sparse storage the BN output itself
(with its C++ route, csrc/bnact.cpp)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from relukit import catalog
from relukit import formulas as fx


def _elu_form(name: str, params: Mapping[str, Any]) -> tuple[float, float, float]:
    """(alpha, scale, divisor) of fx.elu for elu, celu and selu."""
    if name == "selu":
        return fx.SELU_ALPHA, fx.SELU_SCALE, 1.0
    return params["alpha"], 1.0, params["alpha"] if name == "celu" else 1.0


def _activate_(z: torch.Tensor, name: str, params: Mapping[str, Any]) -> torch.Tensor:
    if name == "identity":
        return z
    return getattr(F, catalog.BY_NAME[name].torch_op)(z, **params, inplace=True)  # F has no relu6_


def _inverse_and_grad(y: torch.Tensor, grad_y: torch.Tensor, name: str, params: Mapping[str, Any]):
    """z = f^-1(y) and dz = dy f'(z), the derivative read from y (torch's own ``*_backward`` ops)."""
    if name == "identity":
        return y, grad_y
    if name == "leaky_relu":
        slope = params["negative_slope"]
        return fx.leaky_relu_inverse(y, torch, slope), torch.ops.aten.leaky_relu_backward(grad_y, y, slope, True)
    alpha, scale, divisor = _elu_form(name, params)
    z = fx.elu_inverse(y, torch, alpha, scale, divisor).clamp_(min=divisor * math.log(torch.finfo(y.dtype).eps))
    return z, torch.ops.aten.elu_backward(grad_y, alpha, scale, 1.0 / divisor, True, y)


class _InPlaceActivatedBatchNorm(torch.autograd.Function):
    """Training BatchNorm + activation that keeps only y (and per-channel weight, bias, 1/std)."""

    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, factor, eps, name, params):  # noqa: ANN001
        z, _, invstd = torch.ops.aten.native_batch_norm(
            input, weight, bias, running_mean, running_var, True, factor, eps
        )
        y = _activate_(z, name, params)
        ctx.activation, ctx.activation_params, ctx.eps = name, params, eps  # not ctx.name: Node.name()
        ctx.save_for_backward(y, weight, bias, invstd)
        return y

    @staticmethod
    def backward(ctx, grad_y):  # noqa: ANN001
        y, weight, bias, invstd = ctx.saved_tensors
        z, grad_z = _inverse_and_grad(y, grad_y, ctx.activation, ctx.activation_params)
        grads = _batch_norm_backward(ctx, grad_z, z, weight, bias, invstd)
        return *grads, None, None, None, None, None, None


def _relu(name: str):  # noqa: ANN202
    return F.relu6 if name == "relu6" else torch.relu  # torch's ops: stock's values


class _PartlyInvertedBatchNorm(torch.autograd.Function):
    """Training BatchNorm + relu / relu6, keeping the per-channel weight, bias and 1/std and either

    * the BN output z, inside a :class:`relukit.sparse.SparseStorage`: y is declared ``relu(z)``
      (:func:`relukit.sparse.derive`), so the next layer's save of y costs nothing and is recomputed from z;
      also while torch.compile traces (its partitioner then decides what the graph keeps);
    * otherwise y and the BN outputs y does not show, ``z - y``, compacted: 0 where y is z, z itself below 0,
      and for relu6 ``z - 6`` above 6 (exact up to 12, Sterbenz; rounded beyond, where relu6' is 0 and only
      BN's backward reads z). Backward rebuilds ``z = y + (z - y)``; both are one vectorised pass, no mask.

    The gradients are the same bits either way: relu's derivative read from z or from y agrees."""

    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, factor, eps, name):  # noqa: ANN001
        from relukit import sparse

        z, _, invstd = torch.ops.aten.native_batch_norm(
            input, weight, bias, running_mean, running_var, True, factor, eps
        )
        y = _relu(name)(z)
        ctx.activation, ctx.eps, ctx.keeps_z = name, eps, False
        compiling = torch.compiler.is_compiling()  # the partitioner may recompute y from z for later saves
        if compiling or sparse.storing():
            ctx.keeps_z = True
            ctx.save_for_backward(z, weight, bias, invstd)
            if not compiling:
                sparse.derive(y, z, _relu(name))
        else:
            hidden = z.sub_(y)
            stored = sparse.compact(hidden)
            ctx.compacted = stored is not None
            ctx.save_for_backward(y, weight, bias, invstd, *(stored or (hidden,)))
        return y

    @staticmethod
    def backward(ctx, grad_y):  # noqa: ANN001
        from relukit import sparse

        if ctx.keeps_z:
            z, weight, bias, invstd = ctx.saved_tensors
            y = z  # relu's derivative from z: z <= 0 exactly where relu(z) <= 0 (-0.0 and NaN included)
        else:
            y, weight, bias, invstd, *stored = ctx.saved_tensors
            z = sparse.expand(*stored, y).add_(y) if ctx.compacted else stored[0] + y
        if ctx.activation == "relu6":  # torch's own backward ops (relu's reads its output)
            grad_z = torch.ops.aten.hardtanh_backward(grad_y, z, 0.0, 6.0)
        else:
            grad_z = torch.ops.aten.threshold_backward(grad_y, y, 0)
        del y  # an unpacked copy (sparse storage): freed before BN's backward allocates its dx
        grads = _batch_norm_backward(ctx, grad_z, z, weight, bias, invstd)
        return *grads, None, None, None, None, None


def _native_keeping_z(input, weight, bias, running_mean, running_var, factor, eps, name):  # noqa: ANN001, ANN202
    """_PartlyInvertedBatchNorm's z-keeping route in one C++ call each way (csrc/bnact.cpp, the same ops),
    for a plain eager call inside a SparseStorage; None where it does not apply (the full path runs)."""
    from relukit import intercept, sparse
    from relukit._ops import native

    if torch.compiler.is_compiling() or not sparse.storing():
        return None
    extension = native.module()
    if extension is None:
        return None
    modes_checked = intercept.only_lean_modes()  # relukit.lean's own mode: it takes the ReLU family's calls only
    relu6 = name == "relu6"
    pair = extension.try_batch_norm_relu(
        input, weight, bias, running_mean, running_var, factor, eps, relu6, modes_checked
    )
    if pair is None:
        return None
    y, z = pair
    sparse.derive(y, z, _relu(name))
    return y


def _batch_norm_backward(ctx, grad_z, z, weight, bias, invstd):  # noqa: ANN001
    """(dx, dγ, dβ) from the BN output z: torch's native_batch_norm_backward with β as the mean and 1/γ as
    the inverse deviation, so that its x_hat is (z - β) / γ."""
    if weight is None:  # gamma = 1, beta = 0
        mean, inverse_deviation, scale = torch.zeros_like(invstd), torch.ones_like(invstd), invstd
    else:  # torch's x_hat = (z - mean) * inverse_deviation, dx = scale * inverse_deviation * (...)
        mean, inverse_deviation, scale = bias, weight.reciprocal(), weight * weight * invstd
    mask = [ctx.needs_input_grad[0], weight is not None and ctx.needs_input_grad[1],
            bias is not None and ctx.needs_input_grad[2]]  # fmt: skip
    return torch.ops.aten.native_batch_norm_backward(
        grad_z, z, scale, None, None, mean, inverse_deviation, True, ctx.eps, mask
    )

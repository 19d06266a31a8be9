r"""In-place activated BatchNorm (Rota Bulò, Porzi & Kontschieder, CVPR 2018) for invertible members.

.. math::

    y = f(z), \qquad z = \gamma \hat x + \beta, \qquad \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}

``BatchNorm`` followed by an activation keeps two tensors for backward: BN's input :math:`x` and the
activation's input :math:`z` (or its output). When :math:`f` is invertible, :math:`y` alone is enough:
backward recovers :math:`z = f^{-1}(y)` and :math:`\hat x = (z - \beta) / \gamma`, then

.. math::

    dz = dy\, f'(z), \quad d\beta = \textstyle\sum dz, \quad d\gamma = \sum dz\, \hat x, \quad
    dx = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}} \Big(dz - \overline{dz} - \hat x\, \overline{dz\, \hat x}\Big)

(means over every axis but the channel). The statistics, the running-statistics update and that backward
are torch's own ops (``native_batch_norm``; ``native_batch_norm_backward`` given :math:`\beta` as the
mean and :math:`1/\gamma` as the inverse deviation, so its :math:`\hat x` is the one above); the inverses
are :func:`relukit.formulas.leaky_relu_inverse` and :func:`relukit.formulas.elu_inverse`.

Invertible here: ``leaky_relu`` with ``negative_slope > 0``, ``elu`` and ``celu`` with ``alpha > 0``,
``selu``, and ``identity``. ``relu`` and ``relu6`` are invertible where they pass :math:`z` through
(:math:`0 < z`, and :math:`z < 6` for relu6): there :math:`z = y`, and only the other BN outputs are
kept, as a 1-bit mask and their values (:func:`relukit.sparse.compact`; about half of them at
initialisation), beside :math:`y`, which the next layer usually saves anyway. Inside a
:class:`relukit.sparse.SparseStorage` (``relukit.lean(model, sparse=True)``) they keep :math:`z` itself
instead and declare :math:`y = \operatorname{relu}(z)` (:func:`relukit.sparse.derive`): the next layer's
save of :math:`y` then costs no bytes and is recomputed from :math:`z` for backward, one pass with no
compaction either way. Anything else is refused
(ValueError). A weight exactly 0 makes
:math:`\hat x` unrecoverable: a training forward that needs gradients then raises ValueError (there is no
silent fallback; under ``torch.compile`` the check, a read of the weight on the host, is skipped and such
a channel's gradients are not finite). Small :math:`|\gamma|` and, for the ELU family, BN outputs far below 0 (where
:math:`e^z` underflows against 1) lose digits in the inversion; recovered :math:`z` is clamped at
:math:`\text{divisor} \cdot \ln(\text{eps})`, where ``expm1`` has saturated.

Statistics are each process's own: the classes derive from torch's ``_NormBase`` (the parameters,
buffers, ``state_dict`` and loading rules of ``BatchNorm``) but not from ``_BatchNorm``, so
``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` leaves them as they are instead of replacing them by a
``SyncBatchNorm`` without the activation. ``relukit.lean(model, abn=True)`` never fuses a
``SyncBatchNorm``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.utils.weak import WeakIdKeyDictionary

from relukit import catalog
from relukit import formulas as fx

__all__ = [
    "BatchNormAct1d",
    "BatchNormAct2d",
    "BatchNormAct3d",
    "INVERTIBLE",
    "PARTLY_INVERTIBLE",
    "SkipActivated",
    "fuse",
]

INVERTIBLE = ("identity", "leaky_relu", "elu", "celu", "selu")
PARTLY_INVERTIBLE = ("relu", "relu6")  # z = y where y is strictly inside (0, top); the other z are kept
# Outputs of relu / relu6 BatchNormActs (eager): tensor -> its activation; see SkipActivated
_ACTIVATED: WeakIdKeyDictionary = WeakIdKeyDictionary()


def check_activation(fn: str, activation: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The catalog name and checked parameters of an invertible activation; ValueError otherwise."""
    if str(activation).lower() == "identity":
        if params:
            raise TypeError(f"{fn}: activation 'identity' takes no parameters, got {sorted(params)}")
        return "identity", {}
    try:
        entry = catalog.lookup(activation)
    except ValueError:
        entry = None
    if entry is None or entry.name not in INVERTIBLE + PARTLY_INVERTIBLE:
        names = ", ".join(INVERTIBLE + PARTLY_INVERTIBLE)
        raise ValueError(f"{fn}: activation must be invertible, one of {names}; got {activation!r}")
    bound = entry.bind(fn, dict(params))
    for name in ("negative_slope", "alpha"):
        if name in bound and not bound[name] > 0:
            raise ValueError(
                f"{fn}: {name} must be > 0 for {entry.name} to be invertible (in-place activated BatchNorm), "
                f"got {bound[name]!r}"
            )
    return entry.name, bound


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
        if torch.compiler.is_compiling():  # the compaction's size is data-dependent: hidden part kept dense
            ctx.compacted = False
            ctx.save_for_backward(y, weight, bias, invstd, z.sub_(y))
        elif sparse.storing():
            ctx.keeps_z = True
            ctx.save_for_backward(z, weight, bias, invstd)
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


class _BatchNormAct(_NormBase):
    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        activation: str = "leaky_relu",
        activation_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.activation, self.activation_params = check_activation(
            type(self).__name__, activation, activation_params or {}
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        y = self._forward(input)
        if self.activation in PARTLY_INVERTIBLE and not torch.compiler.is_compiling():
            _ACTIVATED[y] = self.activation
        return y

    def _forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)  # the bookkeeping of torch's _BatchNorm.forward
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        batch_statistics = self.training or (self.running_mean is None and self.running_var is None)
        keep_running = not self.training or self.track_running_stats
        running_mean = self.running_mean if keep_running else None
        running_var = self.running_var if keep_running else None
        if not batch_statistics:  # eval: a plain BatchNorm, then the activation
            z = F.batch_norm(input, running_mean, running_var, self.weight, self.bias, False, 0.0, self.eps)
            return _activate_(z, self.activation, self.activation_params)
        weight = self.weight
        if self.activation in PARTLY_INVERTIBLE:
            y = _native_keeping_z(
                input, weight, self.bias, running_mean, running_var, factor, self.eps, self.activation
            )
            if y is not None:
                return y
        # the check reads the weight on the host: skipped while torch.compile traces (fullgraph stays whole)
        checked = weight is not None and torch.is_grad_enabled() and not torch.compiler.is_compiling()
        if checked and bool((weight == 0).any()):
            channels = torch.nonzero(weight == 0).flatten().tolist()
            raise ValueError(
                f"{type(self).__name__}: weight must be non-zero in training (backward recovers "
                f"x_hat = (z - bias) / weight), got 0 at channel(s) {channels}"
            )
        if self.activation in PARTLY_INVERTIBLE:
            return _PartlyInvertedBatchNorm.apply(
                input, weight, self.bias, running_mean, running_var, factor, self.eps, self.activation
            )
        return _InPlaceActivatedBatchNorm.apply(
            input, weight, self.bias, running_mean, running_var, factor, self.eps,
            self.activation, self.activation_params,
        )  # fmt: skip

    def extra_repr(self) -> str:
        params = "".join(f", {k}={v}" for k, v in self.activation_params.items())
        return f"{super().extra_repr()}, activation={self.activation}{params}"


class BatchNormAct1d(_BatchNormAct):
    r"""``BatchNorm1d`` followed by an invertible activation, keeping only the output for backward (relu and
    relu6: and the BN outputs they hide, compacted).

    :math:`y = f(\gamma (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta)`; see :mod:`relukit.batchnorm_act`.

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype: as ``torch.nn.BatchNorm1d``.
        activation: ``"leaky_relu"`` (default), ``"elu"``, ``"celu"``, ``"selu"`` or ``"identity"``.
        activation_params: the activation's parameters (``{"negative_slope": 0.1}``); defaults torch's.

    Shape:
        - Input: :math:`(N, C)` or :math:`(N, C, L)`. Output: same shape.

    Examples::

        >>> m = BatchNormAct1d(4, activation="elu", activation_params={"alpha": 0.5})
        >>> m(torch.randn(8, 4)).shape
        torch.Size([8, 4])
    """

    _check_input_dim = nn.BatchNorm1d._check_input_dim


class BatchNormAct2d(_BatchNormAct):
    r"""``BatchNorm2d`` followed by an invertible activation, keeping only the output for backward (relu and
    relu6: and the BN outputs they hide, compacted).

    :math:`y = f(\gamma (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta)`; see :mod:`relukit.batchnorm_act`.

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype: as ``torch.nn.BatchNorm2d``.
        activation: ``"leaky_relu"`` (default), ``"elu"``, ``"celu"``, ``"selu"`` or ``"identity"``.
        activation_params: the activation's parameters (``{"negative_slope": 0.1}``); defaults torch's.

    Shape:
        - Input: :math:`(N, C, H, W)`. Output: same shape.

    Examples::

        >>> m = BatchNormAct2d(3, activation_params={"negative_slope": 0.1})
        >>> m(torch.randn(2, 3, 4, 4)).shape
        torch.Size([2, 3, 4, 4])
    """

    _check_input_dim = nn.BatchNorm2d._check_input_dim


class BatchNormAct3d(_BatchNormAct):
    r"""``BatchNorm3d`` followed by an invertible activation, keeping only the output for backward (relu and
    relu6: and the BN outputs they hide, compacted).

    :math:`y = f(\gamma (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta)`; see :mod:`relukit.batchnorm_act`.

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype: as ``torch.nn.BatchNorm3d``.
        activation: ``"leaky_relu"`` (default), ``"elu"``, ``"celu"``, ``"selu"`` or ``"identity"``.
        activation_params: the activation's parameters (``{"negative_slope": 0.1}``); defaults torch's.

    Shape:
        - Input: :math:`(N, C, D, H, W)`. Output: same shape.

    Examples::

        >>> m = BatchNormAct3d(3, activation="selu")
        >>> m(torch.randn(2, 3, 2, 4, 4)).shape
        torch.Size([2, 3, 2, 4, 4])
    """

    _check_input_dim = nn.BatchNorm3d._check_input_dim


class SkipActivated(nn.Module):
    """An activation module (relu / relu6) that ``relukit.lean(model, abn=True)`` fused with a BatchNorm
    for one of its calls while other calls still run it (torchvision's BasicBlock calls one ``ReLU`` after
    ``bn1`` and after the residual add): the output of a BatchNormAct with the same activation passes
    through unchanged, anything else goes to ``act``. relu and relu6 are idempotent, so this changes no
    value; it spares the pass and the tensor a second application would save. Under ``torch.compile``
    every input goes to ``act``."""

    def __init__(self, act: nn.Module, activation: str) -> None:
        super().__init__()
        self.act = act
        self.activation = activation

    def forward(self, input: Any) -> Any:
        if isinstance(input, torch.Tensor) and not torch.compiler.is_compiling():
            if _ACTIVATED.get(input) == self.activation:
                return input
        return self.act(input)

    def extra_repr(self) -> str:
        return f"activation={self.activation}"


_FUSED = {nn.BatchNorm1d: BatchNormAct1d, nn.BatchNorm2d: BatchNormAct2d, nn.BatchNorm3d: BatchNormAct3d}


def fuse(bn: nn.Module, activation: nn.Module) -> _BatchNormAct | None:
    """A BatchNormAct computing ``activation(bn(x))`` and sharing ``bn``'s parameters and buffers (so an
    optimizer holding them keeps working), or None where the pair does not qualify: ``bn`` not exactly a
    torch ``BatchNorm1d/2d/3d`` (``SyncBatchNorm`` and subclasses stay), or ``activation`` not invertible."""
    from relukit import nn as rnn

    cls = _FUSED.get(type(bn))
    entry = rnn.module_entry(activation)
    if cls is None or entry is None or entry.name not in INVERTIBLE + PARTLY_INVERTIBLE:
        return None
    params = {p.name: getattr(activation, p.name) for p in entry.params}
    try:
        check_activation("fuse", entry.name, params)
    except ValueError:
        return None
    fused = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, device="meta",
                activation=entry.name, activation_params=params)  # fmt: skip
    for name in ("weight", "bias"):
        setattr(fused, name, getattr(bn, name))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        fused._buffers[name] = bn._buffers.get(name)
    return fused.train(bn.training)

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

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.utils.weak import WeakIdKeyDictionary

from relukit import catalog
from relukit._ops.batchnorm_autograd import (
    _activate_,
    _InPlaceActivatedBatchNorm,
    _native_keeping_z,
    _PartlyInvertedBatchNorm,
)

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
# Outputs of relu / relu6 BatchNormActs (eager): tensor -> (its activation, its version); see SkipActivated
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
            _ACTIVATED[y] = (self.activation, y._version)
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
        if not isinstance(act, nn.Module):
            raise TypeError(f"SkipActivated: act must be an nn.Module, got {type(act).__name__}")
        if activation not in PARTLY_INVERTIBLE:
            raise ValueError(f"SkipActivated: activation must be relu or relu6 (idempotent), got {activation!r}")
        super().__init__()
        self.act = act
        self.activation = activation

    def forward(self, input: Any) -> Any:
        if isinstance(input, torch.Tensor) and not torch.compiler.is_compiling():
            if _ACTIVATED.get(input) == (self.activation, input._version):  # not changed in place since
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

r"""revive: bring dead ReLU units back, and the other fixes for dying units.

``revive(model, report)`` re-initializes, for every dead unit u of a report, the incoming weights of the
Linear/Conv layer feeding it (its row/filter u) from He's normal :math:`w \sim \mathcal{N}(0, 2/\text{fan\_in})`
(He, Zhang, Ren & Sun 2015) and sets its bias to a small positive value, so the unit fires on some
inputs again. When a BatchNorm/GroupNorm/LayerNorm sits between that layer and the activation, its
scale for u is set to 1, its shift to the same small positive value, and BatchNorm's running mean and
variance for u to 0 and 1. Every other weight stays bit-identical. This is ReDo's reset (Sokar et al.
2023) without zeroing the outgoing weights, so the unit starts contributing at once.

Other fixes, with the API for each:

* leaky members cannot die (a negative input still passes slope * g):
  ``relukit.convert(model, "leaky_relu")`` (Maas, Hannun & Ng 2013), or
  ``relukit.convert(model, "prelu")`` with ``relukit.param_groups(model, weight_decay)`` so the learned
  slopes get no weight decay (He et al. 2015);
* a lower learning rate: a large step pushes a unit's bias far negative in one update;
* He initialization at the start, ``torch.nn.init.kaiming_normal_(w, nonlinearity="relu")``, and an
  asymmetric or slightly positive bias (Lu, Shin, Su & Karniadakis 2020: deep, narrow ReLU nets with
  symmetric initialization are born dead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from relukit.diagnostics.dead import unwrap
from relukit.diagnostics.reports import DeadUnitReport

__all__ = ["revive"]

_HOW = ("reinit",)


def _layers(report: Any) -> list[dict[str, Any]]:
    if isinstance(report, DeadUnitReport):
        return [s.to_dict() for s in report.layers]
    if isinstance(report, Mapping) and isinstance(report.get("layers"), list):
        return list(report["layers"])
    raise TypeError(f"revive: report must be a DeadUnitReport or its to_dict(), got {type(report).__name__}")


def _reset_norm(norm: nn.Module, index: torch.Tensor, bias: float) -> None:
    if getattr(norm, "weight", None) is not None:
        norm.weight[index] = 1.0
    if getattr(norm, "bias", None) is not None:
        norm.bias[index] = bias
    if getattr(norm, "running_mean", None) is not None:
        norm.running_mean[index] = 0.0
        norm.running_var[index] = 1.0


def revive(
    model: nn.Module, report: Any, *, how: str = "reinit", bias: float = 0.01, generator: torch.Generator | None = None
) -> dict[str, dict[str, Any]]:
    """Re-initializes the incoming weights of every dead unit in ``report`` (in place).

    Args:
        model: the model the report was taken on.
        report: a ``DeadUnitReport`` or its ``to_dict()``.
        how: "reinit" (He-normal incoming weights, bias = ``bias``).
        bias: the small positive bias given to revived units. Default: 0.01
        generator: a CPU ``torch.Generator`` for reproducible weights.

    Returns:
        ``{"revived": {layer: [unit, ...]}, "skipped": {layer: reason}}``; a layer is skipped when no
        Linear/Conv layer feeding it was seen.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"revive: model must be an nn.Module, got {type(model).__name__}")
    if how not in _HOW:
        raise ValueError(f"revive: how must be one of {list(_HOW)}, got {how!r}")
    if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not math.isfinite(bias) or bias <= 0:
        raise ValueError(f"revive: bias must be a finite number > 0, got {bias!r}")
    modules = dict(unwrap(model).named_modules())
    revived: dict[str, list[int]] = {}
    skipped: dict[str, str] = {}
    for layer in _layers(report):
        units = layer.get("dead_units")
        if not units:
            continue
        producer = modules.get(layer.get("producer") or "")
        if layer.get("producer") is None or producer is None:
            skipped[layer["name"]] = "no Linear/Conv layer feeding it was seen"
            continue
        weight = producer.weight
        index = torch.tensor(units, device=weight.device)
        fan_in = weight[0].numel()  # Linear: in_features; Conv: in_channels / groups * kernel size
        fresh = torch.randn((len(units), *weight.shape[1:]), generator=generator, dtype=torch.float64)
        with torch.no_grad():
            weight[index] = (fresh * math.sqrt(2.0 / fan_in)).to(weight)
            if producer.bias is not None:
                producer.bias[index] = bias
            if layer.get("norm") in modules:
                _reset_norm(modules[layer["norm"]], index, bias)
        revived[layer["name"]] = list(units)
    return {"revived": revived, "skipped": skipped}

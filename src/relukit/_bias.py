"""The 1-D bias of ``bias_act``: its checks and the shape that broadcasts it along ``dim``.

Shared by :mod:`relukit.functional` (which re-exports both) and the fused kernels (:mod:`relukit.kernels`),
so neither imports the other for them.
"""

from __future__ import annotations

from typing import Any

import torch


def bias_view_shape(input: torch.Tensor, dim: int) -> list[int]:
    """The shape that broadcasts a 1-D bias along ``dim``: (C,) for the last dim, (C, 1, ..., 1) else."""
    dim = dim % input.ndim
    return [input.shape[dim]] + [1] * (input.ndim - dim - 1)


def check_bias(fn: str, input: torch.Tensor, bias: Any, dim: int) -> None:
    """A 1-D bias with input.shape[dim] entries, input's dtype and device (clear errors otherwise)."""
    if not isinstance(bias, torch.Tensor):
        raise TypeError(f"{fn}: bias must be a torch.Tensor, got {type(bias).__name__}")
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{fn}: dim must be an int, got {dim!r}")
    if not -input.ndim <= dim < input.ndim:
        raise ValueError(f"{fn}: dim must be an int in [{-input.ndim}, {input.ndim - 1}], got {dim!r}")
    if bias.ndim != 1 or bias.shape[0] != input.shape[dim]:
        expected = f"1-D with input.shape[{dim}] = {input.shape[dim]} entries"
        raise ValueError(f"{fn}: bias must be {expected}, got shape {tuple(bias.shape)}")
    if bias.dtype != input.dtype or bias.device != input.device:
        expected = f"{input.dtype} on {input.device}"
        raise TypeError(f"{fn}: bias must match input ({expected}), got {bias.dtype} on {bias.device}")

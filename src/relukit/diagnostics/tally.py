"""Per-layer running sums of DeadUnitMonitor, kept on the output's device (no host sync per batch)."""

from __future__ import annotations

from typing import Any

import torch

from relukit._ops import native

_NON_NEGATIVE = {"relu", "relu6"}  # |a| = a: the sum of |a| needs no abs pass
_EXACT_FLOAT32 = 2**24  # float32 sums of 0/1 stay exact while each unit's count in a batch is below this
_NATIVE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_CHUNK = 2**18  # CPU: elements per slice, so the temporaries stay in cache and cause no page faults


def _positive(y: torch.Tensor, out: torch.Tensor, non_negative: bool) -> torch.Tensor:
    """max(sign(y), 0), NaN where y is NaN (``nansum`` skips those): 1 where y > 0.

    On CPU this is faster than summing the bool mask ``y > 0`` (BENCHMARKS.md, "Choices in the code").
    """
    sign = torch.sign(y, out=out)
    return sign if non_negative else sign.clamp_(min=0)


def _native_kernel(y: torch.Tensor) -> Any | None:
    """relukit's native extension where it takes ``y`` (a CPU floating tensor, ``RELUKIT_NATIVE`` not 0)."""
    if not y.is_cpu or y.dtype not in _NATIVE_DTYPES:
        return None
    return native.module()


class Tally:
    """On-device running sums for one layer: positives and sum |a| per unit, all-zero (unit, batch) pairs.

    Counts are float64 (exact below 2**53). On CPU a batch is one call of relukit's native kernel (one pass
    over the output, |a| summed in float64); without it (``RELUKIT_NATIVE=0``, no compiler) the batch is
    reduced in slices of ~2**18 elements through a small reused buffer; on accelerators in one go (their
    allocator caches the temporaries).
    """

    def __init__(self, name: str, kind: str, units: int, device: torch.device) -> None:
        self.name, self.kind, self.units = name, kind, units
        self.positive = torch.zeros(units, dtype=torch.float64, device=device)
        self.abs_sum = torch.zeros(units, dtype=torch.float64, device=device)
        self.batch_dead = torch.zeros((), dtype=torch.float64, device=device)
        self.elements = self.samples = self.batches = 0  # elements per unit
        self.producer: str | None = None
        self.norm: str | None = None

    def _sums(self, y: torch.Tensor, dims: list[int], dtype: torch.dtype | None, scratch: dict):
        slices = [y]
        if y.device.type == "cpu":
            along = next(d for d in range(y.ndim) if d in dims)
            row = y.numel() // y.shape[along]
            slices = y.split(max(1, _CHUNK // max(row, 1)), along)
        size = max(s.numel() for s in slices)
        buffer = scratch.get((y.device, y.dtype))
        if buffer is None or buffer.numel() < size:
            buffer = scratch[y.device, y.dtype] = torch.empty(size, dtype=y.dtype, device=y.device)
        positive = magnitude = 0
        non_negative = self.kind in _NON_NEGATIVE
        for part in slices:
            out = buffer[: part.numel()].view(part.shape)
            positive = positive + _positive(part, out, non_negative).nansum(dims, dtype=dtype)
            values = part if non_negative else torch.abs(part, out=out)
            magnitude = magnitude + values.sum(dims, dtype=dtype)
        return positive, magnitude

    def add(self, y: torch.Tensor, axis: int, scratch: dict) -> None:
        if y.ndim == 1:
            y, axis = y.unsqueeze(0), 1
        kernel = _native_kernel(y)
        if kernel is not None:  # one pass, one call, no autograd record: the same counts; |a| summed in float64
            kernel.unit_stats(y, axis, self.positive, self.abs_sum, self.batch_dead)
        else:
            with torch.no_grad():
                self._add_torch(y.detach(), axis, scratch)
        self.elements += y.numel() // self.units
        self.samples += y.shape[0] if axis != 0 else 1
        self.batches += 1

    def _add_torch(self, y: torch.Tensor, axis: int, scratch: dict) -> None:
        dims = [d for d in range(y.ndim) if d != axis]
        per_unit = y.numel() // self.units
        exact = y.dtype == torch.float64 or y.dtype == torch.float32 and per_unit < _EXACT_FLOAT32
        dtype = None if exact else torch.float64 if per_unit >= _EXACT_FLOAT32 else torch.float32
        positive, magnitude = self._sums(y, dims, dtype, scratch)
        self.positive += positive
        self.abs_sum += magnitude
        self.batch_dead += (positive == 0).sum()

    def meta(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "units": self.units, "producer": self.producer, "norm": self.norm}

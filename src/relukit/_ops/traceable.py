"""The array-API namespace for torch tensors that dynamo and ``torch.func`` can trace.

array_api_compat promotes Python scalars with ``torch.result_type``, which dynamo cannot trace; here the
functions that take scalars map to plain torch calls, so the catalog's formulas run unchanged on torch
tensors inside ``torch.compile`` and ``torch.func`` transforms (the differentiable Mish backward, KAF).
"""

from __future__ import annotations

import numbers
from typing import Any

import array_api_compat.torch as xp_torch
import torch


class _TraceableTorch:
    exp = staticmethod(torch.exp)
    expm1 = staticmethod(torch.expm1)
    log1p = staticmethod(torch.log1p)
    abs = staticmethod(torch.abs)
    isinf = staticmethod(torch.isinf)
    where = staticmethod(torch.where)

    @staticmethod
    def minimum(a: Any, b: Any) -> Any:
        return torch.clamp(a, max=b) if isinstance(b, numbers.Real) else torch.minimum(a, b)

    @staticmethod
    def maximum(a: Any, b: Any) -> Any:
        return torch.clamp(a, min=b) if isinstance(b, numbers.Real) else torch.maximum(a, b)

    @staticmethod
    def clip(a: Any, low: Any = None, high: Any = None) -> Any:
        return torch.clamp(a, low, high)

    def __getattr__(self, name: str) -> Any:
        return getattr(xp_torch, name)


xp_traceable = _TraceableTorch()

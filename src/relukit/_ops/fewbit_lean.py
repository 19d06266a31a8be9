"""The few-bit backward of ``relukit.functional``/``nn``/``lean`` for the smooth members (``bits=k``).

Forward is torch's stock op (values bit-identical); autograd keeps the k-bit code of each element,

.. math:: c(x) = \\#\\{j : b_j < x\\}, \\qquad \\frac{\\partial L}{\\partial x} = g \\cdot \\text{levels}[c(x)]

with the boundaries b and levels of ``relukit.fewbit_table(member, k, **params)`` (Novikov et al. 2023,
arXiv:2202.00441). Codes come from ``torch.bucketize`` over the boundaries (NaN takes the top code, as
``FewBitTable.codes``) and are packed with ``relukit._ops.packing``: 1, 2, 3, 4 bits as such, 5 to 8 bits one
byte each, so the saved bytes are k/8 per element (k/32 of an fp32 input, k/16 of bf16/fp16) for k = 1..4 and 8.
Backward is the native kernel (``native.module().backward``) for 1, 2, 4 and 8 bits, else torch.

The backward is once-differentiable: a few-bit table is flat between boundaries, so it has no useful second
derivative, and double backward (``create_graph=True``) raises rather than return a wrong one. Under
torch.func transforms, ``torch.compile``/export and when autograd does not record, the stock op runs (exact).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from relukit import catalog
from relukit._ops import native, packing
from relukit.fewbit import MAX_BITS, FewBitTable, fewbit_table, smooth_members

SMOOTH = frozenset(smooth_members())


def check_bits(fn: str, bits: Any) -> int | None:
    """``bits`` as given (None or an int in 1..8), else TypeError/ValueError naming ``fn`` and the value."""
    if bits is None:
        return None
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"{fn}: bits must be None or an int in 1..{MAX_BITS}, got {bits!r}")
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"{fn}: bits must be None or an int in 1..{MAX_BITS}, got {bits!r}")
    return bits


def storage_bits(bits: int) -> int:
    """Bits per element in the saved codes: k for k = 1..4, one byte for 5..8."""
    return bits if bits <= 4 else 8


@functools.lru_cache(maxsize=256)
def table(name: str, bits: int, params: tuple[tuple[str, Any], ...]) -> FewBitTable:
    return fewbit_table(name, bits, **dict(params))


_NATIVE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


@functools.lru_cache(maxsize=256)
def _levels(t: FewBitTable) -> list[float]:
    """The table's levels padded to 2^storage_bits (the native kernel's table; extra codes never occur)."""
    return [*t.levels, *[0.0] * ((1 << storage_bits(t.bits)) - len(t.levels))]


def _boundaries(t: FewBitTable, x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(t.boundaries, dtype=torch.float64).to(device=x.device, dtype=x.dtype)


def encode(t: FewBitTable, x: torch.Tensor) -> torch.Tensor:
    """``packing.pack(t.codes(x), storage_bits)``: the codes by ``torch.bucketize`` (boundaries in x's dtype,
    x equal to a boundary takes the lower code, NaN the top one)."""
    bits = storage_bits(t.bits)
    extension = native.module() if x.device.type == "cpu" and x.dtype in _NATIVE_DTYPES else None
    if extension is not None:  # one pass: compare against the boundaries, count, pack
        return extension.bucket_codes(x.detach(), list(t.boundaries), bits)
    codes = torch.bucketize(x.detach().reshape(-1), _boundaries(t, x), out_int32=True).to(torch.uint8)
    return packing.pack(codes, bits)


def decode_backward(t: FewBitTable, grad: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    """grad * levels[code]."""
    bits = storage_bits(t.bits)
    extension = native.module() if grad.device.type == "cpu" and grad.dtype in _NATIVE_DTYPES else None
    if extension is not None:
        return extension.backward(grad, packed, _levels(t), 0, bits)
    codes = packing.unpack(packed, bits, grad.numel())
    levels = torch.tensor(t.levels, dtype=grad.dtype, device=grad.device)
    return grad * levels[codes.long()].view(grad.shape)


class FewBitLean(torch.autograd.Function):
    """y = member(x) by torch's op; saves the packed codes of x; grad_x = grad * levels[codes]."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, t: FewBitTable, inplace: bool) -> torch.Tensor:
        packed = encode(t, x)  # before an in-place forward overwrites x
        ctx.save_for_backward(packed)
        ctx.table = t
        y = _stock(t, x, inplace)
        if inplace:
            ctx.mark_dirty(x)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (packed,) = ctx.saved_tensors
        return decode_backward(ctx.table, grad.contiguous(), packed), None, None


def _stock(t: FewBitTable, x: torch.Tensor, inplace: bool) -> torch.Tensor:
    entry = catalog.BY_NAME[t.member]
    params = dict(t.params)
    if entry.torch_inplace:
        params["inplace"] = inplace
    return getattr(F, entry.torch_op)(x, **params)


def applies(x: torch.Tensor) -> bool:
    """Autograd records a float tensor's call outside tracing and torch.func transforms."""
    return (
        torch.is_grad_enabled()
        and x.requires_grad
        and x.is_floating_point()
        and not torch.compiler.is_compiling()
        and not torch.onnx.is_in_onnx_export()
        and not torch._C._are_functorch_transforms_active()
    )


def apply(entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any], bits: int, inplace: bool) -> torch.Tensor:
    """``entry(x, **params)`` with a ``bits``-bit backward (call only when :func:`applies`)."""
    return FewBitLean.apply(x, table(entry.name, bits, tuple(params.items())), inplace)

"""Few-bit backward in pure PyTorch: the reference the native kernels are checked against.

Forward is torch's stock op; autograd keeps the k-bit code of each element (``FewBitTable.codes``) instead
of the input, and backward is

.. math:: \\frac{\\partial L}{\\partial x} = g \\cdot \\text{levels}[\\text{code}(x)]

(Novikov et al. 2023, arXiv:2202.00441). Codes are packed with ``relukit._ops.packing`` for 1 and 2 bits;
its format has no 3- to 8-bit layout, so for those bits one uint8 code per element is kept (1/4 of an fp32
input, not k/32). The reference that ``relukit._ops.fewbit_lean`` (``functional``/``nn``/``lean`` with
``bits=k``: k-bit packed codes, native backward) is tested against; once-differentiable.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xp_torch
import torch
import torch.nn.functional as F

from relukit import catalog
from relukit._ops import packing
from relukit.fewbit import FewBitTable, fewbit_table


class FewBitFunction(torch.autograd.Function):
    """y = forward(x); saves the codes of x; grad_x = grad * levels[codes]."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, table: FewBitTable, forward: Any) -> torch.Tensor:
        codes = table.codes(x.detach(), xp_torch)
        packed = table.bits <= 2
        ctx.save_for_backward(packing.pack(codes, table.bits) if packed else codes)
        ctx.table, ctx.packed, ctx.shape, ctx.numel = table, packed, x.shape, x.numel()
        return forward(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (saved,) = ctx.saved_tensors
        codes = packing.unpack(saved, ctx.table.bits, ctx.numel) if ctx.packed else saved.reshape(-1)
        levels = torch.tensor(ctx.table.levels, dtype=grad.dtype, device=grad.device)
        return grad * levels[codes.long()].reshape(ctx.shape), None, None


def fewbit_activation(x: torch.Tensor, member: str, bits: int = 3, **params: Any) -> torch.Tensor:
    """``member(x, **params)`` computed by torch's own op, with a ``bits``-bit backward (see ``fewbit_table``)."""
    table = fewbit_table(member, bits, **params)
    op = getattr(F, catalog.BY_NAME[table.member].torch_op)
    return FewBitFunction.apply(x, table, lambda t: op(t, **dict(table.params)))

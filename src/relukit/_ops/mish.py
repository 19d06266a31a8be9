"""Fast Mish on CPU: the catalog's single-exponential form, fused by Inductor, as ``torch.library`` ops.

.. math:: \\operatorname{mish}(x) = x \\tanh(\\operatorname{softplus}(x)) = x \\frac{n (n + 2)}{n (n + 2) + 2},
   \\qquad n = e^{x}

(Misra 2019, arXiv:1908.08681; ``formulas.mish``). torch's ``F.mish`` evaluates exp, log1p and tanh
and its backward sigmoid, softplus and tanh again; the fused loops here evaluate one exponential each way
and read and write every element once (``relukit._ops.fused``).

``relukit::mish(x) -> y`` saves only x for backward, as torch does; ``relukit::mish_backward(grad, x)``
is ``grad * mish'(x)``. When backward itself is differentiated (``create_graph=True``) it is the
catalog's derivative composed of differentiable torch ops, so double backward works. Either op runs
torch's own kernels while the fused ones are compiling or unavailable, or for dtypes other than float32.
"""

from __future__ import annotations

import torch

from relukit import catalog
from relukit._ops import fused

MIN_NUMEL = 1 << 16  # below this torch's kernel is as fast (per-call overhead ~80 us each way; BENCHMARKS.md)
_aten = torch.ops.aten
_KERNELS = fused.kernels("mish")


def _fusable(x: torch.Tensor) -> bool:
    return x.dtype == torch.float32 and x.device.type == "cpu" and fused.is_dense(x) and _KERNELS.ready(x.numel())


@torch.library.custom_op("relukit::mish", mutates_args=())
def mish_forward(x: torch.Tensor) -> torch.Tensor:
    return _KERNELS.compute(False, x) if _fusable(x) else _aten.mish(x)


@mish_forward.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("relukit::mish_backward", mutates_args=())
def mish_backward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if _fusable(x) and grad.dtype == x.dtype and grad.shape == x.shape:
        return _KERNELS.compute(True, x, grad)
    return _aten.mish_backward(grad, x)


@mish_backward.register_fake
def _(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def differentiable_backward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """grad * mish'(x) from the catalog, in float32 at least (its e^x would overflow float16)."""
    work = torch.promote_types(x.dtype, torch.float32)
    derivative = catalog.BY_NAME["mish"].derivative(x.to(work), fused.xp_traceable)
    return (grad * derivative).to(x.dtype)


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(inputs[0])


def _mish_grad(ctx, grad):
    (x,) = ctx.saved_tensors
    if torch.is_grad_enabled():  # create_graph: keep the graph differentiable (as torch's own mish)
        return differentiable_backward(grad, x)
    return mish_backward(grad, x)


mish_forward.register_autograd(_mish_grad, setup_context=_setup_context)


def _backward_setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(*inputs)


def _mish_backward_grad(ctx, grad_grad):
    grad, x = ctx.saved_tensors
    _, vjp = torch.func.vjp(differentiable_backward, grad, x)  # composes with autograd: any order
    return vjp(grad_grad)


mish_backward.register_autograd(_mish_backward_grad, setup_context=_backward_setup_context)


def applies(x: torch.Tensor) -> bool:
    """True where the fused op pays off: float32 CPU tensors of >= MIN_NUMEL elements, outside
    torch.compile (Inductor fuses torch's mish itself) and torch.func transforms (custom ops with
    ``register_autograd`` do not support ``torch.func.grad`` in torch 2.13)."""
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and x.numel() >= MIN_NUMEL
        and not torch.compiler.is_compiling()
        and not torch._C._are_functorch_transforms_active()
        and fused.enabled()
    )


def mish(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``F.mish`` with the fused kernels. In-place under autograd keeps torch's own in-place op (the
    fused op needs the unmodified input for backward)."""
    if inplace and torch.is_grad_enabled() and x.requires_grad:
        return torch.nn.functional.mish(x, inplace=True)
    y = mish_forward(x)
    return x.copy_(y) if inplace else y

"""Mish on CPU with one exponential each way: native float32 kernels behind ``torch.library`` ops.

.. math:: \\operatorname{mish}(x) = x \\tanh(\\operatorname{softplus}(x)) = x \\frac{n (n + 2)}{n (n + 2) + 2},
   \\qquad n = e^{x}

(Misra 2019, arXiv:1908.08681; ``formulas.mish``). torch's ``F.mish`` evaluates exp, log1p and tanh and
its backward sigmoid, softplus and tanh again; the kernels of ``csrc/mish.cpp`` (built into relukit's
native extension, ``relukit._ops.native``) evaluate one exponential per element each way, vectorized and
under ``at::parallel_for``, in float64 inside, so float32 results are within 1 ulp of the float64 value.
Near the root of mish' the derivative is the catalog's series about it; its coefficients are passed in.

``relukit::mish(x) -> y`` saves only x for backward, as torch does; ``relukit::mish_backward(grad, x)``
is ``grad * mish'(x)``. When backward itself is differentiated (``create_graph=True``) it is the
catalog's derivative composed of differentiable torch ops, so double backward works. Either op runs
torch's own kernels for dtypes other than float32 (float64, bfloat16, float16: torch's are accurate there,
or as accurate as the type allows), for tensors with gaps, and where the extension is not built.

Eager calls take a shorter route to the same kernels (``try_native``): one C++ call that runs the forward
kernel and attaches a C++ backward node saving x, so neither direction passes through Python; the
custom ops serve torch.compile, export, opcheck and calls that a mode or transform must see.
"""

from __future__ import annotations

import functools

import torch

from relukit import catalog, formulas
from relukit._ops import native
from relukit._ops.allocator import empty_output, is_dense
from relukit._ops.traceable import xp_traceable

MIN_NUMEL = 1 << 10  # below this torch's kernel is as fast (per-call overhead; BENCHMARKS.md)
_aten = torch.ops.aten


SERIES_WINDOW = 2.0**-10  # |x - root| below which the kernel uses the root series (see csrc/mish.cpp)


@functools.cache
def series_constants() -> list[float]:
    """[root_hi, root_lo, window, c_1, c_2, ...]: the catalog's series of mish' about its root, cut where a
    term stays below 1e-20 over the window (the series' value there is >= 0.26 |x - root|)."""
    coefficients = formulas._MISH_ROOT_SERIES
    last = max(k for k, c in enumerate(coefficients) if abs(c) * SERIES_WINDOW**k > 1e-20)
    return [*formulas.MISH_ROOT, SERIES_WINDOW, *coefficients[1 : last + 1]]


def _kernels():
    return torch.ops.relukit_native if native.available() else None


def native_applies(x: torch.Tensor) -> bool:
    """The native kernels can compute this tensor: float32, CPU, dense (any dimension order)."""
    return x.dtype == torch.float32 and x.device.type == "cpu" and is_dense(x) and native.available()


def _native_forward(x: torch.Tensor) -> torch.Tensor:
    out = empty_output(x)
    _kernels().mish_forward_into(x, out)
    return out


def _native_backward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if grad.stride() != x.stride():
        grad = torch.empty_like(x).copy_(grad)  # x's memory order
    out = empty_output(x)
    _kernels().mish_backward_into(grad, x, out, series_constants())
    return out


def _backward_applies(grad: torch.Tensor, x: torch.Tensor) -> bool:
    return native_applies(x) and grad.dtype == x.dtype and grad.shape == x.shape and grad.device == x.device


@torch.library.custom_op("relukit::mish", mutates_args=())
def mish_forward(x: torch.Tensor) -> torch.Tensor:
    return _native_forward(x) if native_applies(x) else _aten.mish(x)


@mish_forward.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("relukit::mish_backward", mutates_args=())
def mish_backward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return _native_backward(grad, x) if _backward_applies(grad, x) else _aten.mish_backward(grad, x)


@mish_backward.register_fake
def _(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def differentiable_backward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """grad * mish'(x) from the catalog, in float32 at least (its e^x would overflow float16)."""
    work = torch.promote_types(x.dtype, torch.float32)
    derivative = catalog.BY_NAME["mish"].derivative(x.to(work), xp_traceable)
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


@functools.cache
def _eager_route():
    """The extension with its ``try_mish`` set up (series constants, differentiable backward), or None."""
    extension = native.module()
    if extension is not None:
        extension.mish_setup(series_constants(), differentiable_backward)
    return extension


def try_native(x: torch.Tensor, min_numel: int = MIN_NUMEL) -> torch.Tensor | None:
    """The eager route in one C++ call: mish(x) with a C++ backward node saving x (as torch's own), for a
    plain dense float32 CPU tensor of >= min_numel elements in a plain eager call (no torch-function or
    dispatch mode, functorch transform or TorchScript tracer); None where that does not hold. Callers
    test that Dynamo is not tracing first (it cannot trace into the C++ call)."""
    extension = _eager_route()
    return None if extension is None else extension.try_mish(x, min_numel)


def applies(x: torch.Tensor) -> bool:
    """True where the native op pays off: float32 CPU tensors of >= MIN_NUMEL elements, outside
    torch.compile (Inductor fuses torch's mish itself) and torch.func transforms (custom ops with
    ``register_autograd`` do not support ``torch.func.grad`` in torch 2.13), with the extension built."""
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and x.numel() >= MIN_NUMEL
        and not torch.compiler.is_compiling()
        and not torch._C._are_functorch_transforms_active()
        and native.available()
    )


def mish(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``F.mish`` with the native kernels (torch's where they do not apply: see ``native_applies``).
    In-place under autograd keeps torch's own in-place op (the native op needs the unmodified input for
    backward)."""
    if not native_applies(x) or (inplace and torch.is_grad_enabled() and x.requires_grad):
        return torch.nn.functional.mish(x, inplace=inplace)
    y = try_native(x, 0)
    if y is None:  # a mode, transform or tracer: the custom op, which they see
        y = mish_forward(x)
    return x.copy_(y) if inplace else y

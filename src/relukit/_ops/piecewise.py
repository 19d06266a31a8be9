"""Lean autograd for the piecewise-linear members, as ``torch.library`` custom ops.

``relukit::piecewise_forward(x, name, params) -> (y, packed)`` computes y with torch's own op and the
member's derivative codes (``catalog``), packed 1 or 2 bits per element; autograd saves only ``packed``.
``relukit::piecewise_backward(grad, packed, slopes, multiply) -> grad_input`` is ``grad * slopes[code]``
computed by torch's own backward kernels, so gradients are bit-identical to torch's. The backward op is
linear in ``grad`` and has its own autograd, so double backward works.

On CUDA, when triton imports, both ops run ``relukit.kernels``' fused Triton kernels instead (one pass
each; same values, codes and gradients).

The custom ops are what tracers see (torch.compile, export, make_fx, opcheck). Eager calls take
``lean_forward``/``lean_backward``: the same implementations under a plain ``autograd.Function``, without
the custom-op dispatch, which costs more host time per call than a GPU kernel takes up to ~2^24 elements.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import array_api_compat.numpy as xp_numpy
import array_api_compat.torch as xp_torch
import torch
import torch.nn.functional as F

from relukit import catalog
from relukit._ops import native, packing
from relukit._ops.allocator import empty_output

_aten = torch.ops.aten


def encode(entry: catalog.Activation, params: dict[str, Any]) -> list[float]:
    """Parameters as the op's ``float[]`` (None, e.g. rectify's max_value, travels as NaN)."""
    return [math.nan if params[p.name] is None else float(params[p.name]) for p in entry.params]


def decode(entry: catalog.Activation, values: Sequence[float]) -> dict[str, Any]:
    return {p.name: None if math.isnan(v) else v for p, v in zip(entry.params, values)}


_KERNEL_DEVICES = ("cuda",)  # device types where relukit.kernels replaces the torch ops: see kernels_on
# called when kernels_on changes the routing: relukit.functional forgets the native calls it remembered
ROUTING_CHANGED: list[Callable[[], None]] = []


@contextlib.contextmanager
def kernels_on(*device_types: str) -> Iterator[None]:
    """Within the block, tensors on ``device_types`` run relukit.kernels' Triton kernels (``"cpu"`` runs
    them under the Triton interpreter: tests and dry runs); the setting before is restored on exit.

    Example: ``with kernels_on("cuda", "cpu"): relukit.functional.relu(x)``
    """
    global _KERNEL_DEVICES
    previous, _KERNEL_DEVICES = _KERNEL_DEVICES, tuple(device_types)
    for forget in ROUTING_CHANGED:
        forget()
    try:
        yield
    finally:
        _KERNEL_DEVICES = previous


_HAS_TRITON = importlib.util.find_spec("triton") is not None  # cheap: triton itself loads on first use


def _kernel_ops():
    """relukit.kernels.ops (importing it registers torch.ops.relukit.fused_*), or None without triton."""
    if not _HAS_TRITON:
        return None
    from relukit.kernels import ops

    return ops


def fused(*tensors: torch.Tensor) -> bool:
    """True when the Triton kernels apply: their device, dtype and a contiguous layout (as the fakes say)."""
    return (
        all(t.device.type in _KERNEL_DEVICES and t.is_contiguous() for t in tensors)
        and tensors[0].dtype in (torch.float32, torch.float16, torch.bfloat16)
        and _HAS_TRITON
    )


_NUMPY_DTYPES = (torch.float32, torch.float64, torch.float16)


# torch's own ops in their out= form, so that relukit allocates the output (``empty_output``: huge pages
# for large CPU blocks, whose page faults otherwise cost more than the op). Same kernels, same values.
_OUT_FORMS = {
    "relu": lambda x, p, out: torch.clamp_min(x, 0, out=out),  # torch.relu is clamp_min(x, 0)
    "relu6": lambda x, p, out: _aten.hardtanh.out(x, 0.0, 6.0, out=out),
    "hardtanh": lambda x, p, out: _aten.hardtanh.out(x, p["min_val"], p["max_val"], out=out),
    "threshold": lambda x, p, out: _aten.threshold.out(x, p["threshold"], p["value"], out=out),
    "leaky_relu": lambda x, p, out: _aten.leaky_relu.out(x, p["negative_slope"], out=out),
    "rrelu": lambda x, p, out: _aten.leaky_relu.out(x, catalog.BY_NAME["rrelu"].slopes(**p)[0], out=out),
}


def values(entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """The lean forward's output (no autograd here): torch's op, in its out= form on CPU."""
    out_form = _OUT_FORMS.get(entry.name)
    if out_form is not None and x.device.type == "cpu":
        return out_form(x, params, empty_output(x))
    return stock_forward(entry, x, params)


def stock_forward(entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """torch's own op where there is one, else the catalog formula on torch tensors."""
    if entry.torch_op is None:
        return entry.forward(x, xp_torch, **params)
    if entry.name == "rrelu":
        return F.rrelu(x, training=False, **params)
    return getattr(F, entry.torch_op)(x, **params)


_NATIVE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def kernel(x: torch.Tensor) -> str:
    """Which kernels compute a tensor's lean forward and backward: "triton" (``fused``: CUDA, or the
    interpreter in tests), "native" (the C++ CPU kernels: a floating dtype, the extension built) or
    "torch" (torch's own ops plus a packing pass)."""
    if fused(x):
        return "triton"
    if x.device.type == "cpu" and x.dtype in _NATIVE_DTYPES and native.module() is not None:
        return "native"
    return "torch"


def native_values(x: torch.Tensor) -> bool:
    """A plain CPU tensor of a native dtype in eager mode (no tracing, export, torch.func transform or dispatch
    mode): the native kernels apply (``known_call`` runs the values kernel where autograd does not record)."""
    return (
        not torch.compiler.is_compiling()  # first: dynamo cannot trace the private checks below
        and type(x) is torch.Tensor
        and x.is_cpu
        and "cpu" not in _KERNEL_DEVICES  # kernels_on("cpu") routes CPU tensors to the Triton interpreter
        and x.dtype in _NATIVE_DTYPES
        and not torch._C._are_functorch_transforms_active()
        and not torch._C._len_torch_dispatch_stack()
        and not torch._C._get_tracing_state()  # also true under the TorchScript ONNX exporter
        and native.module() is not None
    )


def native_eager(x: torch.Tensor) -> bool:
    """One test for the hot path: ``native_values`` and autograd records the call - the native C++ op applies."""
    return native_values(x) and x.requires_grad and torch.is_grad_enabled()


def native_call(entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any]) -> native.Call | None:
    """The native kernel's arguments where ``kernel(x)`` is "native" and a compiled template fits."""
    return native.call(entry, params) if kernel(x) == "native" else None


def forward_impl(
    x: torch.Tensor, entry: catalog.Activation, params: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, packed codes): the fused kernels where they apply, else torch's op and a packing pass."""
    route = kernel(x)
    if route == "triton":
        return _kernel_ops().launch_forward(entry, params, x)
    call = native.call(entry, params) if route == "native" else None
    if call is not None:
        return native.module().forward(x, call.variant, call.constants, False, True)
    y = values(entry, x, params)
    bits = entry.code_bits(**params)
    if x.device.type == "cpu" and x.dtype in _NUMPY_DTYPES:  # NumPy compares ~5x faster (see packing)
        codes_of = lambda chunk: entry.codes(chunk, xp_numpy, **params)
        return y, packing.pack_numpy(codes_of, x.detach().numpy(), bits)
    return y, packing.pack(entry.codes(x, xp_torch, **params), bits)


@torch.library.custom_op("relukit::piecewise_forward", mutates_args=())
def piecewise_forward(x: torch.Tensor, name: str, params: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    entry = catalog.BY_NAME[name]
    return forward_impl(x, entry, decode(entry, params))


@piecewise_forward.register_fake
def _(x: torch.Tensor, name: str, params: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    entry = catalog.BY_NAME[name]
    bits = entry.code_bits(**decode(entry, params))
    return torch.empty_like(x), x.new_empty(packing.packed_size(x.numel(), bits), dtype=torch.uint8)


def backward_impl(grad: torch.Tensor, packed: torch.Tensor, slopes: list[float], multiply: bool) -> torch.Tensor:
    """grad * slopes[code]: the fused kernel where it applies, else torch's own backward kernels."""
    route = kernel(grad)
    if route == "triton":
        return _kernel_ops().launch_backward(grad, packed, slopes, multiply)
    bits = 1 if len(slopes) <= 2 else 2
    if route == "native":
        levels = slopes + [0.0] * ((1 << bits) - len(slopes))
        zero = sum(1 << k for k, level in enumerate(levels) if level == 0.0 and not multiply)
        return native.module().backward(grad, packed, levels, zero, bits)
    code = packing.unpack_proxy(packed, bits, grad.numel(), grad.dtype).view(grad.shape)
    if bits == 1 and multiply:  # torch leaky_relu_backward: code > 0 ? grad : grad * slope
        return _aten.leaky_relu_backward.grad_input(grad, code, slopes[0], False, grad_input=empty_output(grad))
    if bits == 1 and slopes == [0.0, 1.0]:  # torch threshold_backward: code <= 0.5 ? 0 : grad
        return _aten.threshold_backward.grad_input(grad, code, 0.5, grad_input=empty_output(grad))
    result = torch.zeros_like(grad)
    for value, slope in enumerate(slopes):
        if slope != 0.0 or multiply:
            result = torch.where(code == value, grad if slope == 1.0 else grad * slope, result)
    return result


@torch.library.custom_op("relukit::piecewise_backward", mutates_args=())
def piecewise_backward(grad: torch.Tensor, packed: torch.Tensor, slopes: list[float], multiply: bool) -> torch.Tensor:
    return backward_impl(grad, packed, slopes, multiply)


@piecewise_backward.register_fake
def _(grad: torch.Tensor, packed: torch.Tensor, slopes: list[float], multiply: bool) -> torch.Tensor:
    return torch.empty_like(grad)


def backward_args(entry: catalog.Activation, params: dict[str, Any]) -> tuple[list[float], bool]:
    """(slopes, multiply): what the backward needs besides the packed codes."""
    return [float(s) for s in entry.slopes(**params)], entry.backward == "multiply"


def _forward_context(ctx, inputs, output) -> None:
    _, name, params = inputs
    entry = catalog.BY_NAME[name]
    ctx.slopes, ctx.multiply = backward_args(entry, decode(entry, params))
    ctx.save_for_backward(output[1])
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)  # no zero-filled gradient for the codes


def _forward_backward(ctx, grad_y, grad_packed):
    if grad_y is None:
        return None, None, None
    (packed,) = ctx.saved_tensors
    return lean_backward(grad_y, packed, ctx.slopes, ctx.multiply), None, None


piecewise_forward.register_autograd(_forward_backward, setup_context=_forward_context)


def _backward_context(ctx, inputs, output) -> None:
    _, packed, slopes, multiply = inputs
    ctx.slopes, ctx.multiply = slopes, multiply
    ctx.save_for_backward(packed)


def _backward_backward(ctx, grad_grad):
    (packed,) = ctx.saved_tensors
    return lean_backward(grad_grad, packed, ctx.slopes, ctx.multiply), None, None, None


piecewise_backward.register_autograd(_backward_backward, setup_context=_backward_context)


# ----------------------------------------------------------------------------------------------
# The eager route: the same implementation without the custom-op dispatch
# ----------------------------------------------------------------------------------------------
def eager(x: torch.Tensor) -> bool:
    """True for a plain tensor outside any tracing (torch.compile, jit.trace, make_fx, fake tensors) and
    outside torch.func transforms."""
    return (
        not torch.compiler.is_compiling()
        and type(x) is torch.Tensor
        and not torch._C._len_torch_dispatch_stack()
        and not torch._C._get_tracing_state()
        and not torch._C._are_functorch_transforms_active()
    )


class _Lean(torch.autograd.Function):
    """``piecewise_forward`` and its autograd as a plain ``autograd.Function``: the same implementation,
    saved codes and gradients, without the Python autograd wrapper, redispatch, schema defaults, alias
    checks and encoded parameters of the custom-op dispatch."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, entry: catalog.Activation, params: dict[str, Any], inplace: bool) -> torch.Tensor:
        y, packed = forward_impl(x, entry, params)
        ctx.slopes, ctx.multiply = backward_args(entry, params)
        ctx.save_for_backward(packed)
        if inplace:  # one node that overwrites x (see lean_forward), not a copy_ node after this one
            ctx.mark_dirty(x)
            return x.copy_(y)
        return y

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        (packed,) = ctx.saved_tensors
        return lean_backward(grad_y, packed, ctx.slopes, ctx.multiply), None, None, None


def lean_forward(
    entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any], inplace: bool = False
) -> torch.Tensor:
    """y of a piecewise-linear member, with autograd that saves only the packed codes: the native C++ op
    (autograd in C++) or ``_Lean`` in eager mode, the traceable custom op ``relukit::piecewise_forward``
    otherwise.

    ``inplace=True`` writes y into x. In eager mode the overwrite belongs to the same autograd node
    (``mark_dirty``), so x's gradient is exactly ``grad * slopes[code]``, as for the out-of-place op: a
    ``copy_`` node after it would add its zero gradient for the overwritten x (+0.0 + -0.0 = +0.0) and lose
    the sign of zero. The traced route keeps ``copy_`` (functionalized in the graph)."""
    if eager(x):
        call = native_call(entry, x, params)
        if call is not None:
            return native.module().lean(x, call.handle, inplace)
        return _Lean.apply(x, entry, params, inplace)
    y = torch.ops.relukit.piecewise_forward(x, entry.name, encode(entry, params))[0]
    return x.copy_(y) if inplace else y


def lean_backward(grad: torch.Tensor, packed: torch.Tensor, slopes: list[float], multiply: bool) -> torch.Tensor:
    """grad * slopes[code]: the plain implementation in eager mode when autograd does not record it, else
    the differentiable, traceable custom op (double backward: the backward is linear in grad)."""
    if eager(grad) and not (grad.requires_grad and torch.is_grad_enabled()):
        return backward_impl(grad, packed, slopes, multiply)
    return piecewise_backward(grad, packed, slopes, multiply)

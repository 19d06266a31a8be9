"""Compiling the generated kernels, launching them, and the ``relukit::fused_*`` custom ops.

The ops are ``torch.library.custom_op``s with fake implementations: ``torch.compile(fullgraph=True)``
traces them as opaque nodes on any device, the Triton interpreter included (``torch.library.triton_op``
would let Inductor see inside, but its tracing needs a compiled ``JITFunction``, which the interpreter
does not have, so it could not be tested without a GPU). Eager calls go through ``forward``/``backward``,
which skip the custom-op dispatch (see ``relukit._ops.piecewise``).
"""

from __future__ import annotations

import functools
import linecache
import math
import os
from typing import Any

import torch
import triton

from relukit import catalog
from relukit._bias import bias_view_shape
from relukit._ops import packing
from relukit._ops.piecewise import backward_args, decode, eager, encode
from relukit.kernels import codegen

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
NUM_WARPS = 8


def interpreting() -> bool:
    """True under ``TRITON_INTERPRET=1``: kernels run on CPU tensors (slowly; for tests)."""
    return os.environ.get("TRITON_INTERPRET", "").lower() in ("1", "true", "yes", "on")


def block_size(x: torch.Tensor) -> int:
    """Elements per program: 16 bytes x 2 per thread on GPU (8 warps); small under the interpreter."""
    if interpreting():
        return 256
    return 2048 if x.element_size() >= 4 else 4096


@functools.cache
def _compile(text: str, interpret: bool) -> dict[str, Any]:
    """Executes generated source; ``interpret`` keys the cache (triton.jit reads TRITON_INTERPRET)."""
    filename = f"<relukit.kernels {codegen.digest(text)}>"
    # triton.jit reads the source through inspect, which finds it in linecache (mtime None: never evicted).
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": f"relukit_kernels_{codegen.digest(text)}"}
    exec(compile(text, filename, "exec"), namespace)  # our own generated source
    return namespace


@functools.cache
def _kernel(kind: str, key: tuple, interpret: bool):
    """The compiled kernel of a member's forward (key: name, params) or of a backward (key: slopes, multiply),
    cached on its key: a launch then costs no code generation."""
    if kind == "forward":
        name, params = key
        text = codegen.forward_source(catalog.BY_NAME[name], dict(params), interpret)
    else:
        text = codegen.backward_source(*key, interpret)
    return _compile(text, interpret)[f"{kind}_kernel"]


def forward_kernel(entry: catalog.Activation, params: dict[str, Any]):
    return _kernel("forward", (entry.name, tuple(params.items())), interpreting())


def backward_kernel(slopes: tuple[float, ...], multiply: bool):
    return _kernel("backward", (slopes, multiply), interpreting())


def _launch_options(x: torch.Tensor) -> dict[str, Any]:
    """No FMA contraction (``enable_fp_fusion=False``): every product is rounded as torch rounds it."""
    block = block_size(x)
    return {"BLOCK": block, "WIDE": x.numel() + block >= 2**31, "num_warps": NUM_WARPS, "enable_fp_fusion": False}


def launch_forward(
    entry: catalog.Activation,
    params: dict[str, Any],
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    dim: int = -1,
    store_codes: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, packed codes): one pass over x (plus a bias broadcast along ``dim``); codes empty if not stored."""
    x = x.contiguous()
    n = x.numel()
    y = torch.empty_like(x)
    size = packing.packed_size(n, entry.code_bits(**params)) if store_codes else 0
    codes = torch.empty(size, dtype=torch.uint8, device=x.device)
    channels = inner = 1
    if bias is not None:
        dim = dim % x.ndim
        channels, inner = x.shape[dim], math.prod(x.shape[dim + 1 :])
    if n:
        options = _launch_options(x)
        grid = (triton.cdiv(n, options["BLOCK"]),)
        forward_kernel(entry, params)[grid](
            x, x if bias is None else bias.contiguous(), y, codes if store_codes else y, n, channels, inner,
            HAS_BIAS=bias is not None, STORE_CODES=store_codes, **options,
        )  # fmt: skip
    return y, codes


def launch_backward(grad: torch.Tensor, codes: torch.Tensor, slopes: list[float], multiply: bool) -> torch.Tensor:
    """grad_input = grad * slopes[code], reading grad and the packed codes once."""
    grad = grad.contiguous()
    out = torch.empty_like(grad)
    if grad.numel():
        options = _launch_options(grad)
        grid = (triton.cdiv(grad.numel(), options["BLOCK"]),)
        backward_kernel(tuple(float(s) for s in slopes), multiply)[grid](grad, codes, out, grad.numel(), **options)
    return out


# ----------------------------------------------------------------------------------------------
# Custom ops (params travel as float[], as relukit::piecewise_forward's)
# ----------------------------------------------------------------------------------------------
@torch.library.custom_op("relukit::fused_forward", mutates_args=())
def fused_forward(
    x: torch.Tensor, bias: torch.Tensor | None, dim: int, name: str, params: list[float], store_codes: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    entry = catalog.BY_NAME[name]
    return launch_forward(entry, decode(entry, params), x, bias, dim, store_codes)


@fused_forward.register_fake
def _(x, bias, dim, name, params, store_codes):
    entry = catalog.BY_NAME[name]
    size = packing.packed_size(x.numel(), entry.code_bits(**decode(entry, params))) if store_codes else 0
    return torch.empty_like(x, memory_format=torch.contiguous_format), x.new_empty(size, dtype=torch.uint8)


@torch.library.custom_op("relukit::fused_backward", mutates_args=())
def fused_backward(grad: torch.Tensor, codes: torch.Tensor, slopes: list[float], multiply: bool) -> torch.Tensor:
    return launch_backward(grad, codes, slopes, multiply)


@fused_backward.register_fake
def _(grad, codes, slopes, multiply):
    return torch.empty_like(grad, memory_format=torch.contiguous_format)


def _save(ctx, x, bias, dim, entry: catalog.Activation, params: dict[str, Any], codes: torch.Tensor) -> None:
    ctx.slopes, ctx.multiply = backward_args(entry, params)
    ctx.bias_shape = None if bias is None else (bias.shape, bias_view_shape(x, dim))
    ctx.save_for_backward(codes)
    ctx.mark_non_differentiable(codes)
    ctx.set_materialize_grads(False)  # no zero-filled gradient for the codes


def _gradients(ctx, grad_y: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """(grad_input, grad_bias, None, ...): grad_input from the codes; grad_bias =
    grad_input.sum_to_size(bias view), the very reduction that autograd runs for a broadcast ``x + bias``,
    so both gradients are torch's bit for bit."""
    if grad_y is None:
        return None, None, None, None, None, None
    (codes,) = ctx.saved_tensors
    if codes.numel() == 0 and grad_y.numel():
        raise RuntimeError("relukit::fused_forward: backward needs the codes; call it with store_codes=True")
    grad_input = backward(grad_y, codes, ctx.slopes, ctx.multiply)
    grad_bias = None
    if ctx.bias_shape is not None and ctx.needs_input_grad[1]:
        shape, view = ctx.bias_shape
        grad_bias = grad_input.sum_to_size(view).reshape(shape)
    return grad_input, grad_bias, None, None, None, None


def _forward_context(ctx, inputs, output) -> None:
    x, bias, dim, name, params, _ = inputs
    entry = catalog.BY_NAME[name]
    _save(ctx, x, bias, dim, entry, decode(entry, params), output[1])


def _forward_backward(ctx, grad_y, grad_codes):
    return _gradients(ctx, grad_y)


def _backward_context(ctx, inputs, output) -> None:
    _, codes, ctx.slopes, ctx.multiply = inputs
    ctx.save_for_backward(codes)


def _backward_backward(ctx, grad_grad):
    (codes,) = ctx.saved_tensors  # the backward is linear in grad
    return backward(grad_grad, codes, ctx.slopes, ctx.multiply), None, None, None


fused_forward.register_autograd(_forward_backward, setup_context=_forward_context)
fused_backward.register_autograd(_backward_backward, setup_context=_backward_context)


# ----------------------------------------------------------------------------------------------
# The eager route (see relukit._ops.piecewise): the same launches without the custom-op dispatch
# ----------------------------------------------------------------------------------------------
class _Fused(torch.autograd.Function):
    """``relukit::fused_forward`` and its autograd as a plain ``autograd.Function``, for eager calls."""

    @staticmethod
    def forward(ctx, x, bias, dim, entry, params, store_codes):
        y, codes = launch_forward(entry, params, x, bias, dim, store_codes)
        _save(ctx, x, bias, dim, entry, params, codes)
        return y, codes

    backward = staticmethod(_forward_backward)


def forward(
    entry: catalog.Activation,
    params: dict[str, Any],
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    dim: int = -1,
    store_codes: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``launch_forward`` with autograd: ``_Fused`` in eager mode, the traceable custom op otherwise."""
    if eager(x):
        return _Fused.apply(x, bias, dim, entry, params, store_codes)
    return fused_forward(x, bias, dim, entry.name, encode(entry, params), store_codes)


def backward(grad: torch.Tensor, codes: torch.Tensor, slopes: list[float], multiply: bool) -> torch.Tensor:
    """``launch_backward`` in eager mode when autograd does not record it, else the differentiable custom op."""
    if eager(grad) and not (grad.requires_grad and torch.is_grad_enabled()):
        return launch_backward(grad, codes, slopes, multiply)
    return fused_backward(grad, codes, slopes, multiply)

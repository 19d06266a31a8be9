"""relukit.kernels: fused Triton kernels for the piecewise-linear members (optional extra ``gpu``).

An elementwise activation is memory-bound, so the fast kernel is the one that touches each byte once:

* ``forward(name, x, **params) -> (y, codes)`` reads x and writes y and the packed derivative codes
  (``relukit._ops.packing``'s format) in one pass: 2 s + 1/8 bytes per element for 1-bit codes, where the
  torch op and a separate packing pass stream 2 s + s + 1/8 (s = bytes per element).
* ``backward(name, grad, codes, **params) -> grad_input`` reads grad and the codes once: 2 s + 1/8 bytes,
  where torch's backward reads a saved full tensor too (3 s).
* ``bias_act(name, x, bias, dim=-1, store_codes=True, **params) -> (y, codes)`` adds a bias broadcast along
  ``dim`` first (a Linear or Conv epilogue): one pass instead of torch's two.

The kernels are generated from the catalog (``relukit.kernels.codegen``; ``source(name, **params)`` shows
the text), compute in float32 registers for fp32/fp16/bf16, and give torch's values and gradients bit for
bit. ``relukit.functional`` uses them for CUDA tensors. They need CUDA tensors, or CPU tensors under
``TRITON_INTERPRET=1`` (the Triton interpreter, for tests). Differentiable: ``forward``/``bias_act`` have
autograd (gradients from the codes; the bias gradient is a torch reduction).
"""

from __future__ import annotations

from typing import Any

try:
    import triton  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised where triton is missing
    raise ImportError("relukit.kernels needs triton: pip install 'relukit[gpu]'") from error

import torch

from relukit import catalog
from relukit._bias import check_bias
from relukit._ops import packing
from relukit._ops.piecewise import backward_args
from relukit.kernels import codegen, ops
from relukit.kernels.ops import SUPPORTED_DTYPES, interpreting

__all__ = ["forward", "backward", "bias_act", "source", "SUPPORTED_DTYPES"]


def _entry(fn: str, name: str) -> catalog.Activation:
    try:
        entry = catalog.lookup(name)
    except ValueError as error:
        raise ValueError(f"{fn}: {error}") from None
    if not entry.piecewise_linear:
        members = ", ".join(m.name for m in catalog.MEMBERS if m.piecewise_linear)
        raise ValueError(f"{fn}: name must be a piecewise-linear member ({members}), got {name!r}")
    return entry


def _check(fn: str, arg: str, t: Any) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{fn}: {arg} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{fn}: {arg} must be float32, float16 or bfloat16, got {t.dtype}")
    if t.device.type != "cuda" and not (interpreting() and t.device.type == "cpu"):
        raise ValueError(f"{fn}: {arg} must be a CUDA tensor (CPU only under TRITON_INTERPRET=1), got {t.device}")


def forward(name: str, x: torch.Tensor, **params: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, packed derivative codes) of a piecewise-linear member, in one pass over x."""
    entry = _entry("relukit.kernels.forward", name)
    bound = entry.bind("relukit.kernels.forward", params)
    _check("relukit.kernels.forward", "x", x)
    return ops.forward(entry, bound, x)


def backward(name: str, grad: torch.Tensor, codes: torch.Tensor, **params: Any) -> torch.Tensor:
    """grad_input = grad * slopes[code] from the packed codes that ``forward`` returned."""
    fn = "relukit.kernels.backward"
    entry = _entry(fn, name)
    bound = entry.bind(fn, params)
    _check(fn, "grad", grad)
    expected = packing.packed_size(grad.numel(), entry.code_bits(**bound))
    if not isinstance(codes, torch.Tensor) or codes.dtype != torch.uint8:
        given = codes.dtype if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise TypeError(f"{fn}: codes must be a torch.uint8 tensor, got {given}")
    if codes.numel() != expected:
        raise ValueError(
            f"{fn}: codes must be {expected} packed bytes for {grad.numel()} elements, got {codes.numel()}"
        )
    if codes.device != grad.device:
        raise ValueError(f"{fn}: codes must be on {grad.device}, got {codes.device}")
    return ops.backward(grad, codes, *backward_args(entry, bound))


def bias_act(
    name: str, x: torch.Tensor, bias: torch.Tensor, *, dim: int = -1, store_codes: bool = True, **params: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """(act(x + bias), codes) in one pass, ``bias`` (1-D) broadcast along ``dim`` of x."""
    fn = "relukit.kernels.bias_act"
    entry = _entry(fn, name)
    bound = entry.bind(fn, params)
    _check(fn, "x", x)
    check_bias(fn, x, bias, dim)
    return ops.forward(entry, bound, x, bias, dim, store_codes)


def source(name: str, **params: Any) -> str:
    """The generated Triton source of a member's forward kernel (read it to see what runs)."""
    entry = _entry("relukit.kernels.source", name)
    return codegen.forward_source(entry, entry.bind("relukit.kernels.source", params))

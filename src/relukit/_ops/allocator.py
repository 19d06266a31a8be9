"""Outputs that the CPU kernels write into: same dense layout as the input, huge pages for large blocks.

Large outputs (>= 32 MiB, which glibc maps fresh on every allocation) are advised to use transparent
huge pages before the kernel first touches them: 512x fewer page faults, which on this kind of machine
otherwise cost more than the arithmetic (see BENCHMARKS.md). ``RELUKIT_HUGEPAGES=0`` turns this off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import torch

HUGE_PAGE = 2 << 20
HUGE_PAGE_MIN_BYTES = 32 << 20  # glibc's largest mmap threshold: smaller blocks are reused from its heap
_MADV_HUGEPAGE = 14


def _libc_madvise():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.madvise


_madvise = _libc_madvise()


def is_dense(x: torch.Tensor) -> bool:
    """x covers one contiguous block of memory in some dimension order (contiguous, channels_last,
    transposed, ...): not a view with gaps or overlaps."""
    if x.is_contiguous():
        return True
    order = sorted(range(x.dim()), key=lambda d: -x.stride(d))
    return x.permute(order).is_contiguous()


def empty_output(x: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(x)`` (same dense layout); blocks of >= 32 MiB are advised to use huge pages
    before anything touches them. Advice is best effort: where it is refused the tensor is the same."""
    out = torch.empty_like(x, memory_format=torch.preserve_format)
    nbytes = out.numel() * out.element_size()
    advise = os.environ.get("RELUKIT_HUGEPAGES", "1") != "0"
    if advise and _madvise is not None and out.device.type == "cpu" and nbytes >= HUGE_PAGE_MIN_BYTES:
        start = (out.data_ptr() + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)
        end = (out.data_ptr() + nbytes) & ~(HUGE_PAGE - 1)
        if end > start:
            _madvise(start, end - start, _MADV_HUGEPAGE)
    return out

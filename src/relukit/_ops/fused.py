"""Catalog formulas compiled into fused CPU kernels by Inductor (``torch.compile``).

A smooth member's reference forward and derivative (``relukit.catalog``) are compiled once per
(member, parameters) into two single-pass loops that write into a preallocated output:
``out = f(x)`` and ``out = grad * f'(x)`` (float32, contiguous, any length: ``dynamic=True``).

* Latency: compiling takes ~10 s cold (~3 s from Inductor's cache) on 2 cores. It runs in a background
  thread, started once callers have pushed ``START_AFTER_ELEMENTS`` (2^26, about a second of torch's
  Mish) through the member, so one-off calls never pay for it; until it is ready callers use torch's
  own kernels. The thread is not a daemon: an interpreter exiting mid-compile waits for it (a killed
  compile aborts the process). ``warmup(name, params)`` compiles synchronously (tests, benchmarks).
* Cache: Inductor keeps compiled kernels on disk (``TORCHINDUCTOR_CACHE_DIR``, by default
  ``/tmp/torchinductor_<user>``), so later processes only pay tracing (~2-4 s, still in the background).
* Fallback: without a C++ compiler, or when compiling fails for any reason, a ``FusedKernelWarning``
  is issued once and callers keep torch's kernels. ``RELUKIT_FUSED=0`` turns fused kernels off.
* At run time a guard miss never compiles on the caller's thread: calls run under the
  ``eager_on_recompile`` stance and a miss evaluates the (unfused) catalog formula, which is still exact.

Large outputs (>= 32 MiB, which glibc maps fresh on every allocation) are advised to use transparent
huge pages before the kernel first touches them: 512x fewer page faults, which on this kind of machine
otherwise cost more than the arithmetic (see BENCHMARKS.md). ``RELUKIT_HUGEPAGES=0`` turns this off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import numbers
import os
import shutil
import sys
import threading
import types
import warnings
from typing import Any

import array_api_compat.torch as xp_torch
import torch

from relukit import catalog

START_AFTER_ELEMENTS = 1 << 26
RUN_STANCE = "eager_on_recompile"  # tests use "fail_on_recompile" to prove calls hit the compiled code
HUGE_PAGE = 2 << 20
HUGE_PAGE_MIN_BYTES = 32 << 20  # glibc's largest mmap threshold: smaller blocks are reused from its heap
_MADV_HUGEPAGE = 14


class FusedKernelWarning(UserWarning):
    """A fused kernel could not be built; torch's kernels are used instead."""


class _TraceableTorch:
    """The array-API namespace for torch tensors, with the functions that take Python scalars mapped to
    plain torch calls: array_api_compat promotes scalars with ``torch.result_type``, which dynamo cannot
    trace. The catalog's formulas run unchanged on either namespace."""

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


# ----------------------------------------------------------------------------------------------
# Outputs backed by huge pages
# ----------------------------------------------------------------------------------------------
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


def flat(x: torch.Tensor) -> torch.Tensor:
    """A plain 1-D tensor over the memory of a dense x, in storage order. Not a view: dynamo guards the
    shape of a view's base, which would miss for every new input shape."""
    return x.new_empty(0).set_(x.untyped_storage(), x.storage_offset(), (x.numel(),), (1,))


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


# ----------------------------------------------------------------------------------------------
# Compiled kernels
# ----------------------------------------------------------------------------------------------
def enabled() -> bool:
    return os.environ.get("RELUKIT_FUSED", "1").lower() not in ("0", "off", "false", "no")


def compiler_available() -> bool:
    """A C++ compiler Inductor can use (``$CXX``, else the usual names) is on the PATH."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    return any(shutil.which(c) for c in candidates)


def _own_code(fn: Any, tag: str) -> Any:
    """``fn`` with a code object of its own: dynamo keeps compiled entries, and counts them against its
    recompile limit (8), per code object, and every member's kernels share these closures' code."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


class Fused:
    """Compiled ``forward_into(x, out)`` and ``backward_into(grad, x, out)`` for one member."""

    def __init__(self, name: str, params: dict[str, Any], index: int = -1):
        self.name, self.params, self.index = name, dict(params), index
        self.state = "idle"  # idle -> compiling -> ready | failed
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._forward = self._backward = None
        self.elements_seen = 0

    def _build(self) -> None:
        entry, params = catalog.BY_NAME[self.name], self.params

        def forward_into(x, out):
            out.copy_(entry.forward(x, xp_traceable, **params))

        def backward_into(grad, x, out):
            out.copy_(grad * entry.derivative(x, xp_traceable, **params))

        tag = f"{self.name}_{self.index}"
        self._forward = torch.compile(_own_code(forward_into, tag), dynamic=True, fullgraph=True)
        self._backward = torch.compile(_own_code(backward_into, tag), dynamic=True, fullgraph=True)
        for inference in (False, True):  # inference tensors carry other dispatch keys: a second graph
            with torch.inference_mode(inference):
                x, grad = torch.linspace(-8, 8, 1 << 15), torch.ones(1 << 15)
                _fused(self.index, False, x, None)  # compiles, in an op's dispatch context
                _fused(self.index, True, x, grad)

    def _compile(self) -> None:
        try:
            if not compiler_available():
                raise RuntimeError("no C++ compiler found (set CXX or install g++/clang++)")
            self._build()
            self.state = "ready"
        except Exception as error:  # any failure means: keep torch's kernels
            self.state = "failed"
            if not threading.main_thread().is_alive():
                return  # the interpreter is exiting: Inductor's worker pools refuse work; nothing to report
            warnings.warn(
                f"relukit: fused {self.name} kernel unavailable ({type(error).__name__}: {error}); "
                "using torch's kernels",
                FusedKernelWarning,
                stacklevel=2,
            )
        finally:
            self._done.set()

    def start(self, block: bool = False) -> str:
        """Starts compiling (in a background thread unless ``block``) and returns the state."""
        with self._lock:
            if self.state == "idle":
                self.state = "compiling"
                if block:
                    self._compile()
                else:
                    # Inductor's worker pools import these; importing them now registers their exit hooks
                    # before any interpreter shutdown, which would refuse new registrations mid-compile.
                    import concurrent.futures.process  # noqa: F401
                    import concurrent.futures.thread  # noqa: F401

                    threading.Thread(target=self._compile, name=f"relukit-fused-{self.name}").start()
        if block:
            self._done.wait()
        return self.state

    def ready(self, numel: int = 0) -> bool:
        """True when the kernels can be called; counts ``numel`` towards starting the compile."""
        if self.state == "idle" and enabled():
            self.elements_seen += numel
            if self.elements_seen >= START_AFTER_ELEMENTS:
                self.start()
        return self.state == "ready"

    def compute(self, backward: bool, x: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
        """f(x), or grad * f'(x) with ``backward``, laid out like x (float32, ``is_dense``; grad
        any layout of x's shape). Call only when ``ready()``, and only from inside a custom op's
        implementation (``relukit::fused`` or an op like ``relukit::mish``): dynamo's guards include the
        thread's dispatch keys, which differ between op implementations and plain Python."""
        out = empty_output(x)
        if backward and grad.stride() != x.stride():
            grad = torch.empty_like(x).copy_(grad)  # same memory order as x
        stance = RUN_STANCE if self.state == "ready" else "default"  # compile only while building
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False), torch.compiler.set_stance(stance):
            if backward:
                self._backward(flat(grad), flat(x), flat(out))
            else:
                self._forward(flat(x), flat(out))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) from Python (through ``relukit::fused``); call only when ``ready()``."""
        return torch.ops.relukit.fused(self.index, False, x.detach(), None)

    def backward(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """grad * f'(x) from Python (through ``relukit::fused``); call only when ``ready()``."""
        return torch.ops.relukit.fused(self.index, True, x.detach(), grad.detach())


_ALL: list[Fused] = []
_BY_KEY: dict[tuple[str, tuple], Fused] = {}


@torch.library.custom_op("relukit::fused", mutates_args=())
def _fused(index: int, backward: bool, x: torch.Tensor, grad: torch.Tensor | None) -> torch.Tensor:
    """A compiled kernel behind an op boundary, so that Python callers and ops see one guard context."""
    return _ALL[index].compute(backward, x, grad)


@_fused.register_fake
def _(index: int, backward: bool, x: torch.Tensor, grad: torch.Tensor | None) -> torch.Tensor:
    return torch.empty_like(x)


def kernels(name: str, params: dict[str, Any] | None = None) -> Fused:
    """The (process-wide) fused kernels of a smooth catalog member."""
    params = params or {}
    key = (name, tuple(sorted(params.items())))
    if key not in _BY_KEY:
        _BY_KEY[key] = Fused(name, params, index=len(_ALL))
        _ALL.append(_BY_KEY[key])
    return _BY_KEY[key]


def warmup(name: str = "mish", params: dict[str, Any] | None = None) -> bool:
    """Compiles a member's fused kernels now; True when they are ready (False: torch's kernels are used)."""
    return kernels(name, params).start(block=True) == "ready"

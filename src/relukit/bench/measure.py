"""Measuring for ``relukit bench``: relukit against torch eager, torch.compile and NumPy, and the roofline.

An elementwise activation is memory-bound, so its limit is the time to stream its bytes. For each op x
dtype x size this measures forward and forward+backward medians (after warm-up; implementations take
turns, so drift hits them alike), the effective bandwidth of the bytes each one must move, and that as a
fraction of the device's own copy bandwidth measured in the same run (``dst.copy_(src)``: read + write).

Bytes per element (s = dtype size, c = code bits / 8): torch forward 2 s, backward 3 s (grad, saved
tensor, grad_input); relukit forward 2 s + c, backward 2 s + c (grad, codes, grad_input). "Forward" is
the training forward: the input requires grad, so torch saves its tensor and relukit packs its codes.
Saved bytes are what autograd keeps for backward (``torch.autograd.graph.saved_tensors_hooks``, each
storage once, leaf tensors that require grad left out: they are alive anyway).

``run(config)`` returns plain data (a dict, the JSON schema); :mod:`relukit.bench.present` prints it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from relukit import catalog

SCHEMA = 1


def _clock(device: str) -> Callable[[Callable[[], Any]], float]:
    import torch

    if device == "cuda":

        def cuda_time(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        return cuda_time

    def cpu_time(fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return cpu_time


def _call_times(fn: Callable[[], Any], count: int) -> None:
    for _ in range(count):  # each result is dropped before the next call, as in a loop of steps
        fn()


SAMPLE_SECONDS = 2e-3  # a sample times consecutive calls of one function for about this long


def medians(fns: dict[str, Callable[[], Any]], device: str, warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of each function; they take turns every repeat, so slow drifts hit all alike.

    A sample is one untimed call, then consecutive calls for about ``SAMPLE_SECONDS`` (at least one), timed
    together: each function is timed in its own steady state. Timed right after another function, a call
    inherits that function's heap (glibc returns freed blocks to the system or reuses them depending on the
    sizes freed just before), and which one pays fresh pages (~2-5 us per 4 KiB on a VM) then depends on
    its place in the turn order, not on its own allocations. The minimum of each rides along as
    ``"<key> min"`` (on a shared machine, the uncontended time)."""
    clock = _clock(device)
    calls = {}
    for key, fn in fns.items():
        for _ in range(max(1, warmup)):
            seconds = clock(fn)
        calls[key] = max(1, min(1000, round(SAMPLE_SECONDS / max(seconds, 1e-9))))
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            fn()
            count = calls[key]
            times[key].append(clock(functools.partial(_call_times, fn, count)) / count)
    result = {key: statistics.median(values) for key, values in times.items()}
    return result | {f"{key} min": min(values) for key, values in times.items()}


def saved_bytes(fn: Callable[[Any], Any], x: Any) -> int:
    """Bytes autograd keeps for backward of ``fn`` at a non-leaf input like x (``SavedTensorMeter``)."""
    from relukit.diagnostics import SavedTensorMeter

    hidden = x.detach().clone().requires_grad_() * 1.0
    with SavedTensorMeter() as meter:
        fn(hidden)
    return meter.saved_bytes


def _implementations(name: str, params: dict, use_compile: bool) -> dict[str, Callable]:
    import torch

    import relukit.functional as rf
    from relukit._ops.piecewise import stock_forward

    entry = catalog.BY_NAME[name]
    torch_fn = lambda x: stock_forward(entry, x, params)  # torch's own op (rectify: the formula)
    impls = {"torch": torch_fn, "relukit": lambda x: getattr(rf, name)(x, **params)}
    if use_compile:
        impls["torch.compile"] = torch.compile(torch_fn, dynamic=False)
    return impls


def _bytes_per_element(impl: str, itemsize: int, code_bytes: float) -> tuple[float, float]:
    """(forward, forward+backward) bytes that must move per element (see the module docstring)."""
    if impl == "relukit" and code_bytes:
        return 2 * itemsize + code_bytes, 4 * itemsize + 2 * code_bytes
    return 2 * itemsize, 5 * itemsize


# members whose parameters have no default (torch's threshold): benchmarked as a relu-like threshold at 0
_REQUIRED_PARAMS = {"threshold": {"threshold": 0.0, "value": 0.0}}


def _release_heap() -> None:
    """glibc's ``malloc_trim(0)``: its heap's free memory back to the system (a no-op elsewhere). Each CPU
    case starts from it, so that none inherits the free blocks of the case before: blocks above the mmap
    threshold are otherwise served from that leftover (already paged in) while it lasts, and the
    implementations timed first at a new size get pages the later ones fault in."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def bench_case(name: str, dtype: str, size: int, config: dict, copy_gbps: float) -> list[dict]:
    """Rows for one op x dtype x size: torch, relukit (and torch.compile, relukit.array on NumPy)."""
    import torch

    entry = catalog.BY_NAME[name]
    params = entry.bind(f"relukit bench {name}", _REQUIRED_PARAMS.get(name, {}))
    device, torch_dtype = config["device"], getattr(torch, dtype)
    generator = torch.Generator(device=device).manual_seed(size)
    x = torch.randn(size, generator=generator, device=device).to(torch_dtype).requires_grad_()
    grad = torch.randn(size, generator=generator, device=device).to(torch_dtype)
    impls = _implementations(name, params, config["compile"])
    forward = {key: (lambda f=f: f(x)) for key, f in impls.items()}
    both = {key: (lambda f=f: torch.autograd.grad(f(x), x, grad)) for key, f in impls.items()}
    if device == "cpu":
        _release_heap()
    times = medians(forward | {f"{k}+bwd": v for k, v in both.items()}, device, config["warmup"], config["repeats"])
    code_bytes = entry.code_bits(**params) / 8 if entry.piecewise_linear else 0.0
    rows = []
    for key, f in impls.items():
        fwd_bytes, both_bytes = _bytes_per_element(key, x.element_size(), code_bytes)
        rows.append(
            _row(name, dtype, size, key, times[key], times[f"{key}+bwd"], fwd_bytes, both_bytes, copy_gbps)
            | {"saved_bytes": None if key == "torch.compile" else saved_bytes(f, x)}
            | {"forward_min_s": times[f"{key} min"], "forward_backward_min_s": times[f"{key}+bwd min"]}
        )
    if device == "cpu" and dtype != "bfloat16":
        rows.append(_numpy_row(entry, params, x, dtype, size, config, copy_gbps))
    for row in rows:
        for stat in ("forward", "forward_backward"):
            for suffix in ("s", "min_s"):
                if row[f"{stat}_{suffix}"] is not None:
                    key = f"{stat}_vs_torch" + ("" if suffix == "s" else "_min")
                    row[key] = row[f"{stat}_{suffix}"] / rows[0][f"{stat}_{suffix}"]
    return rows


def _numpy_row(entry, params, x, dtype, size, config, copy_gbps) -> dict:
    import relukit.array as ra

    array = x.detach().numpy()
    fn = getattr(ra, entry.name)
    times = medians({"np": lambda: fn(array, **params)}, "cpu", config["warmup"], config["repeats"])
    row = _row(entry.name, dtype, size, "relukit.array (NumPy)", times["np"], None, 2 * array.itemsize, 0, copy_gbps)
    return row | {"forward_min_s": times["np min"]}


def _row(name, dtype, size, impl, fwd_s, both_s, fwd_bytes, both_bytes, copy_gbps) -> dict:
    gbps = fwd_bytes * size / fwd_s / 1e9
    return {
        "op": name,
        "dtype": dtype,
        "size": size,
        "impl": impl,
        "forward_s": fwd_s,
        "forward_gbps": gbps,
        "forward_roofline": gbps / copy_gbps,
        "forward_backward_s": both_s,
        "forward_backward_gbps": None if both_s is None else both_bytes * size / both_s / 1e9,
        "saved_bytes": None,
        "forward_min_s": None,
        "forward_backward_min_s": None,
        "forward_vs_torch": None,
        "forward_backward_vs_torch": None,
        "forward_vs_torch_min": None,
        "forward_backward_vs_torch_min": None,
    }


def copy_bandwidth(device: str, dtype: str, size: int, warmup: int, repeats: int) -> float:
    """GB/s of ``dst.copy_(src)`` (read + write) on this device: the roofline an elementwise op can reach."""
    import torch

    src = torch.randn(size, device=device).to(getattr(torch, dtype))
    dst = torch.empty_like(src)
    seconds = medians({"copy": lambda: dst.copy_(src)}, device, warmup, repeats)["copy"]
    return 2 * src.element_size() * size / seconds / 1e9


def machine(device: str) -> dict:
    import numpy
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine()}
    info |= {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    info |= {"cpu_threads": torch.get_num_threads(), "device": device}
    from relukit import backend

    info["cpu_backend"] = backend()  # "native" (the C++ kernels) or "python"
    info["allocator"] = (
        "huge pages (THP_MEM_ALLOC_ENABLE=1)" if os.environ.get("THP_MEM_ALLOC_ENABLE") == "1" else "default"
    )
    if device == "cuda":
        info["device_name"] = torch.cuda.get_device_name()
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    return info


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``count`` (None: torch's choice) for the block, restored after it."""
    if count is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _size_column(config: dict, dtype: str, size: int, threads: int | None) -> tuple[float, list[dict]]:
    """The copy bandwidth and every op's rows at one dtype x size."""
    with cpu_threads(threads):
        gbps = copy_bandwidth(config["device"], dtype, size, config["warmup"], config["repeats"])
        return gbps, [row for name in config["ops"] for row in bench_case(name, dtype, size, config, gbps)]


def _in_fresh_process(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a new Python process (spawned, so nothing of this one's heap is inherited)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def run(config: dict, threads: int | None = None) -> dict:
    """Measures every op x dtype x size on ``threads`` CPU threads; returns plain data (the JSON schema).

    On the CPU each dtype x size runs in a fresh process when there are several. In one process, the holes
    that one size's blocks leave in glibc's heap serve the next size's blocks, whatever their size (glibc
    takes a free chunk that fits before it considers mmap): whichever implementation's blocks fit ran
    without page faults, the other faulted its blocks in (2^24 elements after 2^22: torch's relu
    forward+backward 18 ms against relukit's 68 ms, ratios of 1.5-3.8 across runs; in fresh processes 90-114 ms
    against 87-97 ms)."""
    results, copy = [], {}
    fresh = config["device"] == "cpu" and len(config["dtypes"]) * len(config["sizes"]) > 1
    for dtype in config["dtypes"]:
        for size in config["sizes"]:
            args = (config, dtype, size, threads)
            gbps, rows = _in_fresh_process(_size_column, *args) if fresh else _size_column(*args)
            copy.setdefault(dtype, {})[str(size)] = gbps
            results.extend(rows)
    with cpu_threads(threads):
        measured_on = machine(config["device"])
    return {
        "schema": SCHEMA,
        "config": config,
        "machine": measured_on,
        "copy_gbps": copy,
        "results": results,
    }

"""``relukit bench``: relukit against torch eager, torch.compile and NumPy, and against the memory roofline.

An elementwise activation is memory-bound, so its limit is the time to stream its bytes. For each op x
dtype x size this measures forward and forward+backward medians (after warm-up; implementations take
turns, so drift hits them alike), the effective bandwidth of the bytes each one must move, and that as a
fraction of the device's own copy bandwidth measured in the same run (``dst.copy_(src)``: read + write).

Bytes per element (s = dtype size, c = code bits / 8): torch forward 2 s, backward 3 s (grad, saved
tensor, grad_input); relukit forward 2 s + c, backward 2 s + c (grad, codes, grad_input). "Forward" is
the training forward: the input requires grad, so torch saves its tensor and relukit packs its codes.
Saved bytes are what autograd keeps for backward (``torch.autograd.graph.saved_tensors_hooks``, each
storage once, leaf tensors that require grad left out: they are alive anyway).

``run(...)`` returns plain data (a dict, the JSON schema); ``render`` prints it (rich, when installed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from relukit import catalog

DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16"}
DTYPES |= {"bfloat16": "bfloat16", "bf16": "bfloat16", "float64": "float64", "fp64": "float64"}
DEFAULT_OPS = ("relu", "leaky_relu", "relu6", "hardtanh")
DEFAULT_SIZES = {"cpu": "2^20,2^24", "cuda": "2^24,2^28"}
SCHEMA = 1


def parse_sizes(text: str) -> list[int]:
    """``"2^20,2^24,1000"`` -> [1048576, 16777216, 1000]; ``2**k`` works too."""
    sizes = []
    for item in text.split(","):
        item = item.strip()
        power = re.fullmatch(r"2\s*(?:\^|\*\*)\s*(\d+)", item)
        if power and int(power.group(1)) <= 40:
            sizes.append(1 << int(power.group(1)))
        elif item.isdigit() and int(item) > 0:
            sizes.append(int(item))
        else:
            raise ValueError(f"--sizes: cannot read {item!r}; give positive counts such as 2^20,2^24 or 1000000")
    return sizes


def parse_dtypes(text: str) -> list[str]:
    try:
        return list(dict.fromkeys(DTYPES[item.strip().lower()] for item in text.split(",")))
    except KeyError as error:
        raise ValueError(f"--dtype: unknown dtype {error.args[0]!r}; choose from {', '.join(sorted(DTYPES))}") from None


def parse_ops(text: str) -> list[str]:
    names = []
    for item in text.split(","):
        entry = catalog.lookup(item.strip())  # ValueError listing the members
        if entry.takes_weight:
            raise ValueError(f"--ops: {entry.name} needs a weight tensor; bench it through relukit.nn.{entry.module}")
        names.append(entry.name)
    return list(dict.fromkeys(names))


# ----------------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------------
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


def medians(fns: dict[str, Callable[[], Any]], device: str, warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds of each function; they take turns every repeat, so slow drifts hit all alike.
    The minimum of each rides along as ``"<key> min"`` (on a shared machine, the uncontended time)."""
    clock = _clock(device)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            times[key].append(clock(fn))
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


def run(config: dict) -> dict:
    """Measures every op x dtype x size; returns plain data (``render`` prints it)."""
    results, copy = [], {}
    for dtype in config["dtypes"]:
        for size in config["sizes"]:
            gbps = copy_bandwidth(config["device"], dtype, size, config["warmup"], config["repeats"])
            copy.setdefault(dtype, {})[str(size)] = gbps
            for name in config["ops"]:
                results.extend(bench_case(name, dtype, size, config, gbps))
    return {
        "schema": SCHEMA,
        "config": config,
        "machine": machine(config["device"]),
        "copy_gbps": copy,
        "results": results,
    }


# ----------------------------------------------------------------------------------------------
# Output and the command line
# ----------------------------------------------------------------------------------------------
COLUMNS = (
    ("op", "op", str),
    ("dtype", "dtype", str),
    ("size", "n", lambda v: f"2^{v.bit_length() - 1}" if v & (v - 1) == 0 else str(v)),
    ("impl", "impl", str),
    ("forward_s", "fwd ms", lambda v: f"{v * 1e3:.3f}"),
    ("forward_gbps", "fwd GB/s", lambda v: f"{v:.1f}"),
    ("forward_roofline", "fwd % copy", lambda v: f"{v:.0%}"),
    ("forward_vs_torch", "fwd t/torch", lambda v: f"{v:.2f}"),
    ("forward_vs_torch_min", "(min)", lambda v: f"{v:.2f}"),
    ("forward_backward_s", "f+b ms", lambda v: f"{v * 1e3:.3f}"),
    ("forward_backward_vs_torch", "f+b t/torch", lambda v: f"{v:.2f}"),
    ("forward_backward_vs_torch_min", "(min)", lambda v: f"{v:.2f}"),
    ("saved_bytes", "saved", lambda v: f"{v / 2**20:.2f} MiB" if v >= 2**20 else f"{v / 2**10:.1f} KiB"),
)


def table_rows(data: dict) -> list[list[str]]:
    return [[("-" if row[key] is None else fmt(row[key])) for key, _, fmt in COLUMNS] for row in data["results"]]


def render(data: dict, file=None) -> None:
    """Prints the results table (rich when installed, plain text otherwise) and the copy bandwidths."""
    file = file or sys.stdout
    headers = [title for _, title, _ in COLUMNS]
    copy = ", ".join(
        f"{d} 2^{int(s).bit_length() - 1}: {g:.1f} GB/s" for d, by in data["copy_gbps"].items() for s, g in by.items()
    )
    caption = f"{data['machine']['device']} copy bandwidth (the roofline): {copy}"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in table_rows(data))) for i, h in enumerate(headers)]
        for line in [headers, *table_rows(data)]:
            print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)), file=file)
        print(caption, file=file)
        return
    title = "relukit bench (t/torch: median time relative to torch eager, lower is faster; (min): of minima)"
    if data["machine"].get("cpu_backend"):
        title += f"; CPU path: {data['machine']['cpu_backend']}, allocator: {data['machine']['allocator']}"
    table = Table(title=title, caption=caption)
    for header in headers:
        table.add_column(header, justify="left" if header in ("op", "dtype", "impl") else "right")
    for line in table_rows(data):
        table.add_row(*line)
    Console(file=file, width=max(160, Console().width)).print(table)


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="time relukit against torch, torch.compile, NumPy and the roofline")
    bench.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    bench.add_argument("--dtype", default="float32", help="comma-separated: float32,bfloat16,float16,float64")
    bench.add_argument(
        "--sizes", default=None, help="elements, comma-separated (default cpu 2^20,2^24; cuda 2^24,2^28)"
    )
    bench.add_argument("--ops", default=",".join(DEFAULT_OPS), help=f"members (default {','.join(DEFAULT_OPS)})")
    bench.add_argument("--quick", action="store_true", help="fewer repeats; default size 2^20 only (< 1 min on CPU)")
    bench.add_argument("--compile", action="store_true", help="also time torch.compile of torch's op")
    bench.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 15; quick 5)")
    bench.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    bench.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    bench.set_defaults(run=command)


def configure(args: argparse.Namespace) -> dict:
    """Checked settings from the parsed arguments (ValueError with the flag and value otherwise)."""
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: CUDA is not available here (torch.cuda.is_available() is False)")
    sizes = args.sizes or ("2^20" if args.quick and args.device == "cpu" else DEFAULT_SIZES[args.device])
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 15)
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    return {
        "device": args.device,
        "dtypes": parse_dtypes(args.dtype),
        "sizes": parse_sizes(sizes),
        "ops": parse_ops(args.ops),
        "compile": args.compile,
        "repeats": repeats,
        "warmup": 1 if args.quick else 3,
    }


def command_line(config: dict) -> str:
    """A ``relukit bench`` command that repeats this run (the JSON records it)."""
    import torch

    parts = ["relukit bench", f"--device {config['device']}", f"--dtype {','.join(config['dtypes'])}"]
    parts += [f"--sizes {','.join(str(s) for s in config['sizes'])}", f"--ops {','.join(config['ops'])}"]
    parts += [f"--repeats {config['repeats']}", f"--threads {torch.get_num_threads()}"]
    return " ".join(
        parts + (["--compile"] if config["compile"] else []) + (["--quick"] if config["warmup"] == 1 else [])
    )


def command(args: argparse.Namespace) -> int:
    try:
        config = configure(args)
    except ValueError as error:
        print(f"relukit bench: {error}", file=sys.stderr)
        return 2
    data = run(config)
    data["command"] = command_line(config)
    render(data)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(data, handle, indent=1)
    return 0

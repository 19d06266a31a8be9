"""Where the time of a relukit call goes on a GPU, route by route, next to torch's own op.

Routes for a piecewise-linear member (relu, leaky_relu), from the outside in:

- ``functional``: ``relukit.functional.relu(x)``, what a model calls;
- ``custom_op``: ``torch.ops.relukit.piecewise_forward`` with its registered autograd (the traced route, and
  the eager one before the eager ``autograd.Function``);
- ``kernels``: ``relukit.kernels.forward/backward`` (custom ops without autograd);
- ``launch``: ``relukit.kernels.ops.launch_forward/launch_backward`` (the Triton launches and allocations);
- ``triton``: the bare Triton launch into preallocated outputs.

1. Host time per call on a tiny tensor (2^12 elements), calls issued back to back: the GPU work is
   negligible, so this is the Python + dispatch + launch cost each call adds before its kernel can start.
2. At 2^24 and 2^28, bf16 and fp32: ``triton.testing.do_bench`` medians (L2 flushed, no sync between
   calls: a call whose host time exceeds its GPU time shows the host time) and the ``relukit bench``
   clock (events around one call on an idle GPU, synchronised after each: host latency always counts).
3. The CUDA kernels of one ``functional`` forward+backward at 2^28 bf16 (torch.profiler): what runs on
   the GPU, and for how long.
4. Quick checks that the eager route keeps torch's values and gradients bit for bit (and double
   backward, and ``torch.compile``), then ``relukit bench --device cuda``.

Run from the repository root: ``PYTHONPATH=src python benchmarks/gpu_overhead.py --json out.json``
(``--skip-checks``, ``--skip-cli`` to shorten it). Without a GPU: ``TRITON_INTERPRET=1 PYTHONPATH=src
.venv/bin/python benchmarks/gpu_overhead.py --dry-run`` runs every step on CPU at tiny sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import triton

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_bench  # noqa: E402 (its sampling, comparison and timing helpers)

import relukit.functional as rf  # noqa: E402
import relukit.kernels as K  # noqa: E402
from relukit import catalog  # noqa: E402
from relukit._ops import piecewise  # noqa: E402
from relukit.kernels import ops  # noqa: E402

REPORT: dict = {"host_us": {}, "timings": [], "profile": {}, "checks": []}
log = gpu_bench.log


def sync():
    if gpu_bench.DEVICE == "cuda":
        torch.cuda.synchronize()


def host_us(fn, calls=200, rounds=5):
    """Host microseconds per call, the best of ``rounds`` loops of ``calls`` back-to-back calls."""
    if gpu_bench.DEVICE != "cuda":  # dry run: the interpreter is slow
        calls, rounds = 2, 1
    for _ in range(min(calls, 20)):
        fn()
    sync()
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - start)
        sync()
    return best / calls * 1e6


def event_ms(fn, repeats=20):
    """``relukit bench``'s clock: events around one call on an idle GPU, median of ``repeats``."""
    if gpu_bench.DEVICE != "cuda":
        return gpu_bench.ms(fn)
    times = []
    for _ in range(repeats + 3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times[3:])


def routes(name: str, x: torch.Tensor, grad: torch.Tensor) -> dict[str, dict]:
    """Forward (training: the input requires grad) and forward+backward callables of every route."""
    entry = catalog.BY_NAME[name]
    params = entry.bind(name, {})
    encoded = piecewise.encode(entry, params)
    slopes = [float(s) for s in entry.slopes(**params)]
    multiply = entry.backward == "multiply"
    leaf = x.detach().clone().requires_grad_()
    torch_fn, rf_fn = getattr(F, name), getattr(rf, name)
    custom = lambda t: torch.ops.relukit.piecewise_forward(t, name, encoded)[0]
    y = torch.empty_like(x)
    codes = torch.empty(x.numel() // 8 + 1, dtype=torch.uint8, device=x.device)
    options = ops._launch_options(x)
    grid = (triton.cdiv(x.numel(), options["BLOCK"]),)
    kernel = ops.forward_kernel(entry, params)
    launch = lambda: ops.launch_forward(entry, params, x)
    both = lambda f: lambda: torch.autograd.grad(f(leaf), leaf, grad)
    return {
        "torch": {"forward": lambda: torch_fn(leaf), "forward_backward": both(torch_fn)},
        "functional": {"forward": lambda: rf_fn(leaf), "forward_backward": both(rf_fn)},
        "custom_op": {"forward": lambda: custom(leaf), "forward_backward": both(custom)},
        "kernels": {
            "forward": lambda: K.forward(name, x),
            "forward_backward": lambda: K.backward(name, grad, K.forward(name, x)[1]),
        },
        "launch": {
            "forward": launch,
            "forward_backward": lambda: ops.launch_backward(grad, launch()[1], slopes, multiply),
        },
        "triton": {
            "forward": lambda: kernel[grid](x, x, y, codes, x.numel(), 1, 1, HAS_BIAS=False, STORE_CODES=True,
                                            **options),
        },
    }  # fmt: skip


def host_overhead():
    n = 1 << 12
    for dtype in (torch.bfloat16, torch.float32):
        x, grad = gpu_bench.sample(n, dtype, 1), gpu_bench.sample(n, dtype, 2)
        for name in ("relu", "leaky_relu"):
            table = {}
            for route, fns in routes(name, x, grad).items():
                for stat, fn in fns.items():
                    table[f"{route} {stat}"] = round(host_us(fn), 1)
            key = f"{name} {str(dtype).replace('torch.', '')}"
            REPORT["host_us"][key] = table
            log("host us/call", key, json.dumps(table))


def timings(dtype, n):
    x, grad = torch.randn(n, device=gpu_bench.DEVICE).to(dtype), torch.randn(n, device=gpu_bench.DEVICE).to(dtype)
    dst = torch.empty_like(x)
    row = {"dtype": str(dtype).replace("torch.", ""), "n": n, "copy_ms": gpu_bench.ms(lambda: dst.copy_(x))}
    for name in ("relu", "leaky_relu"):
        fns = routes(name, x, grad)
        result = {}
        for route in ("torch", "functional", "custom_op", "kernels", "launch"):
            for stat, fn in fns[route].items():
                result[f"{route} {stat}"] = round(gpu_bench.ms(fn), 4)
        for route in ("torch", "functional", "launch"):
            result[f"{route} forward, bench clock"] = round(event_ms(fns[route]["forward"]), 4)
        row[name] = result
    REPORT["timings"].append(row)
    log("ms", json.dumps(row))


def profile(dtype=torch.bfloat16, n=1 << 28, steps=5):
    """CUDA kernels per functional forward+backward: name -> (calls per step, device us per step)."""
    if gpu_bench.DEVICE != "cuda":
        return
    x, grad = torch.randn(n, device="cuda").to(dtype), torch.randn(n, device="cuda").to(dtype)
    step = routes("relu", x, grad)["functional"]["forward_backward"]
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    kernels = {}
    for event in prof.key_averages():
        device_us = getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0)
        if device_us:
            kernels[event.key[:90]] = {"calls": event.count / steps, "device_us": round(device_us / steps, 1)}
    REPORT["profile"] = {"case": f"functional relu fwd+bwd {dtype} n={n}", "kernels": kernels}
    log("profile", json.dumps(REPORT["profile"], indent=1))


CHECKED = [
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("threshold", {"threshold": 0.5, "value": -2.0}),
]  # fmt: skip (gpu_bench.py checks every variant's kernels; these check the routes to them)


def check_functional(dtype):
    """The eager route against torch's autograd, bit for bit (NaN as NaN)."""
    n = (1 << (20 - gpu_bench.SCALE)) + 13
    x, grad = gpu_bench.sample(n, dtype, 5), gpu_bench.sample(n, dtype, 6)
    for name, params in CHECKED:
        entry = catalog.BY_NAME[name]
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = getattr(rf, name)(a, **params)
        ref = piecewise.stock_forward(entry, b, entry.bind(name, params))
        ours.backward(grad), ref.backward(grad)
        skip = torch.isnan(x) if name == "hardtanh" else None  # relukit gives 0 at NaN (documented)
        y_bad, _ = gpu_bench.compare(ours.detach(), ref.detach())
        g_bad, _ = gpu_bench.compare(a.grad, b.grad, skip)
        record(f"functional {name}{params or ''} {dtype}", y_bad == g_bad == 0, y_bad=y_bad, grad_bad=g_bad)
    leaf = x[:64].clone().requires_grad_()
    upstream = grad[:64].clone().requires_grad_()
    (g,) = torch.autograd.grad(rf.leaky_relu(leaf * 1.0, 0.25), leaf, upstream, create_graph=True)
    (d_upstream,) = torch.autograd.grad(g.sum(), upstream)
    expected = torch.where(x[:64] > 0, 1.0, 0.25).to(dtype)
    record(f"double backward {dtype}", torch.equal(d_upstream, expected))


def record(case, ok, **details):
    REPORT["checks"].append({"case": case, "ok": bool(ok), **details})
    log("OK  " if ok else "FAIL", case, details or "")


RUN = contextlib.ExitStack()  # contexts held for the whole run (the dry run's kernels_on)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, Triton interpreter")
    parser.add_argument("--skip-checks", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--budget", type=float, default=170.0, help="seconds; later steps are skipped past it")
    args = parser.parse_args()
    if args.dry_run:
        gpu_bench.DEVICE, gpu_bench.SCALE = "cpu", 14
        RUN.enter_context(piecewise.kernels_on("cuda", "cpu"))  # CPU tensors take the Triton interpreter
    elif not torch.cuda.is_available():
        raise SystemExit("gpu_overhead.py: no CUDA device (use --dry-run with TRITON_INTERPRET=1 to test on CPU)")
    device = torch.cuda.get_device_name() if gpu_bench.DEVICE == "cuda" else "cpu (dry run)"
    REPORT["machine"] = {"device": device, "torch": torch.__version__, "triton": triton.__version__}
    REPORT["relukit"] = os.path.dirname(os.path.dirname(os.path.abspath(rf.__file__)))
    log("device", device, "torch", torch.__version__, "triton", triton.__version__, "relukit", REPORT["relukit"])

    def save():  # after every step: a run cut short still leaves its numbers
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(REPORT | {"checks": REPORT["checks"] + gpu_bench.REPORT["correctness"]}, handle, indent=1)

    gpu_bench.guarded("host overhead", host_overhead)
    save()
    for dtype in (torch.bfloat16, torch.float32):
        for log2 in (24, 28):
            gpu_bench.guarded(f"timings {dtype} 2^{log2}", timings, dtype, 1 << (log2 - gpu_bench.SCALE))
            save()
            if gpu_bench.DEVICE == "cuda":
                torch.cuda.empty_cache()
    gpu_bench.guarded("profile", profile)
    save()
    if not args.skip_checks:
        for dtype in (torch.float32, torch.bfloat16):
            gpu_bench.guarded(f"functional {dtype}", check_functional, dtype)
        gpu_bench.guarded("functional/bias_act bf16", gpu_bench.check_functional_and_bias_act, torch.bfloat16)
        save()
        if time.time() - gpu_bench.START < args.budget - 45:
            gpu_bench.check_compile()
        save()
        checks = REPORT["checks"] + gpu_bench.REPORT["correctness"]
        bad = [c for c in checks if not c["ok"]]
        log(f"checks: {len(checks) - len(bad)} ok, {len(bad)} failed")
    if not args.skip_cli and time.time() - gpu_bench.START < args.budget - 25:
        gpu_bench.run_cli_bench(args.json)
    log("done")


if __name__ == "__main__":
    with RUN:
        main()

"""Forward+backward time of the smooth members, relukit against torch, side by side (not a test).

    .venv/bin/python benchmarks/smooth.py [--sizes 20 24] [--repeats 15] [--threads N]

For every member and size: torch is ``F.<member>(x)`` then ``y.backward(g)`` on a float32 leaf;
relukit is ``relukit.functional.mish`` through autograd for mish (what users get) and, for the other
members, the same fused-kernel approach (``relukit._ops.fused``: the catalog formula compiled by
Inductor, one pass forward, one pass backward) called directly. Each repeat runs both, alternating
which goes first; the table shows medians and the ratio torch / relukit (> 1: relukit is faster).
A second table sweeps small sizes for mish (where the fused op starts to pay; ``MIN_NUMEL``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import relukit.functional as rf
from relukit._ops import fused
from relukit._ops import mish as mish_ops

MEMBERS = [
    ("mish", {}),
    ("silu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("gelu", {"approximate": "none"}),
    ("elu", {"alpha": 1.0}),
    ("softplus", {"beta": 1.0, "threshold": 20.0}),
]


def label(name, params):
    return name + ("" if not params or name != "gelu" else f"({params['approximate']})")


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(first, second, repeats):
    """Median seconds of each, run alternately (ABBA) after one warm-up call each."""
    first(), second()
    a, b = [], []
    for r in range(repeats):
        if r % 2:
            b.append(timed(second))
            a.append(timed(first))
        else:
            a.append(timed(first))
            b.append(timed(second))
    return statistics.median(a), statistics.median(b)


def torch_step(name, params, x, grad):
    op = getattr(F, name)

    def step():
        x.grad = None
        op(x, **params).backward(grad)

    return step


def relukit_step(name, params, x, grad):
    if name == "mish":

        def step():
            x.grad = None
            rf.mish(x).backward(grad)

        return step
    kernels = fused.kernels(name, params)
    data = x.detach()

    def step():
        kernels.forward(data)
        kernels.backward(grad, data)

    return step


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, load {load:.1f}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 24], help="log2 of the element counts")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--members", nargs="+", default=None, help="subset, e.g. mish silu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# {machine()}")
    members = [m for m in MEMBERS if args.members is None or m[0] in args.members]
    for name, params in members:
        start = time.perf_counter()
        ok = fused.warmup(name, params)
        state = "ready" if ok else "UNAVAILABLE"
        print(f"# {label(name, params)}: fused kernels {state} in {time.perf_counter() - start:.1f} s")
    print("| member | elements | torch fwd+bwd (ms) | relukit fwd+bwd (ms) | torch / relukit |")
    print("|---|---|---|---|---|")
    torch.manual_seed(0)
    for name, params in members:
        for log2 in args.sizes:
            x = (torch.randn(1 << log2) * 3).requires_grad_()
            grad = torch.randn(1 << log2)
            ours, theirs = relukit_step(name, params, x, grad), torch_step(name, params, x, grad)
            t_torch, t_ours = side_by_side(theirs, ours, args.repeats)
            row = f"| {label(name, params)} | 2^{log2} | {t_torch * 1e3:.2f} | {t_ours * 1e3:.2f}"
            print(f"{row} | {t_torch / t_ours:.2f}x |", flush=True)
    if args.members is None or "mish" in args.members:
        print(f"\nmish op alone at small sizes (relukit.functional routes from MIN_NUMEL = {mish_ops.MIN_NUMEL})")
        print("| member | elements | torch (us) | relukit (us) | torch / relukit |")
        print("|---|---|---|---|---|")
        for log2 in range(10, 19, 2):
            x = (torch.randn(1 << log2) * 3).requires_grad_()
            grad = torch.randn(1 << log2)

            def fused_step():
                x.grad = None
                mish_ops.mish_forward(x).backward(grad)

            t_torch, t_ours = side_by_side(torch_step("mish", {}, x, grad), fused_step, 4 * args.repeats + 1)
            print(f"| mish (op) | 2^{log2} | {t_torch * 1e6:.0f} | {t_ours * 1e6:.0f} | {t_torch / t_ours:.2f}x |")


if __name__ == "__main__":
    main()

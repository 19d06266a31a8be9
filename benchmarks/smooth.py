"""Mish forward+backward, relukit against torch, side by side on the same allocator (not a test).

    .venv/bin/python benchmarks/smooth.py [--sizes 16 18 20 22 24] [--threads 1 2] [--repeats 15]
                                          [--allocation default|huge]

torch is ``F.mish(x)`` then ``y.backward(g)`` on a float32 leaf; relukit is ``relukit.functional.mish``
through autograd (what users get: the native kernels of ``relukit._ops.mish``). Each repeat runs both,
alternating which goes first (ABBA); the table shows medians and the ratio torch / relukit (> 1: relukit
is faster), and the first call of each (a fresh tensor size; relukit's first call of the process loads the
extension). ``--allocation`` puts both on one allocator: ``default`` (4 KiB pages) or ``huge`` (both on
transparent huge pages: torch's ``THP_MEM_ALLOC_ENABLE=1``, which the native route's outputs share, as
they come from torch's allocator; ``RELUKIT_HUGEPAGES`` is set to match for the Python fallback's
outputs). A second table sweeps small sizes for the op alone
(where routing starts to pay; ``relukit._ops.mish.MIN_NUMEL``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 18, 20, 22, 24], help="log2 element counts")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--allocation", choices=["default", "huge"], default="default")
    parser.add_argument("--small", action="store_true", help="also the small-size table (2^8 .. 2^16)")
    return parser.parse_args(argv)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(first, second, repeats):
    """(first call of each, median of each), run alternately (ABBA) after the first calls."""
    firsts = timed(first), timed(second)
    a, b = [], []
    for r in range(repeats):
        if r % 2:
            b.append(timed(second))
            a.append(timed(first))
        else:
            a.append(timed(first))
            b.append(timed(second))
    return firsts, (statistics.median(a), statistics.median(b))


def machine(torch):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, load {load}"


def main(argv=None):
    args = parse(argv)
    if args.allocation == "default":
        os.environ["RELUKIT_HUGEPAGES"] = "0"
    else:
        os.environ["THP_MEM_ALLOC_ENABLE"] = "1"  # read when torch loads
        os.environ["RELUKIT_HUGEPAGES"] = "1"
    import torch
    import torch.nn.functional as F

    import relukit.functional as rf
    from relukit._ops import mish as mish_ops
    from relukit._ops import native

    print(f"# {machine(torch)}; allocation: {args.allocation}; native kernels: {native.available()}")

    def step(op, x, grad):
        def run():
            x.grad = None
            op(x).backward(grad)

        return run

    print("| threads | elements | torch (ms) | relukit (ms) | torch / relukit | first call torch / relukit (ms) |")
    print("|---|---|---|---|---|---|")
    torch.manual_seed(0)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for log2 in args.sizes:
            x = (torch.randn(1 << log2) * 3).requires_grad_()
            grad = torch.randn(1 << log2)
            (f_torch, f_ours), (t_torch, t_ours) = side_by_side(
                step(F.mish, x, grad), step(rf.mish, x, grad), args.repeats
            )
            row = f"| {threads} | 2^{log2} | {t_torch * 1e3:.3f} | {t_ours * 1e3:.3f} | **{t_torch / t_ours:.2f}x**"
            print(f"{row} | {f_torch * 1e3:.2f} / {f_ours * 1e3:.2f} |", flush=True)
    if args.small:
        print(f"\nmish op alone at small sizes (relukit.functional routes from MIN_NUMEL = {mish_ops.MIN_NUMEL})")
        print("| threads | elements | torch (us) | relukit (us) | torch / relukit |")
        print("|---|---|---|---|---|")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for log2 in range(8, 17, 2):
                x = (torch.randn(1 << log2) * 3).requires_grad_()
                grad = torch.randn(1 << log2)
                _, (t_torch, t_ours) = side_by_side(
                    step(F.mish, x, grad), step(mish_ops.mish, x, grad), 4 * args.repeats + 1
                )
                print(f"| {threads} | 2^{log2} | {t_torch * 1e6:.0f} | {t_ours * 1e6:.0f} | {t_torch / t_ours:.2f}x |")


if __name__ == "__main__":
    main()

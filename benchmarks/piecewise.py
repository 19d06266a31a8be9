"""Lean piecewise-linear members vs torch eager: forward+backward time and saved bytes, side by side.

    python benchmarks/piecewise.py [--sizes 20,24] [--repeats 15]

For each member and size, relukit and torch are timed alternately in one process (median of
``--repeats`` runs after warm-up), so machine noise hits both; ratios < 1 mean relukit is faster/smaller.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import relukit.functional as rf
from relukit.diagnostics import SavedTensorMeter

MEMBERS = {
    "relu": (lambda x: rf.relu(x), lambda x: F.relu(x)),
    "leaky_relu": (lambda x: rf.leaky_relu(x, 0.01), lambda x: F.leaky_relu(x, 0.01)),
    "relu6": (lambda x: rf.relu6(x), lambda x: F.relu6(x)),
    "hardtanh": (lambda x: rf.hardtanh(x), lambda x: F.hardtanh(x)),
    "threshold": (lambda x: rf.threshold(x, 0.1, 0.0), lambda x: F.threshold(x, 0.1, 0.0)),
    "rrelu(eval)": (lambda x: rf.rrelu(x), lambda x: F.rrelu(x, training=False)),
    "rectify": (lambda x: rf.rectify(x, 0.1, 6.0), None),
}


def step(fn, x, grad):
    y = fn(x)
    y.backward(grad)
    x.grad = None


def saved(fn, x):
    with SavedTensorMeter() as meter:
        fn(x * 1.0)
    return meter.saved_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,24", help="log2 element counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32")
    print(f"{'member':<12} {'n':>6} {'relukit ms':>11} {'torch ms':>9} {'time ratio':>10} {'saved ratio':>11}")
    for log2 in (int(s) for s in args.sizes.split(",")):
        x = torch.randn(2**log2, requires_grad=True)
        grad = torch.randn(2**log2)
        for name, (ours, stock) in MEMBERS.items():
            stock = stock or (lambda t: F.relu(t))  # rectify has no torch op: relu is its cheapest analogue
            for _ in range(3):
                step(ours, x, grad), step(stock, x, grad)
            times = {"ours": [], "stock": []}
            for _ in range(args.repeats):
                for key, fn in (("ours", ours), ("stock", stock)):
                    start = time.perf_counter()
                    step(fn, x, grad)
                    times[key].append(time.perf_counter() - start)
            t_ours, t_stock = statistics.median(times["ours"]), statistics.median(times["stock"])
            ratio = saved(ours, x) / saved(stock, x)
            times_ms = f"{t_ours * 1e3:11.2f} {t_stock * 1e3:9.2f}"
            print(f"{name:<12} 2^{log2:<4} {times_ms} {t_ours / t_stock:10.2f} {ratio:11.4f}")


if __name__ == "__main__":
    main()

"""Per-call cost of relukit.functional against torch.nn.functional at a small size, where the entry dominates.

    .venv/bin/python benchmarks/eager_overhead.py [--elements 1024] [--repeats 21] [--calls 500]

Each sample times ``--calls`` consecutive calls of one function; functions take turns every repeat; the
table gives medians per call and the ratio relukit / torch. Two settings: the input requires grad (autograd
records: relukit's lean op) and not (relukit's remembered call runs the values kernel). 1 thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import relukit.functional as rf

CALLS = {  # name: (relukit call, torch call), given the input
    "relu(x)": (lambda x: rf.relu(x), lambda x: F.relu(x)),
    "leaky_relu(x, negative_slope=0.01, inplace=False)": (
        lambda x: rf.leaky_relu(x, negative_slope=0.01, inplace=False),
        lambda x: F.leaky_relu(x, negative_slope=0.01, inplace=False),
    ),
    "leaky_relu(x, 0.2)": (lambda x: rf.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    "relu6(x)": (lambda x: rf.relu6(x), lambda x: F.relu6(x)),
    "hardtanh(x, -1.0, 1.0)": (lambda x: rf.hardtanh(x, -1.0, 1.0), lambda x: F.hardtanh(x, -1.0, 1.0)),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| call | input | relukit (us) | torch (us) | relukit / torch |")
    print("|---|---|---|---|---|")
    for grad in (True, False):
        x = torch.randn(args.elements).requires_grad_(grad)
        fns = {}
        for name, (ours, theirs) in CALLS.items():
            fns[(name, "relukit")] = lambda f=ours: f(x)
            fns[(name, "torch")] = lambda f=theirs: f(x)
        for fn in fns.values():  # warm-up: relukit remembers each checked call
            fn(), fn()
        times = {key: [] for key in fns}
        for _ in range(args.repeats):
            for key, fn in fns.items():
                start = time.perf_counter()
                for _ in range(args.calls):
                    fn()
                times[key].append((time.perf_counter() - start) / args.calls)
        for name in CALLS:
            ours, theirs = (statistics.median(times[(name, side)]) for side in ("relukit", "torch"))
            setting = "requires grad" if grad else "no grad"
            print(f"| `{name}` | {setting} | {ours * 1e6:.2f} | {theirs * 1e6:.2f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()

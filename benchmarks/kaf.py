"""KAF / KAF2D against the textbook implementation: saved bytes and forward+backward time (not a test).

    .venv/bin/python benchmarks/kaf.py [--repeats 7] [--threads N]

The textbook form builds the (..., D) kernel tensor exp(-gamma (x - d)^2) and lets autograd keep it;
relukit's ops keep only the input and recompute the kernel tile by tile in backward. Saved bytes count
each storage autograd keeps once, leaves (parameters, buffers, the input) left out.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from relukit.diagnostics import SavedTensorMeter
from relukit.kaf import KAF, KAF2D


def naive_kaf(x, alpha, d, gamma, channel_axis):
    x = x.movedim(channel_axis, -1)
    return (torch.exp(-gamma * (x.unsqueeze(-1) - d) ** 2) * alpha).sum(-1).movedim(-1, channel_axis)


def naive_kaf2d(x, alpha, d, gamma, channel_axis):
    s, t = x.movedim(channel_axis, -1).chunk(2, dim=-1)
    k1 = torch.exp(-gamma * (s.unsqueeze(-1) - d) ** 2).unsqueeze(-1)  # (..., C2, D, 1)
    k2 = torch.exp(-gamma * (t.unsqueeze(-1) - d) ** 2).unsqueeze(-2)  # (..., C2, 1, D)
    return (k1 * k2 * alpha).sum((-2, -1)).movedim(-1, channel_axis)


def saved_bytes(fn, x0):
    with SavedTensorMeter(ignore=[x0]) as meter:  # x0 is alive anyway; parameters are left out
        fn()
    return meter.saved_bytes


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| layer | input | saved: relukit / input | saved: naive / input | fwd+bwd relukit (ms) | naive (ms) |")
    print("|---|---|---|---|---|---|")
    torch.manual_seed(0)
    cases = [
        ("KAF(512), D=20", KAF(512), (1024, 512), -1, naive_kaf),
        ("KAF(64, conv=True), D=20", KAF(64, conv=True), (32, 64, 16, 16), 1, naive_kaf),
        ("KAF2D(512), D=10", KAF2D(512), (1024, 512), -1, naive_kaf2d),
    ]
    for label, module, shape, axis, naive in cases:
        x0 = torch.randn(shape)
        weight = torch.ones(())

        def ours():
            module.zero_grad()
            (module(x0 * weight) ** 2).sum().backward()

        def textbook():
            module.zero_grad()
            (naive(x0 * weight, module.alpha, module.dictionary, module.gamma, axis) ** 2).sum().backward()

        weight.requires_grad_()
        input_bytes = x0.numel() * x0.element_size()
        saved_ours = saved_bytes(lambda: module(x0 * weight), x0)  # x0 * weight: a non-leaf input
        saved_naive = saved_bytes(lambda: naive(x0 * weight, module.alpha, module.dictionary, module.gamma, axis), x0)
        t_ours, t_naive = median_time(ours, args.repeats), median_time(textbook, args.repeats)
        print(
            f"| {label} | {tuple(shape)} | {saved_ours / input_bytes:.2f}x | {saved_naive / input_bytes:.2f}x "
            f"| {t_ours * 1e3:.1f} | {t_naive * 1e3:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

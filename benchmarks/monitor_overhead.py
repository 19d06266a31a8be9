"""Overhead of DeadUnitMonitor on a small CNN's training step (issue 5 target: <= 10% extra time).

The same step (forward, cross-entropy, backward, SGD update) runs without and with the monitor attached,
alternating in each repeat so both see the same machine state; the ratio is taken per repeat and the
median over repeats is reported.

    .venv/bin/python benchmarks/monitor_overhead.py [--batch 64] [--repeats 15] [--steps 5] [--device cpu]
        [--threads N] [--breakdown]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from relukit.diagnostics import DeadUnitMonitor, GradientFlowMonitor
from relukit.diagnostics.tally import Tally


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_steps(model, optimizer, x, y, steps: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def measure(kind: str, batch: int, repeats: int, steps: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = small_cnn().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    monitor = DeadUnitMonitor(model) if kind == "dead" else GradientFlowMonitor(model)
    for attached in (False, True):  # warm-up both paths
        with monitor if attached else torch.enable_grad():
            _timed_steps(model, optimizer, x, y, 2, device)
    plain, watched = [], []
    for repeat in range(repeats):
        for attached in (False, True) if repeat % 2 else (True, False):  # ABBA: drift cancels
            with monitor if attached else torch.enable_grad():
                (watched if attached else plain).append(_timed_steps(model, optimizer, x, y, steps, device))
    monitor.report()  # the host transfer happens here, outside the timed steps
    ratios = [w / p for p, w in zip(plain, watched)]
    return {
        "monitor": type(monitor).__name__,
        "plain_ms": 1e3 * statistics.median(plain),
        "monitored_ms": 1e3 * statistics.median(watched),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratio_of_minimums": min(watched) / min(plain),  # least disturbed by other load on the machine
    }


def breakdown(batch: int, repeats: int, device: torch.device) -> dict:
    """The monitor's own reductions on the CNN's four ReLU outputs, and the naive bool-mask count."""
    torch.manual_seed(0)
    model = small_cnn().to(device)
    outputs = []
    for module in model:
        if isinstance(module, nn.ReLU):
            module.register_forward_hook(lambda m, args, out: outputs.append(out.detach()))
    with torch.no_grad():
        model(torch.randn(batch, 3, 32, 32, device=device))
    scratch: dict = {}
    tallies = [Tally(str(i), "relu", y.shape[1], device) for i, y in enumerate(outputs)]

    def monitor_work() -> None:
        for tally, y in zip(tallies, outputs):
            tally.add(y, 1, scratch)

    def bool_mask_count() -> None:
        for y in outputs:
            (y > 0).sum([d for d in range(y.ndim) if d != 1])

    times = {}
    for name, work in (("monitor_work_ms", monitor_work), ("bool_mask_count_ms", bool_mask_count)):
        work()
        samples = []
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            work()
            _sync(device)
            samples.append(1e3 * (time.perf_counter() - start))
        times[name] = statistics.median(samples)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--breakdown", action="store_true", help="also time the monitor's reductions alone")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, {machine}")
    print(f"small CNN, batch {args.batch} x 3 x 32 x 32, {args.repeats} repeats x {args.steps} steps")
    for kind in ("dead", "gradient"):
        r = measure(kind, args.batch, args.repeats, args.steps, device)
        print(
            f"{r['monitor']:>20}: step {r['plain_ms']:.2f} ms -> {r['monitored_ms']:.2f} ms, "
            f"ratio median {r['ratio_median']:.3f} (min {r['ratio_min']:.3f}, max {r['ratio_max']:.3f}), "
            f"ratio of fastest steps {r['ratio_of_minimums']:.3f}"
        )
    if args.breakdown:
        b = breakdown(args.batch, args.repeats, device)
        print(
            f"per step, on the 4 ReLU outputs: monitor reductions {b['monitor_work_ms']:.2f} ms; "
            f"counting positives as a bool-mask sum instead: {b['bool_mask_count_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()

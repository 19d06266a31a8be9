"""Cost of relukit's torch-function mode (relukit.intercept) on a training step whose activations are
functional calls (``F.relu`` inside forward), measured side by side.

* ``monitor``: DeadUnitMonitor attached (its mode is entered for each forward) vs not attached
  (target: <= 10% of a training step);
* ``inactive``: relukit.functional.relu calls as they are (one ``has_torch_function`` check per call,
  no mode active) vs the same calls with that check replaced by a constant (target: < 1%);
* ``lean``: relukit.lean(model) (LeanMode around the forward) vs the stock model: time and saved bytes.

Each repeat runs both variants in ABBA order; the per-repeat ratios' median is reported. ``--clock cpu``
times the process's CPU time instead of the wall clock: on a machine shared with other jobs, time spent
waiting for a core then counts for neither variant (meaningful with ``--threads 1``, where torch's forward
and backward run on the calling thread).

    .venv/bin/python benchmarks/intercept_overhead.py [--model cnn|googlenet] [--batch 64] [--repeats 15]
        [--steps 3] [--threads N] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import platform
import statistics
import time
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

import relukit
from relukit import functional as rf
from relukit.diagnostics import DeadUnitMonitor, SavedTensorMeter


class FunctionalCNN(nn.Module):
    """benchmarks/monitor_overhead.py's small CNN with its activations called functionally."""

    def __init__(self, relu=F.relu) -> None:
        super().__init__()
        self.relu = relu
        self.conv1, self.conv2 = nn.Conv2d(3, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(64, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        x = self.relu(self.conv3(F.max_pool2d(x, 2)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc2(self.relu(self.fc1(x)))


def build(name: str, relu=F.relu) -> tuple[nn.Module, tuple[int, ...]]:
    torch.manual_seed(0)
    if name == "cnn":
        return FunctionalCNN(relu), (3, 32, 32)
    from vision_models import vision_model  # benchmarks/vision_models.py

    return vision_model("googlenet", aux_logits=False), (3, 64, 64)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _steps(model, optimizer, x, y, steps: int, clock=time.perf_counter) -> float:
    start = clock()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return (clock() - start) / steps


def compare(models: dict[str, nn.Module], contexts: dict[str, object], shape, batch, repeats, steps, clock) -> dict:
    """Median step time of two variants (keys "a" and "b") and the median of their per-repeat ratio b / a."""
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.01) for k, m in models.items()}
    times: dict[str, list[float]] = {"a": [], "b": []}
    for repeat in range(repeats + 1):
        for key in ("a", "b") if repeat % 2 else ("b", "a"):
            with contexts.get(key, contextlib.nullcontext()):
                elapsed = _steps(models[key], optimizers[key], x, y, steps, clock)
            if repeat:  # the first round warms up
                times[key].append(elapsed)
    ratios = [b / a for a, b in zip(times["a"], times["b"])]
    return {"a_ms": 1e3 * statistics.median(times["a"]), "b_ms": 1e3 * statistics.median(times["b"])} | {
        "ratio": statistics.median(ratios),
        "ratio_quartiles": statistics.quantiles(ratios, n=4)[::2],
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def saved_bytes(model: nn.Module, shape, batch: int) -> int:
    x = torch.randn(batch, *shape)
    with SavedTensorMeter(ignore=[x]) as meter:
        model(x)
    return meter.saved_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["cnn", "googlenet"], default="cnn")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}")
    print(
        f"{args.model}, batch {args.batch}, {args.repeats} repeats x {args.steps} steps (ABBA, median ratio), "
        f"{args.clock} clock, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    run = dict(batch=args.batch, repeats=args.repeats, steps=args.steps, clock=CLOCKS[args.clock])

    model, shape = build(args.model)
    monitor = DeadUnitMonitor(model)
    r = compare({"a": model, "b": model}, {"b": monitor}, shape, **run)
    layers = len(monitor.report().layers)
    low, high = r["ratio_quartiles"]
    print(
        f"monitor ({layers} layers via the mode): {r['a_ms']:.1f} -> {r['b_ms']:.1f} ms/step, ratio {r['ratio']:.3f} "
        f"(quartiles {low:.3f}-{high:.3f})"
    )

    if args.model == "cnn":
        model, shape = build("cnn", relu=rf.relu)
        no_check = mock.patch.object(rf, "has_torch_function", lambda relevant: False)
        r = compare({"a": model, "b": model}, {"a": no_check}, shape, **run)
        print(f"inactive (relukit.functional.relu, no mode): ratio {r['ratio']:.3f} vs the call without its check")

    stock, shape = build(args.model)
    lean = relukit.lean(copy.deepcopy(stock))
    r = compare({"a": stock, "b": lean}, {}, shape, **run)
    before, after = saved_bytes(stock, shape, args.batch), saved_bytes(lean, shape, args.batch)
    print(
        f"lean via the mode: {r['a_ms']:.1f} -> {r['b_ms']:.1f} ms/step, ratio {r['ratio']:.3f}; "
        f"saved for backward {before / 2**20:.2f} -> {after / 2**20:.2f} MiB ({after / before:.3f})"
    )
    print(f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

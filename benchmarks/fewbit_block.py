"""Saved bytes and step time of a transformer-style MLP block (Linear d -> 4d, GELU, Linear 4d -> d), exact
backward against ``relukit.lean(block, bits=k)``.

Saved bytes by ``relukit.diagnostics.SavedTensorMeter`` (the input is a leaf and not counted). Time:
forward+backward, exact and few-bit blocks alternately, median of ``--repeats``.

    python benchmarks/fewbit_block.py --tokens 4096 --dim 256 --bits 3 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

import relukit
from relukit.diagnostics import SavedTensorMeter


def block(dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


def saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    with SavedTensorMeter() as meter:
        model(x).sum().backward()
    return meter.saved_bytes


def step_ms(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x).sum().backward()
    return 1e3 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--bits", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    exact = block(args.dim)
    lean = relukit.lean(copy.deepcopy(exact), bits=args.bits)
    x = torch.randn(args.tokens, args.dim, requires_grad=True)
    gelu_input = args.tokens * 4 * args.dim * 4
    exact_bytes, lean_bytes = saved_bytes(exact, x), saved_bytes(lean, x)
    times: dict[str, list[float]] = {"exact": [], "lean": []}
    for _ in range(args.repeats):
        times["exact"].append(step_ms(exact, x))
        times["lean"].append(step_ms(lean, x))
    exact_ms, lean_ms = statistics.median(times["exact"]), statistics.median(times["lean"])
    print(f"block: tokens={args.tokens} dim={args.dim} float32, GELU input {gelu_input:,} bytes, bits={args.bits}")
    print(f"saved bytes  exact {exact_bytes:,}  bits={args.bits} {lean_bytes:,}  ratio {exact_bytes / lean_bytes:.2f}x")
    print(f"GELU's share exact {gelu_input:,}  bits={args.bits} {gelu_input - (exact_bytes - lean_bytes):,}")
    print(f"fwd+bwd ms   exact {exact_ms:.2f}  bits={args.bits} {lean_ms:.2f}  exact/lean {exact_ms / lean_ms:.2f}x")


if __name__ == "__main__":
    main()

"""Training step time and saved bytes, ``relukit.lean(model)`` against the stock model, on three CPU models.

* ``mlp``: 6 Linear layers of width 1024 with LeakyReLU(0.01), batch 256;
* ``resnet``: a ResNet-style CNN of basic blocks (conv-BN-ReLU-conv-BN + identity, ReLU), batch 32, 64x64;
* ``mobilenet``: a MobileNetV2-style CNN of inverted residuals (1x1 expand, ReLU6, 3x3 depthwise, ReLU6,
  1x1 project), batch 32, 64x64.

Each step is forward, cross-entropy, backward and an SGD update. Stock and lean copies start from the same
weights and take turns every repeat (interleaved); the ratio is of medians. Both run on torch's default
allocator. Gradients of the first step are compared bit for bit.

    python benchmarks/train_step.py --repeats 15 --threads 1 --json benchmarks/results/train_step.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time

import torch
from torch import nn

import relukit
from relukit.diagnostics import SavedTensorMeter


def mlp() -> tuple[nn.Module, tuple[int, ...], int]:
    layers: list[nn.Module] = []
    for index in range(6):
        layers += [nn.Linear(1024 if index else 784, 1024), nn.LeakyReLU(0.01)]
    return nn.Sequential(*layers, nn.Linear(1024, 10)), (784,), 256


class BasicBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


def resnet() -> tuple[nn.Module, tuple[int, ...], int]:
    stem = [nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True)]
    blocks = [BasicBlock(32), BasicBlock(32), nn.Conv2d(32, 64, 3, stride=2, padding=1), BasicBlock(64)]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*stem, *blocks, *head), (3, 64, 64), 32


class InvertedResidual(nn.Module):
    def __init__(self, channels: int, expand: int = 4) -> None:
        super().__init__()
        hidden = channels * expand
        self.block = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def mobilenet() -> tuple[nn.Module, tuple[int, ...], int]:
    stem = [nn.Conv2d(3, 24, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(24), nn.ReLU6(inplace=True)]
    blocks = [InvertedResidual(24), InvertedResidual(24), nn.Conv2d(24, 32, 3, stride=2, padding=1)]
    blocks += [InvertedResidual(32)]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)]
    return nn.Sequential(*stem, *blocks, *head), (3, 64, 64), 32


MODELS = {"mlp": mlp, "resnet": resnet, "mobilenet": mobilenet}


def step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()


def saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    with SavedTensorMeter() as meter:
        model(x)
    return meter.saved_bytes


def compare(name: str, repeats: int) -> dict:
    torch.manual_seed(0)
    build, shape, batch = MODELS[name]()
    stock = build
    lean = relukit.lean(copy.deepcopy(stock))
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    gradients = []
    for model in (stock, lean):  # the first step's gradients, from identical weights
        replica = copy.deepcopy(model)
        nn.functional.cross_entropy(replica(x), y).backward()
        gradients.append([p.grad for p in replica.parameters()])
    identical = all(torch.equal(a, b) for a, b in zip(*gradients))
    optimizers = {key: torch.optim.SGD(m.parameters(), lr=1e-3) for key, m in (("stock", stock), ("lean", lean))}
    models = {"stock": stock, "lean": lean}
    for key in models:  # warm-up
        for _ in range(2):
            step(models[key], optimizers[key], x, y)
    times: dict[str, list[float]] = {key: [] for key in models}
    for _ in range(repeats):
        for key, model in models.items():
            start = time.perf_counter()
            step(model, optimizers[key], x, y)
            times[key].append(time.perf_counter() - start)
    medians = {key: statistics.median(values) for key, values in times.items()}
    return {
        "model": name,
        "stock_ms": medians["stock"] * 1e3,
        "lean_ms": medians["lean"] * 1e3,
        "step_ratio": medians["lean"] / medians["stock"],
        "saved_stock_mib": saved_bytes(stock, x) / 2**20,
        "saved_lean_mib": saved_bytes(lean, x) / 2**20,
        "gradients_identical": identical,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [compare(name, args.repeats) for name in args.models.split(",")]
    print(f"backend {relukit.backend()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':<10} {'stock ms':>9} {'lean ms':>9} {'lean/stock':>10} {'saved MiB stock':>16} {'lean':>6} grads")
    for r in rows:
        grads = "identical" if r["gradients_identical"] else "DIFFER"
        print(
            f"{r['model']:<10} {r['stock_ms']:9.1f} {r['lean_ms']:9.1f} {r['step_ratio']:10.3f} "
            f"{r['saved_stock_mib']:16.1f} {r['saved_lean_mib']:6.1f} {grads}"
        )
    if args.json:
        machine = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
        result = {"machine": machine, "backend": relukit.backend(), "repeats": args.repeats, "rows": rows}
        with open(args.json, "w") as file:
            json.dump(result, file, indent=1)


if __name__ == "__main__":
    main()

"""Training accuracy with and without ``relukit.lean(model, sparse=True, abn=True)``: same seed, same data.

The ``compare`` study's CNN for 8x8 images with BatchNorm added (conv -> BN -> ReLU, strided conv -> BN ->
ReLU6, pool, linear; 16 and 32 channels), trained on scikit-learn's bundled digits (75/25 split per class,
standardized: ``relukit.data.digits``) with SGD (momentum 0.9) for ``--epochs`` epochs, once per seed for
each variant. The lean variant starts from the stock model's initial weights and draws the same batches;
its gradients equal stock's to float rounding (in-place activated BatchNorm), so the two runs drift apart
only by rounding. The question: is the lean run's test accuracy within the seed-to-seed spread of stock's?

    python benchmarks/lean_accuracy.py --seeds 5 --epochs 10 --json benchmarks/results/lean_accuracy.json
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
from pathlib import Path

import torch
from torch import nn

import relukit
from relukit import data


def cnn(width: int = 16, classes: int = 10) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, classes),
    )  # fmt: skip


def train(model: nn.Module, dataset: data.Dataset, seed: int, epochs: int, lr: float = 0.05) -> float:
    """Test accuracy after ``epochs`` epochs of SGD with batches drawn from ``seed``."""
    x = torch.as_tensor(dataset.x_train, dtype=torch.float32).reshape(-1, *dataset.image_shape)
    y = torch.as_tensor(dataset.y_train)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            index = order[start : start + 64]
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        x_test = torch.as_tensor(dataset.x_test, dtype=torch.float32).reshape(-1, *dataset.image_shape)
        predicted = model(x_test).argmax(1)
    return float((predicted == torch.as_tensor(dataset.y_test)).float().mean())


def run(seeds: int, epochs: int) -> dict:
    """Per seed, stock's and lean's test accuracy; lean from the same initial weights."""
    dataset = data.digits()
    rows = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        stock = cnn()
        example = torch.as_tensor(dataset.x_train[:2], dtype=torch.float32).reshape(-1, *dataset.image_shape)
        lean = relukit.lean(copy.deepcopy(stock), sparse=True, abn=True, example_inputs=(example,))
        rows.append(
            {"seed": seed, "stock": train(stock, dataset, seed, epochs), "lean": train(lean, dataset, seed, epochs)}
        )
    stock_accuracies = [row["stock"] for row in rows]
    return {
        "epochs": epochs,
        "rows": rows,
        "stock_spread": max(stock_accuracies) - min(stock_accuracies),
        "largest_difference": max(abs(row["lean"] - row["stock"]) for row in rows),
        "mean_stock": statistics.mean(stock_accuracies),
        "mean_lean": statistics.mean(row["lean"] for row in rows),
        "fused": relukit.lean_report(lean)["patterns"]["bn -> act (in-place activated BN)"]["count"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.seeds, args.epochs)
    for row in result["rows"]:
        print(f"seed {row['seed']}: stock {row['stock']:.4f}  lean {row['lean']:.4f}")
    print(
        f"mean stock {result['mean_stock']:.4f}, lean {result['mean_lean']:.4f}; seed-to-seed spread of stock "
        f"{result['stock_spread']:.4f}, largest lean - stock difference {result['largest_difference']:.4f}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

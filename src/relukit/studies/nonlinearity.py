"""Study ``nonlinearity``: the same MLP with identity activations and with ReLU on two spirals.

A stack of affine layers is one affine map, so the identity net is a linear classifier whatever its
depth: we check it numerically (``affine_residual``: the largest deviation of the net from the affine map
A x + b read off at 0 and the unit vectors, relative to the output scale) and measure both nets' test
accuracy and class-1 probability on a grid for the decision-boundary figure.
"""

from __future__ import annotations

import numpy as np
import torch

from relukit import data
from relukit.studies import _common

KEY = "nonlinearity"
COST = 7  # relative run time (the runner starts the costliest studies first)
CONFIGS = {
    "tiny": {"samples": 200, "turns": 1.75, "noise": 0.05, "width": 32, "hidden_layers": 3, "epochs": 15,
             "batch_size": 50, "lr": 0.01, "grid": 21, "points": 50, "activations": ["identity", "relu"]},
    "quick": {"samples": 1000, "turns": 1.75, "noise": 0.05, "width": 64, "hidden_layers": 3, "epochs": 150,
              "batch_size": 100, "lr": 0.01, "grid": 101, "points": 300, "activations": ["identity", "relu"]},
    "full": {"samples": 4000, "turns": 1.75, "noise": 0.05, "width": 64, "hidden_layers": 3, "epochs": 200,
             "batch_size": 100, "lr": 0.01, "grid": 161, "points": 600, "activations": ["identity", "relu"]},
}  # fmt: skip


@torch.no_grad()
def affine_residual(model: torch.nn.Module, x: torch.Tensor) -> float:
    """max |f(x) - (A x + b)| / max |f(x)| with b = f(0), A e_j = f(e_j) - f(0), in float64."""
    net = _common.copy_as_float64(model).eval()
    x = x.double()
    basis = torch.cat([torch.zeros(1, x.shape[1], dtype=torch.float64), torch.eye(x.shape[1], dtype=torch.float64)])
    at_basis = net(basis)
    bias, matrix = at_basis[0], at_basis[1:] - at_basis[0]
    output = net(x)
    return float((output - (x @ matrix + bias)).abs().max() / output.abs().max().clamp_min(1e-300))


@torch.no_grad()
def _probabilities(model: torch.nn.Module, grid: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.softmax(model(grid), dim=1)[:, 1]


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    dataset = data.two_spirals(seed, samples=config["samples"], turns=config["turns"], noise=config["noise"])
    x_train, y_train = _common.tensors(dataset.x_train, dataset.y_train, device)
    x_test, y_test = _common.tensors(dataset.x_test, dataset.y_test, device)
    everything = np.concatenate([dataset.x_train, dataset.x_test])
    low, high = everything.min(0) - 0.25, everything.max(0) + 0.25
    axes = [np.linspace(low[i], high[i], config["grid"], dtype=np.float32) for i in range(2)]
    grid_x, grid_y = np.meshgrid(*axes)
    grid = torch.as_tensor(np.stack([grid_x.ravel(), grid_y.ravel()], 1), device=device)

    models, probability = {}, {}
    for name in config["activations"]:
        torch.manual_seed(_common.derive_seed(seed, KEY, name))
        model = _common.mlp(2, config["width"], config["hidden_layers"], 2, name).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
        generator = torch.Generator().manual_seed(_common.derive_seed(seed, KEY, name, "shuffle"))
        for _ in progress(range(config["epochs"]), f"{KEY}: {name}"):
            _common.train_epoch(
                model, optimizer, x_train, y_train, batch_size=config["batch_size"], generator=generator
            )
        train, test = _common.evaluate(model, x_train, y_train), _common.evaluate(model, x_test, y_test)
        models[name] = {
            "train_accuracy": train["accuracy"],
            "test_accuracy": test["accuracy"],
            "test_loss": _common.finite_or_none(test["loss"]),
            "affine_residual": affine_residual(model, x_test.cpu()),
        }
        probability[name] = _common.rounded(_probabilities(model, grid).cpu().tolist(), 4)

    shown = np.random.default_rng(_common.derive_seed(seed, KEY, "points")).permutation(len(dataset.y_test))
    shown = shown[: config["points"]]
    return {
        "data": dataset.describe(),
        "models": models,
        "boundary": {
            "x": _common.rounded(axes[0], 5),
            "y": _common.rounded(axes[1], 5),
            # probability[name][i * len(x) + j]: class-1 probability at (x[j], y[i])
            "probability": probability,
        },
        "points": {"x": dataset.x_test[shown].round(5).tolist(), "y": dataset.y_test[shown].tolist()},
    }

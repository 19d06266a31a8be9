"""Study ``vanishing``: per-layer gradient norms of a 20-layer MLP on digits, and a fair training of each activation.

Backprop multiplies the gradient by W^T diag(f'(z)) at every layer. Sigmoid's derivative is at most
1/4 and tanh's at most 1, so their gradients shrink with depth (Glorot & Bengio 2010, who showed
sigmoid nets saturating); ReLU's is exactly 1 on active units, and with He initialization the norm is
preserved in expectation (He et al. 2015). We measure the gradient of the mean loss over the whole
training set, per Linear layer, with ``relukit.diagnostics.GradientFlowMonitor``, at initialization and
after training; its verdict is "vanishing" when first/last < 1e-3.

Each activation gets the initialization made for it (Xavier for sigmoid and tanh, He for the ReLU family)
and the same chance in training: the same budget (epochs, batch size, SGD with momentum) at every
learning rate of a small grid, each on the same seeds (same initial weights and data order per seed);
the rate is chosen by mean accuracy on a held-out validation split of the training set, never on the
test set. After training, ``relukit.diagnostics.scan`` (a ``DeadUnitMonitor`` over the training split)
counts dead units (never > 0) and dormant ones (ReDo score <= 0.1).
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from relukit import data
from relukit.diagnostics import GradientFlowMonitor, scan
from relukit.studies import _common

KEY = "vanishing"
COST = 121  # relative run time (the runner starts the costliest studies first)
ACTIVATIONS = [
    {"name": "sigmoid", "init": "xavier"},
    {"name": "tanh", "init": "xavier"},
    {"name": "relu", "init": "he"},
    {"name": "leaky_relu", "init": "he"},
    {"name": "mish", "init": "he"},
    {"name": "kaf", "init": "he"},
]
_COMMON = {"width": 64, "hidden_layers": 20, "optimizer": "sgd", "lr_grid": [0.001, 0.003, 0.01, 0.03], "momentum": 0.9,
           "batch_size": 64, "validation_fraction": 0.2, "activations": ACTIVATIONS}  # fmt: skip
CONFIGS = {
    "tiny": {**_COMMON, "hidden_layers": 6, "epochs": 1, "seeds": 1, "lr_grid": [0.01, 0.03],
             "activations": [a for a in ACTIVATIONS if a["name"] in ("sigmoid", "relu", "kaf")]},
    "quick": {**_COMMON, "epochs": 10, "seeds": 2},
    "full": {**_COMMON, "epochs": 30, "seeds": 3},
}  # fmt: skip


def full_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, linear_layers: list[str]) -> dict:
    """One backward of the mean loss over (x, y), observed by GradientFlowMonitor; gradients cleared after."""
    model.zero_grad(set_to_none=True)
    with GradientFlowMonitor(model) as flow:
        nn.functional.cross_entropy(model(x), y).backward()
    step = flow.report().to_dict()
    model.zero_grad(set_to_none=True)
    norms = {layer["name"]: layer["norm"] for layer in step["layers"]}
    return {
        "layer_norms": [_common.finite_or_none(norms[name]) for name in linear_layers],
        "first_to_last_ratio": _common.finite_or_none(step["first_to_last_ratio"]),
        "verdict": step["verdict"],
        "nonfinite": step["nonfinite"],
    }


def validation_split(x: torch.Tensor, y: torch.Tensor, fraction: float) -> tuple[tuple, tuple]:
    """(fit, validation): the same fraction of every class held out, fixed (not drawn from the study seed)."""
    train, held_out = data._stratified_split(y.cpu().numpy(), fraction, data.SPLIT_SEED)
    train, held_out = torch.as_tensor(train, device=x.device), torch.as_tensor(held_out, device=x.device)
    return (x[train], y[train]), (x[held_out], y[held_out])


def _new_model(config: dict, spec: dict, run_seed: int, fit, classes: int) -> tuple[nn.Module, list[str]]:
    torch.manual_seed(run_seed)
    model = _common.mlp(fit[0].shape[1], config["width"], config["hidden_layers"], classes, spec["name"])
    model = _common.initialize(model, spec["init"]).to(fit[0].device)
    return model, [name for name, module in model.named_children() if isinstance(module, nn.Linear)]


def _train(config, spec, lr, run_seed, fit, validation, test, classes, progress) -> dict:
    """One training run at ``lr``: losses, accuracies, the gradient and the dead units after training."""
    model, linear_layers = _new_model(config, spec, run_seed, fit, classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=config["momentum"])
    generator = torch.Generator().manual_seed(run_seed)
    losses = [
        _common.train_epoch(model, optimizer, *fit, batch_size=config["batch_size"], generator=generator)
        for _ in progress(range(config["epochs"]), f"{KEY}: {spec['name']} lr {lr}")
    ]
    units = scan(model, [fit[0]], progress=False).to_dict()
    return {
        "seed": run_seed,
        "epoch_loss": _common.rounded(losses, 6),
        "validation_accuracy": _common.evaluate(model, *validation)["accuracy"],
        "test_accuracy": _common.evaluate(model, *test)["accuracy"],
        "after_training": full_gradient(model, *fit, linear_layers),
        "dead_fraction": units["totals"]["dead_fraction"],
        "dormant_fraction": units["totals"]["dormant_fraction"],
        "dead_per_layer": [layer["dead_fraction"] for layer in units["layers"]],
    }


def _mean(values: list) -> float | None:
    return None if any(v is None for v in values) else statistics.fmean(values)


def _run_activation(config, spec, seeds, fit, validation, test, classes, progress) -> dict:
    model, linear_layers = _new_model(config, spec, seeds[0], fit, classes)
    at_init = full_gradient(model, *fit, linear_layers)
    grid = []
    for lr in config["lr_grid"]:
        runs = [_train(config, spec, lr, s, fit, validation, test, classes, progress) for s in seeds]
        grid.append({"lr": lr, "validation_accuracy": statistics.fmean(r["validation_accuracy"] for r in runs),
                     "test_accuracy": statistics.fmean(r["test_accuracy"] for r in runs), "runs": runs})  # fmt: skip
    best = max(grid, key=lambda g: g["validation_accuracy"])  # the first of equals: the smallest rate
    runs = best["runs"]
    return {
        "init": spec["init"],
        "at_init": at_init,
        "best_lr": best["lr"],
        "validation_accuracy": best["validation_accuracy"],
        "test_accuracy": best["test_accuracy"],
        "test_accuracy_runs": [r["test_accuracy"] for r in runs],
        "dead_fraction": _mean([r["dead_fraction"] for r in runs]),
        "dormant_fraction": statistics.fmean(r["dormant_fraction"] for r in runs),
        "after_training": runs[0]["after_training"],  # the first seed's, drawn in the figure
        "first_to_last_ratio_runs": [r["after_training"]["first_to_last_ratio"] for r in runs],
        "verdict_runs": [r["after_training"]["verdict"] for r in runs],
        "epoch_loss": runs[0]["epoch_loss"],
        "grid": grid,
    }


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    dataset = data.load(config.get("data"))
    fit, validation = validation_split(*_common.tensors(*dataset.flat("train"), device), config["validation_fraction"])
    test = _common.tensors(*dataset.flat("test"), device)
    seeds = [_common.derive_seed(seed, KEY, index) for index in range(config["seeds"])]
    activations = {
        spec["name"]: _run_activation(config, spec, seeds, fit, validation, test, dataset.num_classes, progress)
        for spec in config["activations"]
    }
    return {
        "data": dataset.describe(),
        "fit_samples": len(fit[1]),
        "validation_samples": len(validation[1]),
        "layers": config["hidden_layers"] + 1,
        "activations": activations,
    }

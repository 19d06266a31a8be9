"""Study ``vanishing``: per-layer gradient norms of a 20-layer MLP on digits, one activation at a time.

Backprop multiplies the gradient by W^T diag(f'(z)) at every layer. Sigmoid's derivative is at most
1/4 and tanh's at most 1, so their gradients shrink with depth (Glorot & Bengio 2010, who showed
sigmoid nets saturating); ReLU's is exactly 1 on active units, and with He initialization the norm is
preserved in expectation (He et al. 2015). We measure the gradient of the mean loss over the whole
training set, per Linear layer, with ``relukit.diagnostics.GradientFlowMonitor``, at initialization,
after each epoch, and after training; its verdict is "vanishing" when first/last < 1e-3.
Each activation gets the initialization made for it: Xavier (Glorot & Bengio 2010) for sigmoid and tanh,
He for the ReLU family.
"""

from __future__ import annotations

import torch
from torch import nn

from relukit import data
from relukit.diagnostics import GradientFlowMonitor
from relukit.studies import _common

KEY = "vanishing"
ACTIVATIONS = [
    {"name": "sigmoid", "init": "xavier"},
    {"name": "tanh", "init": "xavier"},
    {"name": "relu", "init": "he"},
    {"name": "leaky_relu", "init": "he"},
    {"name": "mish", "init": "he"},
    {"name": "kaf", "init": "he"},
]
_COMMON = {"width": 64, "hidden_layers": 20, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 64,
           "activations": ACTIVATIONS}  # fmt: skip
CONFIGS = {
    "tiny": {**_COMMON, "hidden_layers": 6, "epochs": 1,
             "activations": [a for a in ACTIVATIONS if a["name"] in ("sigmoid", "relu", "kaf")]},
    "quick": {**_COMMON, "epochs": 10},
    "full": {**_COMMON, "epochs": 30},
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


def _run_one(config: dict, spec: dict, run_seed: int, train, test, classes: int, progress) -> dict:
    torch.manual_seed(run_seed)
    x_train, y_train = train
    model = _common.mlp(x_train.shape[1], config["width"], config["hidden_layers"], classes, spec["name"])
    model = _common.initialize(model, spec["init"]).to(x_train.device)
    linear_layers = [name for name, module in model.named_children() if isinstance(module, nn.Linear)]
    at_init = full_gradient(model, x_train, y_train, linear_layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])
    generator = torch.Generator().manual_seed(run_seed)
    per_epoch, losses = [], []
    for _ in progress(range(config["epochs"]), f"{KEY}: {spec['name']}"):
        losses.append(
            _common.train_epoch(
                model, optimizer, x_train, y_train, batch_size=config["batch_size"], generator=generator
            )
        )
        per_epoch.append(full_gradient(model, x_train, y_train, linear_layers))
    return {
        "init": spec["init"],
        "at_init": at_init,
        "after_training": per_epoch[-1] if per_epoch else at_init,
        "ratio_per_epoch": [epoch["first_to_last_ratio"] for epoch in per_epoch],
        "epoch_loss": _common.rounded(losses, 6),
        "test_accuracy": _common.evaluate(model, *test)["accuracy"],
    }


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    dataset = data.load(config.get("data"))
    train = _common.tensors(*dataset.flat("train"), device)
    test = _common.tensors(*dataset.flat("test"), device)
    names = [spec["name"] for spec in config["activations"]]
    activations = {
        spec["name"]: _run_one(
            config, spec, _common.derive_seed(seed, KEY, spec["name"]), train, test, dataset.num_classes, progress
        )
        for spec in config["activations"]
        if spec["name"] in names
    }
    return {"data": dataset.describe(), "layers": config["hidden_layers"] + 1, "activations": activations}

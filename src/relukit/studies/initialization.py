"""Study ``init``: a 30-layer ReLU MLP on digits, Xavier vs He initialization.

He, Zhang, Ren, Sun 2015 ("Delving Deep into Rectifiers", Fig. 3): a 30-layer plain ReLU net with Xavier
init (Glorot & Bengio 2010, Var[w] = 2 / (fan_in + fan_out)) stalls, while He init (Var[w] = 2 / fan_in)
converges. The reason is the forward signal: each square ReLU layer multiplies the second moment of the
activations by fan_in Var[w] / 2, i.e. 1/2 for Xavier and 1 for He, so after L layers Xavier's signal
has shrunk by 2^-L. We measure that ratio at initialization next to the theory, then the training loss
of both, step by step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from relukit import data
from relukit.studies import _common

KEY = "init"
COST = 19  # relative run time (the runner starts the costliest studies first)
_COMMON = {"width": 64, "optimizer": "sgd", "lr": 0.002, "momentum": 0.9, "batch_size": 64, "schemes": ["xavier", "he"]}
CONFIGS = {
    "tiny": {**_COMMON, "hidden_layers": 30, "epochs": 2, "seeds": 1},
    "quick": {**_COMMON, "hidden_layers": 30, "epochs": 20, "seeds": 2},
    "full": {**_COMMON, "hidden_layers": 30, "epochs": 60, "seeds": 5},
}


@torch.no_grad()
def second_moments(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    """E[a^2] of the input and of every hidden ReLU layer's output, over the rows of ``x``."""
    moments = [float(x.pow(2).mean())]
    h = x
    for module in model[:-1]:
        h = module(h)
        if not isinstance(module, nn.Linear):
            moments.append(float(h.pow(2).mean()))
    return moments


def predicted_ratio(scheme: str, width: int, hidden_layers: int) -> float:
    """Theory (He et al. 2015, Eq. 10) for E[a_L^2] / E[a_1^2] of square ReLU layers: (fan_in Var[w] / 2)^(L-1)."""
    variance = {"he": 2.0 / width, "xavier": 2.0 / (2 * width)}[scheme]
    return (width * variance / 2) ** (hidden_layers - 1)


def _train(config: dict, scheme: str, run_seed: int, train, test, classes: int, progress) -> dict:
    torch.manual_seed(run_seed)
    x_train, y_train = train
    model = _common.mlp(x_train.shape[1], config["width"], config["hidden_layers"], classes, "relu")
    model = _common.initialize(model, scheme).to(x_train.device)
    moments = second_moments(model, x_train)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])
    generator = torch.Generator().manual_seed(run_seed)
    steps: list[float] = []
    epochs = []
    for _ in progress(range(config["epochs"]), f"{KEY}: {scheme}"):
        loss = _common.train_epoch(
            model, optimizer, x_train, y_train, batch_size=config["batch_size"], generator=generator,
            on_step=steps.append,
        )  # fmt: skip
        epochs.append(loss)
    return {
        "activation_moments": moments,
        "measured_ratio": moments[-1] / moments[1],
        "step_loss": _common.rounded(steps, 5),
        "epoch_loss": _common.rounded(epochs, 6),
        "final_train_loss": _common.finite_or_none(epochs[-1]) if epochs else None,
        "test_accuracy": _common.evaluate(model, *test)["accuracy"],
    }


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    dataset = data.load(config.get("data"))
    train = _common.tensors(*dataset.flat("train"), device)
    test = _common.tensors(*dataset.flat("test"), device)
    chance_loss = math.log(dataset.num_classes)  # cross-entropy of a uniform prediction
    schemes = {}
    for scheme in config["schemes"]:
        runs = [
            _train(
                config,
                scheme,
                _common.derive_seed(seed, KEY, scheme, index),
                train,
                test,
                dataset.num_classes,
                progress,
            )
            for index in range(config["seeds"])
        ]
        finals = [r["final_train_loss"] for r in runs]
        schemes[scheme] = {
            "predicted_ratio": predicted_ratio(scheme, config["width"], config["hidden_layers"]),
            "runs": runs,
            # "stalled": the last epoch's mean loss is still within 5% of chance (ln K).
            "stalled_runs": sum(f is None or f >= 0.95 * chance_loss for f in finals),
            "mean_test_accuracy": sum(r["test_accuracy"] for r in runs) / len(runs),
        }
    return {"data": dataset.describe(), "chance_loss": chance_loss, "schemes": schemes}

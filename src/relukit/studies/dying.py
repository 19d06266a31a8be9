"""Study ``dying``: an MLP on digits trained with too large a learning rate, and what dies.

A ReLU unit whose pre-activation is negative on every input passes no gradient to its weights and never
recovers; a large step can push it there (Lu et al. 2020). After every epoch we scan the whole training
set with ``relukit.diagnostics.scan`` (a ``DeadUnitMonitor``): the dead fraction (units never > 0 on any
sample; for leaky members a stuck unit still passes slope * g), the dormant fraction (ReDo's score <= tau,
Sokar et al. 2023; also meaningful for smooth members, where "dead" is not) and the activation rate
(Glorot et al. 2011: about 1/2 at initialization). Then ``revive`` re-initializes the dead units, and we
fine-tune the revived model and an untouched copy with a sane learning rate, side by side.
A control run trains the ReLU net at the sane learning rate from the start.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from relukit import data
from relukit.diagnostics import revive, scan
from relukit.studies import _common

KEY = "dying"
ACTIVATIONS = ["relu", "leaky_relu", "prelu", "mish", "kaf"]
_COMMON = {"width": 128, "hidden_layers": 3, "optimizer": "adam", "lr": 0.03, "control_lr": 0.001,
           "finetune_lr": 0.001, "batch_size": 64, "scan_batch_size": 512, "activations": ACTIVATIONS}  # fmt: skip
CONFIGS = {
    "tiny": {**_COMMON, "width": 32, "epochs": 2, "finetune_epochs": 1, "activations": ["relu", "mish", "kaf"]},
    "quick": {**_COMMON, "epochs": 8, "finetune_epochs": 2},
    "full": {**_COMMON, "epochs": 20, "finetune_epochs": 5},
}


def _scan(model: nn.Module, x: torch.Tensor, batch_size: int) -> dict:
    batches = [x[start : start + batch_size] for start in range(0, len(x), batch_size)]
    report = scan(model, batches, progress=False)
    return report.to_dict()


def _fit(model, config, train, lr, epochs, run_seed, progress, label) -> tuple[list[float], list[dict]]:
    """Adam at ``lr`` for ``epochs``; returns per-epoch losses and scans (the scan before training first)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(run_seed)
    losses, scans = [], [_scan(model, train[0], config["scan_batch_size"])]
    for _ in progress(range(epochs), f"{KEY}: {label}"):
        losses.append(
            _common.train_epoch(model, optimizer, *train, batch_size=config["batch_size"], generator=generator)
        )
        scans.append(_scan(model, train[0], config["scan_batch_size"]))
    return losses, scans


def _history(losses: list[float], scans: list[dict]) -> dict:
    totals = [s["totals"] for s in scans]
    return {
        "dead_applicable": totals[0]["dead_fraction"] is not None,
        "dead_fraction": [t["dead_fraction"] for t in totals],
        "dormant_fraction": [t["dormant_fraction"] for t in totals],
        "activation_rate": [t["activation_rate"] for t in totals],
        "dead_per_layer": [layer["dead_fraction"] for layer in scans[-1]["layers"]],
        "epoch_loss": _common.rounded(losses, 6),
    }


def _revive_effect(model, report, config, train, test, run_seed, progress, name) -> dict:
    """Revives the dead units, then fine-tunes the revived model and an unrevived copy the same way."""
    untouched = copy.deepcopy(model)
    outcome = revive(model, report, generator=torch.Generator().manual_seed(run_seed))
    after = _scan(model, train[0], config["scan_batch_size"])["totals"]
    accuracy_revived = _common.evaluate(model, *test)["accuracy"]
    finetuned = {}
    for label, net in (("revived", model), ("untouched", untouched)):
        _, scans = _fit(net, config, train, config["finetune_lr"], config["finetune_epochs"], run_seed, progress,
                        f"{name} fine-tune ({label})")  # fmt: skip
        finetuned[label] = {"dead_fraction": scans[-1]["totals"]["dead_fraction"], **_common.evaluate(net, *test)}
    return {
        "revived_units": sum(len(units) for units in outcome["revived"].values()),
        "dead_fraction_before": report["totals"]["dead_fraction"],
        "dead_fraction_after": after["dead_fraction"],
        "accuracy_after_revive": accuracy_revived,
        "accuracy_finetuned": finetuned["revived"]["accuracy"],
        "accuracy_finetuned_without_revive": finetuned["untouched"]["accuracy"],
        "dead_fraction_finetuned": finetuned["revived"]["dead_fraction"],
        "dead_fraction_finetuned_without_revive": finetuned["untouched"]["dead_fraction"],
    }


def _new_model(config: dict, name: str, run_seed: int, dataset: data.Dataset, device: str) -> nn.Module:
    torch.manual_seed(run_seed)
    model = _common.mlp(dataset.num_features, config["width"], config["hidden_layers"], dataset.num_classes, name)
    return _common.initialize(model, "he").to(device)


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    dataset = data.load(config.get("data"))
    train = _common.tensors(*dataset.flat("train"), device)
    test = _common.tensors(*dataset.flat("test"), device)
    activations = {}
    for name in config["activations"]:
        run_seed = _common.derive_seed(seed, KEY, name)
        model = _new_model(config, name, run_seed, dataset, device)
        losses, scans = _fit(model, config, train, config["lr"], config["epochs"], run_seed, progress, name)
        result = {**_history(losses, scans), "test_accuracy": _common.evaluate(model, *test)["accuracy"]}
        dead = scans[-1]["totals"]["dead"]
        result["revive"] = (
            _revive_effect(model, scans[-1], config, train, test, run_seed, progress, name) if dead else None
        )
        activations[name] = result

    run_seed = _common.derive_seed(seed, KEY, "relu", "control")
    model = _new_model(config, "relu", run_seed, dataset, device)
    losses, scans = _fit(model, config, train, config["control_lr"], config["epochs"], run_seed, progress, "control")
    control = {**_history(losses, scans), "test_accuracy": _common.evaluate(model, *test)["accuracy"]}
    return {"data": dataset.describe(), "activations": activations, "control": {"relu": control}}

"""Study ``dying``: an MLP on digits trained with too large a learning rate, and what dies.

A ReLU unit whose pre-activation is negative on every input passes no gradient to its weights and never
recovers; a large step can push it there (Lu et al. 2020). After every epoch we scan the whole training
set with ``relukit.diagnostics.scan`` (a ``DeadUnitMonitor``): the dead fraction (units never > 0 on any
sample; for leaky members a stuck unit still passes slope * g), the dormant fraction (ReDo's score <= tau,
Sokar et al. 2023; also meaningful for smooth members, where "dead" is not) and the activation rate
(Glorot et al. 2011: about 1/2 at initialization). Then ``revive`` re-initializes the dead units, and we
fine-tune the revived model and an untouched copy with a sane learning rate, side by side.
A control run trains the ReLU net at the sane learning rate from the start.

Every activation runs on the same seeds (run i: the same initial Linear weights and data order), so its
test accuracy is paired with ReLU's per seed, and revive's effect is paired with the untouched copy of the
same run; ``relukit.studies.statistics`` gives the t intervals that decide what the report may claim.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from relukit import data
from relukit.diagnostics import revive, scan
from relukit.studies import _common
from relukit.studies import statistics as stats

KEY = "dying"
COST = 34  # relative run time (the runner starts the costliest studies first)
ACTIVATIONS = ["relu", "leaky_relu", "prelu", "mish", "kaf"]
_COMMON = {"width": 128, "hidden_layers": 3, "optimizer": "adam", "lr": 0.03, "control_lr": 0.001,
           "finetune_lr": 0.001, "batch_size": 64, "scan_batch_size": 512, "activations": ACTIVATIONS}  # fmt: skip
CONFIGS = {
    "tiny": {
        **_COMMON,
        "width": 32,
        "epochs": 2,
        "finetune_epochs": 1,
        "seeds": 2,
        "activations": ["relu", "mish", "kaf"],
    },
    "quick": {**_COMMON, "epochs": 8, "finetune_epochs": 2, "seeds": 3},
    "full": {**_COMMON, "epochs": 20, "finetune_epochs": 5, "seeds": 10},
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


def _one_run(config, dataset, name, lr, run_seed, train, test, progress, *, with_revive: bool) -> dict:
    model = _new_model(config, name, run_seed, dataset, train[0].device)
    losses, scans = _fit(model, config, train, lr, config["epochs"], run_seed, progress, name)
    result = {"seed": run_seed, **_history(losses, scans), "test_accuracy": _common.evaluate(model, *test)["accuracy"]}
    dead = scans[-1]["totals"]["dead"]
    if with_revive:
        result["revive"] = (
            _revive_effect(model, scans[-1], config, train, test, run_seed, progress, name) if dead else None
        )
    return result


def _summary(runs: list[dict]) -> dict:
    """Intervals over seeds of the final dead/dormant fractions and the test accuracy; revive's paired effect."""
    final = {key: [r[key][-1] for r in runs] for key in ("dead_fraction", "dormant_fraction")}
    summary = {
        "dead_applicable": runs[0]["dead_applicable"],
        "test_accuracy_interval": stats.t_interval([r["test_accuracy"] for r in runs]),
        "dead_fraction_interval": None if None in final["dead_fraction"] else stats.t_interval(final["dead_fraction"]),
        "dormant_fraction_interval": stats.t_interval(final["dormant_fraction"]),
    }
    revived = [r["revive"] for r in runs if r.get("revive")]
    if revived:
        summary["revive_runs"] = len(revived)
        summary["revive_accuracy_difference"] = stats.paired_difference(
            [v["accuracy_finetuned"] for v in revived], [v["accuracy_finetuned_without_revive"] for v in revived]
        )
        summary["revive_dead_difference"] = stats.paired_difference(
            [v["dead_fraction_finetuned"] for v in revived],
            [v["dead_fraction_finetuned_without_revive"] for v in revived],
        )
    return summary


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    """Per activation: ``runs`` (one per seed: per-epoch history, test accuracy, revive's effect) and intervals."""
    dataset = data.load(config.get("data"))
    train = _common.tensors(*dataset.flat("train"), device)
    test = _common.tensors(*dataset.flat("test"), device)
    seeds = [_common.derive_seed(seed, KEY, index) for index in range(config["seeds"])]  # shared: paired runs
    activations = {}
    for name in config["activations"]:
        runs = [
            _one_run(config, dataset, name, config["lr"], s, train, test, progress, with_revive=True) for s in seeds
        ]
        activations[name] = {"runs": runs, **_summary(runs)}
    stats.add_differences(activations, "relu", lambda r: [run["test_accuracy"] for run in r["runs"]])
    control = [
        _one_run(config, dataset, "relu", config["control_lr"], s, train, test, progress, with_revive=False)
        for s in seeds
    ]
    return {"data": dataset.describe(), "activations": activations, "control": {"relu": {"runs": control,
            **_summary(control)}}}  # fmt: skip

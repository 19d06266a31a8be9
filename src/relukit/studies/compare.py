"""Study ``compare``: one small CNN on digits, the same training, one activation after another.

Per activation and seed: test accuracy, seconds per epoch, and the bytes autograd keeps for backward in
one training step (``SavedTensorMeter``), for relukit's module and for torch's stock module of the same
member. Run i of every activation uses the same seed, so it starts from the same convolution and linear
weights and sees the same data order: the accuracy difference to ReLU is paired per seed, and its t
interval (``relukit.studies.statistics``) decides whether the report may name a winner. This echoes the
comparisons of Xu et al. 2015 and of the Mish repository (Misra 2019, SqueezeNet on CIFAR-10); digits is
not CIFAR, and we do not claim to reproduce them.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from relukit import catalog, data
from relukit.diagnostics import SavedTensorMeter
from relukit.studies import _common
from relukit.studies import statistics as stats

KEY = "compare"
COST = 85  # relative run time (the runner starts the costliest studies first)
ACTIVATIONS = ["relu", "leaky_relu", "prelu", "rrelu", "elu", "selu", "gelu", "silu", "mish", "kaf"]
_COMMON = {"activations": ACTIVATIONS, "channels": 16, "optimizer": "adam", "lr": 0.003, "batch_size": 64}
CONFIGS = {
    "tiny": {**_COMMON, "activations": ["relu", "leaky_relu", "mish", "kaf"], "seeds": 2, "epochs": 1},
    "quick": {**_COMMON, "seeds": 3, "epochs": 10},
    # 10 paired seeds: t(9) = 2.26, so a difference resolves when it exceeds ~0.7 standard deviations of the
    # per-seed differences (3 seeds: t(2) = 4.30, ~2.5 standard deviations).
    "full": {**_COMMON, "seeds": 10, "epochs": 30},
}


def _stock_module(name: str, width: int) -> nn.Module | None:
    """torch's own module for a member (None where torch has none, e.g. KAF)."""
    entry = catalog.BY_NAME.get(name)
    if entry is None or not hasattr(nn, entry.module):
        return None
    return getattr(nn, entry.module)(num_parameters=width) if entry.takes_weight else getattr(nn, entry.module)()


def build(dataset: data.Dataset, name: str, channels: int, *, stock: bool = False) -> nn.Module | None:
    """The CNN for image data, else a 2-hidden-layer MLP; ``stock`` uses torch's activation modules."""
    if dataset.image_shape is not None:
        model = _common.cnn(dataset.image_shape[0], dataset.num_classes, name, width=channels)
    else:
        model = _common.mlp(dataset.num_features, 4 * channels, 2, dataset.num_classes, name)
    if stock:
        for index, module in enumerate(model):
            if isinstance(module, (nn.Conv2d, nn.Linear)) and index + 1 < len(model):
                replacement = _stock_module(name, module.out_channels if hasattr(module, "out_channels")
                                            else module.out_features)  # fmt: skip
                if replacement is None:
                    return None
                model[index + 1] = replacement
    return model


def saved_bytes_per_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes saved for backward by one training forward (input and parameters excluded: alive anyway)."""
    model.train()
    with SavedTensorMeter(ignore=[x]) as meter:
        loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return meter.saved_bytes


def _inputs(dataset: data.Dataset, split: str, device: str):
    x, y = dataset.images(split) if dataset.image_shape is not None else dataset.flat(split)
    return _common.tensors(x, y, device)


def _one_run(config, dataset, name, run_seed, train, test, progress) -> tuple[dict, list[float]]:
    torch.manual_seed(run_seed)
    model = build(dataset, name, config["channels"]).to(train[0].device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    generator = torch.Generator().manual_seed(run_seed)
    seconds = []
    for _ in progress(range(config["epochs"]), f"{KEY}: {name}"):
        start = time.perf_counter()
        loss = _common.train_epoch(model, optimizer, *train, batch_size=config["batch_size"], generator=generator)
        seconds.append(time.perf_counter() - start)
    result = {"seed": run_seed, "final_train_loss": _common.finite_or_none(loss), **_accuracy(model, test)}
    return result, seconds


def _warm_up(dataset: data.Dataset, config: dict, train) -> None:
    """One untimed step, so the first activation's timings do not pay for one-time allocations."""
    model = build(dataset, "relu", config["channels"]).to(train[0].device)
    nn.functional.cross_entropy(model(train[0][: config["batch_size"]]), train[1][: config["batch_size"]]).backward()


def _accuracy(model, test) -> dict:
    return {"test_accuracy": _common.evaluate(model, *test)["accuracy"]}


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    dataset = data.load(config.get("data"))
    train, test = _inputs(dataset, "train", device), _inputs(dataset, "test", device)
    batch = (train[0][: config["batch_size"]], train[1][: config["batch_size"]])
    _warm_up(dataset, config, train)
    activations, timing = {}, {}
    seeds = [_common.derive_seed(seed, KEY, index) for index in range(config["seeds"])]  # shared: paired runs
    for name in config["activations"]:
        runs, seconds = [], []
        for run_seed in seeds:
            result, epoch_seconds = _one_run(config, dataset, name, run_seed, train, test, progress)
            runs.append(result)
            seconds += epoch_seconds[1:] or epoch_seconds  # the first epoch pays one-time warm-up costs
        torch.manual_seed(_common.derive_seed(seed, KEY, name, "memory"))
        stock = build(dataset, name, config["channels"], stock=True)
        accuracies = [r["test_accuracy"] for r in runs]
        activations[name] = {
            "runs": runs,
            "mean_test_accuracy": statistics.fmean(accuracies),
            "std_test_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "test_accuracy_interval": stats.t_interval(accuracies),
            "saved_bytes_per_step": saved_bytes_per_step(build(dataset, name, config["channels"]).to(device), *batch),
            "saved_bytes_per_step_torch": None if stock is None else saved_bytes_per_step(stock.to(device), *batch),
        }
        timing[name] = {"seconds_per_epoch": statistics.median(seconds)}
    stats.add_differences(activations, "relu", lambda r: [run["test_accuracy"] for run in r["runs"]])
    return {
        "data": dataset.describe(),
        "model": "cnn" if dataset.image_shape is not None else "mlp",
        "activations": activations,
        "timing": timing,
    }

r"""Study ``fewbit``: training with the few-bit backward of GELU, SiLU and Mish against the exact backward.

With ``bits = k`` a smooth member's backward multiplies the gradient by :math:`s(x) = \text{levels}[\text{code}(x)]`,
the optimal piecewise-constant :math:`2^k`-level approximation of :math:`f'` under N(0, 1)
(``relukit.fewbit_table``), and autograd keeps a k-bit code per element instead of the fp32 input
(k/32 of its bytes). Per member, bits (exact and k = 1..4) and seed, the same model is trained from the same
weights on the same data order (run i of every variant shares its seed), so accuracy differences to the
exact backward are paired per seed (``relukit.studies.statistics``). Every ``cosine_every`` steps the
training batch is also run with the exact backward from the same weights and the cosine similarity of
the two parameter gradients is recorded; the k-bit gradient then takes the step. Echoes Novikov et al.
(ICML 2023); digits is not their benchmarks and we do not claim to reproduce them.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

import relukit
from relukit import data
from relukit.diagnostics import SavedTensorMeter
from relukit.studies import _common
from relukit.studies import statistics as stats
from relukit.studies.compare import build, saved_bytes_per_step

KEY = "fewbit"
COST = 24  # relative run time (the runner starts the costliest studies first)
MEMBERS = ["gelu", "silu", "mish"]
BITS = [1, 2, 3, 4]
EXACT = "exact"
_COMMON = {"members": MEMBERS, "bits": BITS, "optimizer": "adam", "lr": 0.003, "batch_size": 64}
CONFIGS = {
    # the MLP (width 4 x channels) on flat digits: a few seconds single-threaded
    "tiny": {**_COMMON, "members": ["gelu"], "model": "mlp", "channels": 8, "seeds": 2, "epochs": 1, "lr": 0.01,
             "batch_size": 128, "cosine_every": 2},
    "quick": {**_COMMON, "model": "mlp", "channels": 8, "seeds": 3, "epochs": 2, "batch_size": 128, "lr": 0.01,
              "cosine_every": 4},
    # the compare study's CNN on 8x8 digits; 5 paired seeds: t(4) = 2.78
    "full": {**_COMMON, "model": "cnn", "channels": 16, "seeds": 5, "epochs": 10, "cosine_every": 5},
}  # fmt: skip


def _variants(config: dict) -> list[str]:
    return [EXACT] + [f"{k}bit" for k in config["bits"]]


def _bits(variant: str) -> int | None:
    return None if variant == EXACT else int(variant.removesuffix("bit"))


def set_bits(model: nn.Module, bits: int | None) -> nn.Module:
    """Sets ``bits`` on every relukit activation module of ``model`` that takes it (None: exact backward)."""
    for module in model.modules():
        if hasattr(module, "bits"):
            module.bits = bits
    return model


def _model(dataset: data.Dataset, config: dict, member: str) -> nn.Module:
    if config["model"] == "cnn":
        return build(dataset, member, config["channels"])
    return _common.mlp(dataset.num_features, 4 * config["channels"], 2, dataset.num_classes, member)


def _inputs(dataset: data.Dataset, config: dict, split: str, device: str):
    x, y = dataset.images(split) if config["model"] == "cnn" else dataset.flat(split)
    return _common.tensors(x, y, device)


def _gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss's gradient with respect to all parameters, flattened (float64); leaves .grad set."""
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    return torch.cat([p.grad.detach().double().flatten() for p in model.parameters()])


def gradient_cosine(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bits: int) -> float:
    """cos(g_exact, g_bits) on one batch from the same weights; the bits gradient is left in .grad."""
    exact = _gradient(set_bits(model, None), x, y)
    approximate = _gradient(set_bits(model, bits), x, y)
    return float(exact @ approximate / (exact.norm() * approximate.norm()))


def _one_run(config, dataset, member, variant, run_seed, train, test, progress) -> dict:
    bits = _bits(variant)
    torch.manual_seed(run_seed)
    model = set_bits(_model(dataset, config, member).to(train[0].device), bits)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    generator = torch.Generator().manual_seed(run_seed)
    cosines, step = [], 0
    for _ in progress(range(config["epochs"]), f"{KEY}: {member} {variant}"):
        model.train()
        for xb, yb in _common.batches(*train, config["batch_size"], generator):
            if bits is not None and step % config["cosine_every"] == 0:
                cosines.append(gradient_cosine(model, xb, yb, bits))
            else:
                _gradient(model, xb, yb)
            optimizer.step()
            step += 1
    result = {"seed": run_seed, "test_accuracy": _common.evaluate(model, *test)["accuracy"]}
    if cosines:
        result["gradient_cosine"] = _common.rounded(cosines, 8)
        result["mean_gradient_cosine"] = statistics.fmean(cosines)
    return result


def saved_bytes_per_element(member: str, bits: int | None, elements: int = 4096) -> float:
    """Bytes autograd keeps per element for one fp32 activation call (4.0 exact; bits / 8 with codes)."""
    module = set_bits(relukit.get_activation(member), bits)
    x = torch.randn(elements, requires_grad=True) * 1.0  # not a leaf: the meter counts what the op saves
    with SavedTensorMeter() as meter:
        module(x)
    return meter.saved_bytes / elements


def _summary(runs: list[dict], member: str, variant: str, saved_step: int) -> dict:
    accuracies = [r["test_accuracy"] for r in runs]
    summary = {
        "runs": runs,
        "mean_test_accuracy": statistics.fmean(accuracies),
        "test_accuracy_interval": stats.t_interval(accuracies),
        "saved_bytes_per_element": saved_bytes_per_element(member, _bits(variant)),
        "saved_bytes_per_step": saved_step,
    }
    if variant != EXACT:
        bits = _bits(variant)
        summary["gradient_cosine_interval"] = stats.t_interval([r["mean_gradient_cosine"] for r in runs])
        table = relukit.fewbit_table(member, bits=bits)
        summary["derivative_rms_error"] = table.rms_error
        summary["relative_derivative_rms_error"] = table.rms_error / table.derivative_rms
    return summary


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    dataset = data.load(config.get("data"))
    train, test = _inputs(dataset, config, "train", device), _inputs(dataset, config, "test", device)
    batch = (train[0][: config["batch_size"]], train[1][: config["batch_size"]])
    seeds = [_common.derive_seed(seed, KEY, index) for index in range(config["seeds"])]  # shared: paired runs
    members, timing = {}, {}
    for member in config["members"]:
        variants = {}
        for variant in _variants(config):
            start = time.perf_counter()
            runs = [_one_run(config, dataset, member, variant, s, train, test, progress) for s in seeds]
            timing[f"{member} {variant}"] = {"seconds": time.perf_counter() - start}
            torch.manual_seed(_common.derive_seed(seed, KEY, member, "memory"))
            model = set_bits(_model(dataset, config, member).to(device), _bits(variant))
            variants[variant] = _summary(runs, member, variant, saved_bytes_per_step(model, *batch))
        stats.add_differences(variants, EXACT, lambda r: [run["test_accuracy"] for run in r["runs"]])
        members[member] = variants
    return {
        "data": dataset.describe(),
        "model": config["model"],
        "members": members,
        "timing": timing,
    }

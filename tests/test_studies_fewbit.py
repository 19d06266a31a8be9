"""The fewbit study in its tiny configuration: numbers consistent with the tables, the packing and torch."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import relukit
from relukit import data
from relukit.studies import _common, fewbit


@pytest.fixture(scope="module")
def tiny():
    from relukit.studies.runner import deterministic

    with deterministic("cpu"):
        yield fewbit.run(fewbit.CONFIGS["tiny"], seed=0)


def test_tiny_has_every_variant_paired_against_exact(tiny):
    config = fewbit.CONFIGS["tiny"]
    for _member, variants in tiny["members"].items():
        assert list(variants) == ["exact"] + [f"{k}bit" for k in config["bits"]]
        for name, r in variants.items():
            assert [run["seed"] for run in r["runs"]] == [run["seed"] for run in variants["exact"]["runs"]]
            interval = r["test_accuracy_interval"]
            assert interval["n"] == config["seeds"] and interval["low"] <= interval["mean"] <= interval["high"]
            if name != "exact":
                difference = r["difference_to_exact"]
                expected = [
                    a["test_accuracy"] - b["test_accuracy"] for a, b in zip(r["runs"], variants["exact"]["runs"])
                ]
                assert difference["mean"] == pytest.approx(sum(expected) / len(expected), abs=1e-12)
                assert difference["resolved"] in (None, "higher", "lower")


def test_gradient_cosine_rises_with_bits_and_stays_below_one(tiny):
    for member, variants in tiny["members"].items():
        means = [variants[f"{k}bit"]["gradient_cosine_interval"]["mean"] for k in fewbit.CONFIGS["tiny"]["bits"]]
        assert means == sorted(means), (member, means)
        assert 0.5 < means[0] and means[-1] < 1.0, (member, means)
        for k in fewbit.CONFIGS["tiny"]["bits"]:
            runs = variants[f"{k}bit"]["runs"]
            assert all(-1.0 <= c <= 1.0 + 1e-9 for run in runs for c in run["gradient_cosine"])


def test_saved_bytes_are_k_over_32_of_the_fp32_input(tiny):
    config = fewbit.CONFIGS["tiny"]
    # the MLP's activations: 2 hidden layers of width 4 x channels at the batch size
    elements = 2 * config["batch_size"] * 4 * config["channels"]
    for _member, variants in tiny["members"].items():
        exact = variants["exact"]
        assert exact["saved_bytes_per_element"] == 4.0
        for k in config["bits"]:
            r = variants[f"{k}bit"]
            assert r["saved_bytes_per_element"] == 4.0 * k / 32
            assert exact["saved_bytes_per_step"] - r["saved_bytes_per_step"] == elements * (4.0 - k / 8)


def test_derivative_errors_are_the_tables_and_fall_with_bits(tiny):
    for member, variants in tiny["members"].items():
        errors = []
        for k in fewbit.CONFIGS["tiny"]["bits"]:
            table = relukit.fewbit_table(member, bits=k)
            errors.append(variants[f"{k}bit"]["relative_derivative_rms_error"])
            assert errors[-1] == pytest.approx(table.rms_error / table.derivative_rms, rel=1e-12)
        assert errors == sorted(errors, reverse=True)


def test_gradient_cosine_against_torchs_own_gelu():
    """The exact gradient is torch's nn.GELU's; the k-bit one is left in .grad for the step."""
    dataset = data.digits()
    x, y = (t[:32] for t in _common.tensors(*dataset.flat("train"), "cpu"))
    torch.manual_seed(0)
    model = _common.mlp(dataset.num_features, 16, 2, dataset.num_classes, "gelu")
    stock = copy.deepcopy(model)
    for index, module in enumerate(stock):
        if not isinstance(module, nn.Linear):
            stock[index] = nn.GELU()
    nn.functional.cross_entropy(stock(x), y).backward()
    exact = torch.cat([p.grad.double().flatten() for p in stock.parameters()])
    cosine = fewbit.gradient_cosine(model, x, y, 2)
    approximate = torch.cat([p.grad.double().flatten() for p in model.parameters()])
    assert not torch.equal(exact, approximate)
    assert cosine == pytest.approx(float(exact @ approximate / (exact.norm() * approximate.norm())), abs=1e-6)
    assert all(m.bits == 2 for m in model if hasattr(m, "bits"))


def test_quick_and_full_cover_the_issue():
    for scale in ("quick", "full"):
        config = fewbit.CONFIGS[scale]
        assert config["members"] == ["gelu", "silu", "mish"] and config["bits"] == [1, 2, 3, 4]
        assert config["seeds"] >= 3

"""GradientFlowMonitor against gradients computed separately with torch.autograd.grad."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relukit.diagnostics import GradientFlowMonitor
from relukit.diagnostics.reports import verdict


def _deep(act, depth=20, width=32, he=False, seed=0):
    torch.manual_seed(seed)
    layers = []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        if he:
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        layers += [linear, act()]
    return nn.Sequential(*layers, nn.Linear(width, 1)).double()


def _loss(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 32, dtype=torch.float64, generator=g)
    y = torch.randn(64, 1, dtype=torch.float64, generator=g)
    return nn.functional.mse_loss(model(x), y)


def _reference_norms(model, seed=1):
    names = [n for n, m in model.named_modules() if list(m.parameters(recurse=False))]
    grads = torch.autograd.grad(_loss(model, seed), [m.weight for m in model if isinstance(m, nn.Linear)])
    biases = torch.autograd.grad(_loss(model, seed), [m.bias for m in model if isinstance(m, nn.Linear)])
    return names, [math.sqrt(float(w.square().sum() + b.square().sum())) for w, b in zip(grads, biases)]


def test_deep_sigmoid_net_vanishes_and_norms_match_a_separate_autograd_pass():
    model = _deep(nn.Sigmoid)
    names, expected = _reference_norms(model)
    with GradientFlowMonitor(model) as flow:
        _loss(model).backward()
    report = flow.report()
    assert [layer["name"] for layer in report.layers] == names
    assert [layer["norm"] for layer in report.layers] == pytest.approx(expected, rel=1e-12)
    assert report.first_to_last_ratio == pytest.approx(expected[0] / expected[-1], rel=1e-12)
    assert report.first_to_last_ratio < 1e-3 and report.verdict == "vanishing"
    weight = report.layers[0]["parameters"][0]
    assert weight["name"] == "0.weight"
    assert weight["max_abs"] == pytest.approx(float(model[0].weight.grad.abs().max()), rel=1e-15)


def test_he_initialized_relu_net_is_ok():
    model = _deep(nn.ReLU, he=True)
    names, expected = _reference_norms(model)
    with GradientFlowMonitor(model) as flow:
        _loss(model).backward()
    result = flow.report().to_dict()
    assert result["verdict"] == "ok" and 1e-3 <= result["first_to_last_ratio"] <= 1e3
    assert [layer["norm"] for layer in result["layers"]] == pytest.approx(expected, rel=1e-12)
    assert result["nonfinite"] == [] and result["step"] == 0
    assert set(result) == {"step", "first_to_last_ratio", "verdict", "nonfinite", "layers", "history"}


def test_history_every_and_accumulated_gradients():
    model = _deep(nn.Tanh, depth=3)
    with GradientFlowMonitor(model, every=2) as flow:
        for _ in range(5):
            model.zero_grad()
            _loss(model).backward()
        _loss(model).backward()  # accumulates: the 6th backward (index 5) is not recorded with every=2
    steps = flow.report().history
    assert [s.step for s in steps] == [0, 2, 4] and flow.backward_count == 6
    history = flow.report().to_dict()["history"]
    assert history[0]["norms"] == pytest.approx(history[2]["norms"], rel=1e-12)
    with flow:
        _loss(model).backward()  # third accumulation of the same gradient
    latest = flow.report().latest
    assert latest.step == 6
    assert latest.layers[0]["norm"] == pytest.approx(3 * steps[0].layers[0]["norm"], rel=1e-12)


def test_nonfinite_gradients_are_named():
    model = _deep(nn.ReLU, depth=2, he=True)
    model[2].weight.register_hook(lambda g: g * math.nan)
    with GradientFlowMonitor(model) as flow:
        _loss(model).backward()
    latest = flow.report().latest
    assert latest.nonfinite == ["2.weight"] and latest.verdict == "non-finite"


def test_frozen_and_gradient_free_parameters_are_left_out_and_detach_stops_recording():
    model = _deep(nn.ReLU, depth=3, he=True)
    model[0].requires_grad_(False)
    flow = GradientFlowMonitor(model)
    with flow:
        _loss(model).backward()
    assert [layer["name"] for layer in flow.report().layers] == ["2", "4", "6"]
    _loss(model).backward()
    assert len(flow.report().history) == 1
    flow.reset()
    assert flow.report().to_dict()["verdict"] is None and flow.report().history == []


@pytest.mark.parametrize(
    "first, last, finite, expected",
    [
        (1.0, 1.0, True, "ok"),
        (1e-4, 1.0, True, "vanishing"),
        (1e-3, 1.0, True, "ok"),
        (1e4, 1.0, True, "exploding"),
        (0.0, 0.0, True, "vanishing"),
        (1.0, 0.0, True, "exploding"),
        (1.0, 1.0, False, "non-finite"),
    ],
)
def test_verdict_thresholds(first, last, finite, expected):
    assert verdict(first, last, finite)[1] == expected


def test_argument_errors():
    with pytest.raises(TypeError, match="GradientFlowMonitor: model must be an nn.Module, got str"):
        GradientFlowMonitor("model")
    with pytest.raises(ValueError, match="GradientFlowMonitor: every must be >= 1, got 0"):
        GradientFlowMonitor(nn.Linear(2, 2), every=0)
    with pytest.raises(TypeError, match="GradientFlowMonitor: every must be an int"):
        GradientFlowMonitor(nn.Linear(2, 2), every=1.5)


def test_a_backward_that_raises_does_not_stop_later_records():
    model = _deep(nn.ReLU, depth=2, he=True)
    fail = [True]

    def hook(grad):
        if fail[0]:
            raise RuntimeError("boom")
        return grad

    model[0].weight.register_hook(hook)  # the first layer's gradient comes last, after others accumulated
    with GradientFlowMonitor(model) as flow:
        with pytest.raises(RuntimeError, match="boom"):
            _loss(model).backward()
        fail[0] = False
        model.zero_grad()
        _loss(model).backward()
    assert [s.step for s in flow.report().history] == [0]
    assert [layer["name"] for layer in flow.report().layers] == ["0", "2", "4"]

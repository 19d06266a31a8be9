"""The public API used as the README uses it, with the types a checker should infer.

tests/test_stubs.py type-checks this file with mypy (strict, tests/typing/mypy.ini) against the stubs,
and runs it, so that every ``assert_type`` (static) is matched by an ``isinstance`` (runtime).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import assert_type

import relukit
import relukit.array as ra
import relukit.functional as rf
import relukit.nn as rnn
from relukit.diagnostics import DeadUnitMonitor, GradientFlowMonitor, SavedTensorMeter, scan


def arrays() -> None:
    """relukit.array: a Python number gives a float, an array an array of its own type."""
    assert_type(ra.relu(2.5), float)
    assert isinstance(ra.relu(2.5), float)
    assert_type(ra.leaky_relu(-1.0, negative_slope=0.2), float)
    assert ra.leaky_relu(-1.0, negative_slope=0.2) == -0.2
    values: npt.NDArray[np.float64] = np.array([-1.0, 0.0, 2.0])
    assert_type(ra.leaky_relu_derivative(values), npt.NDArray[np.float64])
    assert isinstance(ra.leaky_relu_derivative(values), np.ndarray)
    assert_type(ra.mish(np.float32(1e4)), np.float32)
    assert isinstance(ra.mish(np.float32(1e4)), np.float32)
    tensor = torch.linspace(-2, 2, 5)
    assert_type(ra.hardtanh(tensor, min_val=-1.0, max_val=1.0), torch.Tensor)
    assert isinstance(ra.hardtanh(tensor, min_val=-1.0, max_val=1.0), torch.Tensor)
    assert_type(ra.threshold(3.0, 1.0, 0.0), float)
    assert_type(ra.rectify(values, negative_slope=0.5, max_value=None, threshold=5.0), npt.NDArray[np.float64])
    assert_type(ra.prelu(values[None, :], np.array([0.25])), npt.NDArray[np.float64])


def tensors() -> None:
    """relukit.functional: torch's names and defaults, tensors in and out."""
    x = torch.randn(8, 16, requires_grad=True)
    y = rf.leaky_relu(x * 2, 0.1, inplace=True)
    assert_type(y, torch.Tensor)
    y.sum().backward()
    assert_type(rf.gelu(x, approximate="tanh"), torch.Tensor)
    assert_type(rf.threshold(x, 0.5, 0.0), torch.Tensor)
    assert_type(rf.rrelu(x, lower=0.1, upper=0.3, training=False), torch.Tensor)
    assert_type(rf.prelu(x, torch.full((16,), 0.25)), torch.Tensor)
    assert_type(rf.bias_act(x, torch.zeros(16), "leaky_relu", negative_slope=0.2), torch.Tensor)
    assert isinstance(rf.softplus(x, beta=2.0, threshold=10.0), torch.Tensor)


def modules() -> None:
    """relukit.nn classes are torch's, with torch's constructor signatures."""
    act = rnn.LeakyReLU(0.1, inplace=True)
    assert_type(act, rnn.LeakyReLU)
    assert isinstance(act, torch.nn.LeakyReLU)
    assert_type(act.forward(torch.ones(2)), torch.Tensor)
    assert_type(rnn.Rectify(negative_slope=0.5, max_value=6.0, threshold=1.0), rnn.Rectify)
    assert_type(rnn.Hardtanh(min_val=-2.0, max_val=2.0), rnn.Hardtanh)
    assert_type(rnn.KAF(16, D=20, boundary=4.0, init="elu", conv=False), rnn.KAF)
    assert_type(rnn.activation_name(act), str | None)
    assert rnn.activation_name(act) == "leaky_relu"


def registry_and_diagnostics() -> None:
    """The registry functions on ``relukit`` itself, and the monitors."""
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    assert_type(relukit.lean(model), torch.nn.Module)
    relukit.convert(model, "mish", include=["1"])
    assert_type(relukit.get_activation("leaky", negative_slope=0.1), torch.nn.Module)
    assert_type(relukit.available_activations(), list[str])
    groups = relukit.param_groups(model, weight_decay=1e-4)
    assert_type(groups, list[dict[str, Any]])
    assert groups[1]["weight_decay"] == 0.0
    with SavedTensorMeter() as meter:
        model(torch.randn(4, 16)).sum()
    assert isinstance(meter.saved_bytes, int)
    report = scan(model, [torch.randn(4, 16)], progress=False)
    assert report.to_dict()["layers"]
    with GradientFlowMonitor(model) as flow:
        model(torch.randn(4, 16)).sum().backward()
    assert flow.report().verdict in ("vanishing", "exploding", "ok", "non-finite")
    with DeadUnitMonitor(model, tau=0.1) as monitor:
        model(torch.randn(4, 16))
    assert monitor.report().layers


def main() -> None:
    arrays()
    tensors()
    modules()
    registry_and_diagnostics()

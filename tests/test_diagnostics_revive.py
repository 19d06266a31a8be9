"""revive: dead units come back, every other weight stays bit-identical."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import relukit.functional as RF
from relukit.diagnostics import revive, scan


def _snapshot(model):
    return {name: value.clone() for name, value in model.state_dict().items()}


def test_revive_linear_units_then_rescan_finds_none_dead_and_live_rows_are_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3))
    planted = {"1": [2, 9, 40, 63], "3": [5]}
    with torch.no_grad():
        model[0].bias[planted["1"]] = -1e6
        model[2].bias[planted["3"]] = -1e6
    data = [torch.randn(128, 256) for _ in range(3)]
    report = scan(model, data, progress=False)
    assert {s.name: list(s.dead_units) for s in report.layers} == planted
    before = _snapshot(model)
    result = revive(model, report, generator=torch.Generator().manual_seed(1))
    assert result == {"revived": planted, "skipped": {}}
    after = model.state_dict()
    rows = {"0": planted["1"], "2": planted["3"]}
    for key, value in before.items():
        layer = key.split(".")[0]
        live = [u for u in range(value.shape[0]) if u not in rows.get(layer, [])]
        assert torch.equal(after[key][live], value[live]), key
    assert torch.equal(model[0].bias[planted["1"]], torch.full((4,), 0.01))
    fresh = model[0].weight[planted["1"]].detach()
    assert float(fresh.std()) == pytest.approx(math.sqrt(2 / 256), rel=0.1)  # He normal, 1024 samples
    rescan = scan(model, data, progress=False)
    assert all(s.dead == 0 for s in rescan.layers)


def test_revive_conv_with_batchnorm_and_a_report_dict():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, bias=False)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return RF.relu(self.bn(self.conv(x)))

    torch.manual_seed(2)
    model = Net()
    with torch.no_grad():
        model.bn.bias[[1, 4]] = -1e6
        model.bn.running_mean.uniform_(-0.1, 0.1)
    data = [torch.randn(16, 3, 10, 10)]
    report = scan(model, data, progress=False).to_dict()
    assert report["layers"][0]["dead_units"] == [1, 4]
    assert (report["layers"][0]["producer"], report["layers"][0]["norm"]) == ("conv", "bn")
    before = _snapshot(model)
    revive(model, report)
    assert scan(model, data, progress=False).layers[0].dead == 0
    live = [0, 2, 3, 5, 6, 7]
    for key, value in before.items():
        if value.ndim:
            assert torch.equal(model.state_dict()[key][live], value[live]), key
    assert model.bn.running_mean[[1, 4]].tolist() == [0.0, 0.0] and model.bn.bias[1].item() == pytest.approx(0.01)


def test_layers_without_a_producer_are_skipped_and_errors():
    model = nn.Sequential(nn.ReLU())
    report = scan(model, [torch.full((4, 3), -1.0)], progress=False)
    assert revive(model, report) == {"revived": {}, "skipped": {"0": "no Linear/Conv layer feeding it was seen"}}
    with pytest.raises(ValueError, match="revive: how must be one of \\['reinit'\\], got 'zero'"):
        revive(model, report, how="zero")
    with pytest.raises(TypeError, match="revive: report must be a DeadUnitReport or its to_dict\\(\\), got list"):
        revive(model, [])
    with pytest.raises(ValueError, match="revive: bias must be a finite number > 0, got 0"):
        revive(model, report, bias=0)

"""DeadUnitMonitor and scan against per-unit statistics computed directly from the pre-activations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import relukit.functional as RF
import relukit.nn as rnn
from relukit.diagnostics import DeadUnitMonitor, scan


def _mlp(widths=(12, 32, 24), act=nn.ReLU, seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers).double()


def _reference(pre: torch.Tensor, axis: int):
    """Per-unit rate, alive flag and mean |a| of relu(pre), straight from the definition."""
    a = torch.relu(pre.detach()).movedim(axis, -1).reshape(-1, pre.shape[axis])
    return (a > 0).double().mean(0), (a > 0).any(0), a.abs().mean(0)


def test_planted_dead_units_are_exactly_reported_with_reference_rates():
    model = _mlp()
    with torch.no_grad():
        model[0].bias[[1, 5, 30]] = -1e6
        model[2].bias[[0, 23]] = -1e6
    x = torch.randn(400, 12, dtype=torch.float64)
    report = scan(model, [x[:150], x[150:]], progress=False)
    first, second = report.layers
    assert (first.name, first.kind, first.units) == ("1", "relu", 32)
    assert first.dead_units == (1, 5, 30) and first.dead == 3 and first.dead_fraction == 3 / 32
    _, alive_second, _ = _reference(model[2](torch.relu(model[0](x))), 1)
    natural = {u for u in range(24) if not alive_second[u]} - {0, 23}  # born dead at this seed: unit 22
    assert second.dead_units == tuple(sorted({0, 23} | natural))
    pre = model[0](x)
    rate, alive, mean_abs = _reference(pre, 1)
    np.testing.assert_allclose(first.unit_rate, rate.numpy(), rtol=0, atol=1e-15)
    assert [u for u in range(32) if not alive[u]] == [1, 5, 30]
    score = mean_abs / mean_abs.mean()
    np.testing.assert_allclose(first.unit_score, score.numpy(), rtol=1e-12)
    assert first.activation_rate == pytest.approx(float(rate.mean()), abs=1e-15)
    assert (first.unit_rate_min, first.unit_rate_max) == (0.0, float(rate.max()))
    assert first.samples_seen == 400 and first.batches == 2
    assert first.producer == "0" and second.producer == "2"
    dead = 3 + len(second.dead_units)
    assert report.totals["dead"] == dead and report.totals["units"] == 56
    assert report.totals["dead_fraction"] == pytest.approx(dead / 56)


def test_conv_units_are_channels_and_functional_calls_inside_forward_are_seen():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.block = nn.Sequential(nn.Conv2d(8, 6, 3), rnn.ReLU())
            self.head = nn.Linear(6, 5)

        def forward(self, x):
            x = RF.relu(self.conv(x))
            x = self.block(x)
            x = RF.leaky_relu(x, 0.1)  # a second functional call in the root's forward
            return RF.gelu(self.head(x.mean((2, 3))))

    torch.manual_seed(1)
    model = Net().double()
    with torch.no_grad():
        model.conv.bias[[2, 6]] = -1e6
    x = torch.randn(20, 3, 9, 9, dtype=torch.float64)
    report = scan(model, [x], progress=False)
    assert [(s.name, s.kind, s.units) for s in report.layers] == [
        ("relu#0", "relu", 8),
        ("block.1", "relu", 6),  # relukit.nn.ReLU goes through functional too: counted once
        ("leaky_relu#0", "leaky_relu", 6),
        ("gelu#0", "gelu", 5),
    ]
    conv = report.layers[0]
    assert conv.dead_units == (2, 6) and conv.producer == "conv"
    rate, _, _ = _reference(model.conv(x), 1)
    np.testing.assert_allclose(conv.unit_rate, rate.numpy(), atol=1e-15)
    assert all(s.samples_seen == 20 for s in report.layers)
    assert report.layers[3].dead is None and report.layers[3].batch_zero_fraction is None
    assert [s.producer for s in report.layers] == ["conv", "block.0", "block.0", "head"]


def test_fresh_relu_net_fires_on_about_half_its_inputs():
    # Glorot, Bordes & Bengio 2011: ~50% of rectifier units are zero at initialization
    # (torch's default init is symmetric). A unit's rate is Phi(b / |w|) ~ 0.5 in the first layer; deeper,
    # each unit has its own offset w . E[h], so the layer mean over 1024 units has std <= 0.5 / 32.
    model = _mlp(widths=(64, 1024, 1024, 1024), seed=3).float()
    report = scan(model, [torch.randn(2048, 64)], progress=False)
    assert abs(report.layers[0].activation_rate - 0.5) < 0.02
    for layer in report.layers:
        assert abs(layer.activation_rate - 0.5) < 0.06, layer


def test_one_pass_and_batches_give_the_same_report():
    model = _mlp(seed=4)
    with torch.no_grad():
        model[0].bias[3] = -3.0
    x = torch.randn(300, 12, dtype=torch.float64)
    whole = scan(model, [x], progress=False).to_dict(per_unit=True)
    split = scan(model, torch.split(x, 7), progress=False).to_dict(per_unit=True)
    for a, b in zip(whole["layers"], split["layers"]):
        for key in a:
            if key in ("batches", "batch_zero_fraction"):
                continue
            if isinstance(a[key], float):
                assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-15), key
            elif key == "unit_score":
                np.testing.assert_allclose(a[key], b[key], rtol=1e-12)
            else:
                assert a[key] == b[key], key
    assert split["layers"][0]["batches"] == math.ceil(300 / 7)


@pytest.mark.parametrize(
    "act, kind, dead_applies, dormant",
    [
        (nn.Mish, "mish", False, True),
        (rnn.GELU, "gelu", False, True),
        (nn.SiLU, "silu", False, True),
        (rnn.ELU, "elu", False, False),  # elu(-1e6) = -1: |a| is not small
        (nn.Tanh, "tanh", False, False),
        (nn.LeakyReLU, "leaky_relu", True, False),  # -1e4: stuck negative, far from dormant
        (rnn.PReLU, "prelu", True, False),
        (nn.ReLU6, "relu6", True, True),
    ],
)
def test_dead_applies_to_piecewise_linear_members_only(act, kind, dead_applies, dormant):
    model = _mlp(act=act, seed=5)
    with torch.no_grad():
        model[0].bias[4] = -1e6
    report = scan(model, [torch.randn(64, 12, dtype=torch.float64)], progress=False)
    layer = report.layers[0]
    assert layer.kind == kind
    if dead_applies:
        assert layer.dead_units == (4,) and layer.dead == 1
    else:
        assert layer.dead is None and layer.dead_fraction is None and layer.dead_units is None
    assert (4 in layer.dormant_units) == dormant
    assert layer.unit_rate[4] == 0.0


def test_dormant_units_follow_the_redo_score():
    # Sokar et al. 2023: s_u = mean|a_u| / mean_v mean|a_v| <= tau
    model = _mlp(seed=6)
    with torch.no_grad():
        model[0].weight[7] *= 1e-3
        model[0].bias[7] = 0.0
    x = torch.randn(500, 12, dtype=torch.float64)
    layer = scan(model, [x], progress=False, tau=0.1).layers[0]
    _, _, mean_abs = _reference(model[0](x), 1)
    expected = [u for u in range(32) if mean_abs[u] / mean_abs.mean() <= 0.1]
    assert 7 in expected and layer.dormant_units == tuple(expected)
    assert layer.dead == 0  # small but alive
    loose = scan(model, [x], progress=False, tau=0.9).layers[0]
    assert loose.dormant_units == tuple(u for u in range(32) if mean_abs[u] / mean_abs.mean() <= 0.9)


def test_batch_zero_fraction_is_the_mean_over_batches():
    model = nn.Sequential(nn.Linear(1, 2), nn.ReLU()).double()
    with torch.no_grad():
        model[0].weight[:] = torch.tensor([[1.0], [1.0]])
        model[0].bias[:] = torch.tensor([0.0, -10.0])
    batches = [torch.full((4, 1), -1.0), torch.full((4, 1), 2.0), torch.full((4, 1), 20.0)]
    layer = scan(model, [b.double() for b in batches], progress=False).layers[0]
    # unit 0: zero in batch 1 only; unit 1: zero in batches 1 and 2 -> 3 of 6 (unit, batch) pairs
    assert layer.batch_zero_fraction == pytest.approx(3 / 6)
    assert layer.dead == 0
    assert layer.unit_rate == (2 / 3, 1 / 3)


def test_unit_axis_override_and_errors():
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU()).double()
    x = torch.randn(3, 4, 5, dtype=torch.float64)  # (batch, tokens, features)
    assert scan(model, [x], progress=False).layers[0].units == 4  # dim 1 by default
    assert scan(model, [x], progress=False, unit_axis=-1).layers[0].units == 7
    assert scan(model, [x], progress=False, unit_axis={"1": 2}).layers[0].units == 7
    with pytest.raises(ValueError, match="DeadUnitMonitor: unit_axis 5 is out of range for layer '1'"):
        scan(model, [x], progress=False, unit_axis=5)
    with pytest.raises(TypeError, match="DeadUnitMonitor: unit_axis must be an int"):
        DeadUnitMonitor(model, unit_axis="last")
    with pytest.raises(ValueError, match="DeadUnitMonitor: layer '1' had 4 units and now has 6"):
        scan(model, [x, torch.randn(3, 6, 5, dtype=torch.float64)], progress=False)


def test_argument_errors():
    model = _mlp()
    with pytest.raises(TypeError, match="DeadUnitMonitor: model must be an nn.Module, got int"):
        DeadUnitMonitor(3)
    with pytest.raises(ValueError, match="DeadUnitMonitor: tau must be a finite number >= 0, got -1"):
        DeadUnitMonitor(model, tau=-1)
    with pytest.raises(TypeError, match="DeadUnitMonitor: modules must be names"):
        DeadUnitMonitor(model, modules=[3])
    with pytest.raises(TypeError, match="scan: each batch must be a tensor or a tuple/list"):
        scan(model, [{"x": torch.zeros(1, 12)}], progress=False)
    with pytest.raises(ValueError, match="scan: max_batches must be >= 0, got -2"):
        scan(model, [], max_batches=-2)


def test_modules_selects_layers_by_pattern_class_or_instance():
    model = _mlp(widths=(4, 6, 5, 3), seed=7)
    x = torch.randn(10, 4, dtype=torch.float64)
    assert [s.name for s in scan(model, [x], progress=False, modules="3").layers] == ["3"]
    assert [s.name for s in scan(model, [x], progress=False, modules=[model[5]]).layers] == ["5"]
    assert len(scan(model, [x], progress=False, modules=[nn.ReLU]).layers) == 3
    assert scan(model, [x], progress=False, modules=[nn.GELU]).layers == []


def test_scan_restores_modes_runs_without_grad_and_stops_at_max_batches():
    model = _mlp(seed=8).train()
    model[0].eval()
    seen = []
    model.register_forward_hook(lambda m, a, out: seen.append((m.training, torch.is_grad_enabled())))
    data = [(torch.randn(4, 12, dtype=torch.float64), torch.zeros(4)) for _ in range(5)]
    report = scan(model, data, max_batches=3, progress=True)
    assert seen == [(False, False)] * 3
    assert report.totals["samples_seen"] == 12 and report.totals["batches"] == 3
    assert model.training and not model[0].training and model[1].training


def test_training_with_the_monitor_leaves_gradients_bit_identical():
    def step(monitored):
        model = _mlp(act=lambda: rnn.ReLU(inplace=True), seed=9)
        x = torch.randn(32, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        monitor = DeadUnitMonitor(model)
        with monitor if monitored else torch.enable_grad():
            model(x).square().sum().backward()
        return [p.grad for p in model.parameters()], monitor

    plain, _ = step(False)
    watched, monitor = step(True)
    assert all(torch.equal(a, b) for a, b in zip(plain, watched))
    assert monitor.report().totals["samples_seen"] == 32


def test_accumulates_until_reset_and_detach_stops_counting():
    model = _mlp(seed=10)
    x = torch.randn(8, 12, dtype=torch.float64)
    monitor = DeadUnitMonitor(model)
    with monitor:
        model(x)
        assert torch._C._len_torch_function_stack() == 0  # its mode is entered for the forward only
        model(x)
    assert not model._forward_pre_hooks and not model._forward_hooks and not model[1]._forward_hooks
    model(x)  # not observed
    assert monitor.report().layers[0].samples_seen == 16
    monitor.reset()
    assert monitor.report().layers == [] and monitor.report().totals["dead"] is None
    with monitor:
        model(x)
    assert monitor.report().layers[0].samples_seen == 8


def test_functional_calls_outside_the_model_are_ignored():
    model = _mlp(seed=11)
    with DeadUnitMonitor(model) as monitor:
        RF.relu(torch.randn(5, 3))
        model(torch.randn(2, 12, dtype=torch.float64))
    assert [s.name for s in monitor.report().layers] == ["1", "3"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kind, act", [("relu", nn.ReLU()), ("leaky_relu", nn.LeakyReLU(0.1))])
def test_large_outputs_with_nan_match_the_mask_reference(dtype, kind, act):
    # > 2**18 elements: the CPU path reduces in slices; NaN elements count as not positive, like `a > 0`
    model = nn.Sequential(nn.Identity(), act)
    x = torch.randn(33, 5, 70, 41).to(dtype)
    x[3, 2, 10, :7] = math.nan
    x[:, 4] = -1.0  # channel 4 never fires
    with DeadUnitMonitor(model) as monitor:
        model(x[:20])
        model(x[20:])
    layer = monitor.report().layers[0]
    y = act(x).double()
    rate = (y > 0).double().mean((0, 2, 3))
    assert (layer.kind, layer.dead_units) == (kind, (4,))
    assert layer.unit_rate == tuple(rate.tolist())
    clean = [0, 1, 3, 4]  # unit 2 holds the NaN: its score is NaN and it is left out of the layer mean
    mean_abs = y.abs().mean((0, 2, 3))[clean]
    np.testing.assert_allclose(np.asarray(layer.unit_score)[clean], mean_abs / mean_abs.mean(), rtol=1e-4)
    assert math.isnan(layer.unit_score[2]) and 2 not in layer.dormant_units


def test_one_dimensional_outputs_and_unit_axis_zero():
    model = nn.Sequential(nn.Identity(), nn.ReLU())
    with DeadUnitMonitor(model) as monitor:
        model(torch.empty(0, 3))  # an empty batch adds nothing
        model(torch.tensor([1.0, -1.0, 2.0]))
    layer = monitor.report().layers[0]
    assert (layer.units, layer.dead_units, layer.samples_seen) == (3, (1,), 1)
    x = torch.randn(4, 6)
    x[2] = -1
    layer = scan(model, [x], progress=False, unit_axis=0).layers[0]
    assert (layer.units, layer.dead_units) == (4, (2,))


def test_a_shared_activation_module_gives_one_layer_per_call():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.act = nn.Linear(3, 8), nn.Linear(8, 5), nn.ReLU()

        def forward(self, x):
            return self.act(self.fc2(self.act(self.fc1(x))))

    torch.manual_seed(12)
    model = Net()
    with torch.no_grad():
        model.fc2.bias[1] = -1e6
    x = torch.randn(200, 3)
    report = scan(model, [x[:100], x[100:]], progress=False)
    assert [(s.name, s.units, s.producer, s.samples_seen) for s in report.layers] == [
        ("act", 8, "fc1", 200),
        ("act#1", 5, "fc2", 200),
    ]
    _, alive, _ = _reference(model.fc2(torch.relu(model.fc1(x))), 1)
    assert report.layer("act#1").dead_units == tuple(u for u in range(5) if not alive[u]) and not alive[1]

"""relukit.nn modules are torch's modules with a lean forward; the registry swaps them in any model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import relukit
import relukit.nn as rnn
from relukit import catalog

TORCH_CONSTRUCTIONS = [
    ("ReLU", (), {}),
    ("ReLU", (), {"inplace": True}),
    ("ReLU6", (), {}),
    ("Hardtanh", (-0.5, 2.0), {}),
    ("Threshold", (0.1, 20.0), {"inplace": True}),
    ("LeakyReLU", (0.2,), {}),
    ("PReLU", (), {"num_parameters": 3, "init": 0.1}),
    ("RReLU", (0.1, 0.3), {}),
    ("ELU", (0.5,), {}),
    ("CELU", (2.0,), {}),
    ("SELU", (), {}),
    ("GELU", ("tanh",), {}),
    ("SiLU", (), {}),
    ("Mish", (), {}),
    ("Softplus", (2.0, 10.0), {}),
]


@pytest.mark.parametrize(("cls", "args", "kwargs"), TORCH_CONSTRUCTIONS)
def test_modules_match_torch(cls, args, kwargs):
    torch.manual_seed(0)
    ours, stock = getattr(rnn, cls)(*args, **kwargs), getattr(nn, cls)(*args, **kwargs)
    assert repr(ours) == repr(stock) and ours.extra_repr() == stock.extra_repr()
    assert list(ours.state_dict()) == list(stock.state_dict())
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(stock, mode)()
        x = (torch.randn(4, 3, 5) * 3).requires_grad_()
        grad = torch.randn(4, 3, 5)
        torch.manual_seed(1)
        y_ours = ours(x * 1.0)
        (g_ours,) = torch.autograd.grad(y_ours, x, grad)
        torch.manual_seed(1)
        y_stock = stock(x * 1.0)
        (g_stock,) = torch.autograd.grad(y_stock, x, grad)
        assert torch.equal(y_ours, y_stock) and torch.equal(g_ours, g_stock), mode


def test_every_member_has_a_module():
    for entry in catalog.MEMBERS:
        module = getattr(rnn, entry.module)
        assert module.activation_name == entry.name


def test_rectify_module():
    m = rnn.Rectify(0.5, None, 5.0)
    assert repr(m) == "Rectify(negative_slope=0.5, max_value=None, threshold=5.0)"
    y = m(torch.tensor([-10.0, 4.9, 5.1]))
    torch.testing.assert_close(y, torch.tensor([-7.5, -0.05, 5.1]))
    with pytest.raises(ValueError, match="Rectify: max_value must be >= 0, got -1"):
        rnn.Rectify(max_value=-1)


def test_constructor_validation_names_the_class():
    with pytest.raises(ValueError, match="LeakyReLU: negative_slope must be finite, got nan"):
        rnn.LeakyReLU(math.nan)
    with pytest.raises(ValueError, match="CELU: alpha must be non-zero"):
        rnn.CELU(0.0)


def test_attributes_set_after_construction_are_checked():
    module = rnn.LeakyReLU()
    module.negative_slope = "a"
    with pytest.raises(TypeError, match="LeakyReLU: negative_slope must be a real number, got 'a'"):
        module(torch.ones(3, requires_grad=True))
    module = rnn.Softplus()
    module.beta = -1.0
    with pytest.raises(ValueError, match="Softplus: beta must be > 0, got -1.0"):
        module(torch.ones(3))


def test_get_activation_names_and_aliases():
    assert type(relukit.get_activation("ReLU")) is rnn.ReLU
    assert type(relukit.get_activation("swish")) is rnn.SiLU
    leaky = relukit.get_activation("leaky", negative_slope=0.3)
    assert type(leaky) is rnn.LeakyReLU and leaky.negative_slope == 0.3
    assert {"relu", "relu6", "swish", "leaky", "mish", "rectify"} <= set(relukit.available_activations())
    with pytest.raises(ValueError, match="get_activation: unknown activation 'tanhh'; available: .*mish"):
        relukit.get_activation("tanhh")


def small_net(act=nn.ReLU):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        act(),
        nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 8), act()),
        nn.Linear(8, 2),
    )


def test_lean_gives_identical_outputs_and_gradients():
    torch.manual_seed(0)
    stock = small_net(lambda: nn.LeakyReLU(0.1))
    ours = relukit.lean(small_net(lambda: nn.LeakyReLU(0.1)))
    ours.load_state_dict(stock.state_dict())
    assert type(ours[1]) is rnn.LeakyReLU and ours[1].negative_slope == 0.1 and type(ours[2][2]) is rnn.LeakyReLU
    x = torch.randn(5, 1, 8, 8)
    y1, y2 = stock(x), ours(x)
    y1.sum().backward()
    y2.sum().backward()
    assert torch.equal(y1, y2)
    for p1, p2 in zip(stock.parameters(), ours.parameters(), strict=True):
        assert torch.equal(p1.grad, p2.grad)


def test_convert_by_name_class_and_factory_with_filters():
    net = small_net().eval().double()
    relukit.convert(net, "prelu", include=["2.*"])
    assert type(net[1]) is nn.ReLU and type(net[2][2]) is rnn.PReLU
    assert net[2][2].weight.dtype == torch.float64 and not net[2][2].training
    relukit.convert(net, rnn.Mish, exclude=[rnn.PReLU])
    assert type(net[1]) is rnn.Mish and type(net[2][2]) is rnn.PReLU
    relukit.convert(net, lambda old: nn.Tanh() if isinstance(old, rnn.Mish) else old)
    assert type(net[1]) is nn.Tanh
    with pytest.raises(TypeError, match="convert: to must be a name"):
        relukit.convert(net, 3)
    with pytest.raises(ValueError, match="convert: unknown activation 'nope'"):
        relukit.convert(net, "nope")


def test_convert_carries_parameters_of_the_same_member():
    old = nn.PReLU(3, init=0.7)
    new = relukit.convert(old, "prelu")
    assert type(new) is rnn.PReLU and torch.equal(new.weight, old.weight)
    leaky = relukit.convert(nn.LeakyReLU(0.3, inplace=True), "leaky_relu")
    assert leaky.negative_slope == 0.3 and leaky.inplace


def test_param_groups_exclude_prelu_slopes():
    net = nn.Sequential(nn.Linear(3, 3), rnn.PReLU(3), nn.Linear(3, 3), nn.PReLU())
    decay, no_decay = relukit.param_groups(net, weight_decay=0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in no_decay["params"]} == {id(net[1].weight), id(net[3].weight)}
    assert len(decay["params"]) == 4
    torch.optim.AdamW([decay, no_decay])
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"param_groups: weight_decay must be a finite number >= 0, got {bad}"):
            relukit.param_groups(net, bad)
    for bad in ("0.1", True, None):
        with pytest.raises(TypeError, match="param_groups: weight_decay must be a number"):
            relukit.param_groups(net, bad)
    with pytest.raises(TypeError, match="param_groups: model must be an nn.Module, got str"):
        relukit.param_groups("net", 0.1)


def test_convert_to_kaf_infers_units_from_the_layer_before():
    net = nn.Sequential(nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(216, 10), nn.ReLU())
    relukit.convert(net, "kaf")
    assert type(net[2]) is rnn.KAF and net[2].alpha.shape == (6, 20) and net[2].conv
    assert type(net[5]) is rnn.KAF and net[5].alpha.shape == (10, 20) and not net[5].conv
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="cannot infer num_parameters for 'kaf': there is no layer before it"):
        relukit.convert(nn.Sequential(nn.ReLU()), "kaf")
    assert {"kaf", "kaf2d"} <= set(relukit.available_activations())
    assert rnn.activation_name(net[2]) == "kaf"

"""relukit.functional.bias_act on CPU (plain torch ops): torch's act(x + b), values and both gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import relukit.functional as rf


@pytest.mark.parametrize(
    ("shape", "dim", "name", "params", "torch_act"),
    [
        ((16, 33), -1, "relu", {}, F.relu),
        ((4, 6, 5), 1, "leaky_relu", {"negative_slope": 0.2}, lambda t: F.leaky_relu(t, 0.2)),
        ((2, 3, 4, 5), 1, "hardtanh", {"min_val": -0.5, "max_val": 0.5}, lambda t: F.hardtanh(t, -0.5, 0.5)),
        ((7, 9), 0, "gelu", {"approximate": "tanh"}, lambda t: F.gelu(t, approximate="tanh")),
    ],
)
def test_bias_act_is_torch_act_of_the_sum(shape, dim, name, params, torch_act):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 2
    bias = torch.randn(shape[dim], generator=torch.Generator().manual_seed(1))
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    view = [1] * len(shape)
    view[dim] = -1
    ours_x, ours_b = x.clone().requires_grad_(), bias.clone().requires_grad_()
    ref_x, ref_b = x.clone().requires_grad_(), bias.clone().requires_grad_()
    y = rf.bias_act(ours_x, ours_b, name, dim=dim, **params)
    y_ref = torch_act(ref_x + ref_b.view(view))
    y.backward(grad)
    y_ref.backward(grad)
    assert torch.equal(y, y_ref)
    assert torch.equal(ours_x.grad, ref_x.grad) and torch.equal(ours_b.grad, ref_b.grad)


def test_bias_act_without_grad_and_errors():
    x, bias = torch.tensor([[-1.0, 2.0], [3.0, -4.0]]), torch.tensor([0.5, -3.0])
    assert rf.bias_act(x, bias).tolist() == [[0.0, 0.0], [3.5, 0.0]]
    assert rf.bias_act(x, bias, "relu", dim=0).tolist() == [[0.0, 2.5], [0.0, 0.0]]
    with pytest.raises(ValueError, match=r"bias_act: bias must be 1-D with input.shape\[-1\] = 2 entries"):
        rf.bias_act(x, torch.ones(3))
    with pytest.raises(ValueError, match=r"bias_act: dim must be an int in \[-2, 1\], got 2"):
        rf.bias_act(x, bias, dim=2)
    with pytest.raises(TypeError, match=r"bias_act: bias must match input \(torch.float32 on cpu\), got torch.float64"):
        rf.bias_act(x, bias.double())
    with pytest.raises(TypeError, match="bias_act: dim must be an int, got 1.0"):
        rf.bias_act(x, bias, dim=1.0)
    with pytest.raises(ValueError, match="bias_act: unknown activation 'nope'"):
        rf.bias_act(x, bias, "nope")
    with pytest.raises(TypeError, match="bias_act: unexpected argument"):
        rf.bias_act(x, bias, "relu", negative_slope=0.1)

"""The pure-PyTorch few-bit backward: torch's forward, grad * levels[code] backward, k-bit saved codes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from relukit._ops.fewbit_autograd import fewbit_activation
from relukit.fewbit import fewbit_table

CASES = [
    ("elu", {}, F.elu),
    ("celu", {"alpha": 0.5}, lambda x: F.celu(x, alpha=0.5)),
    ("selu", {}, F.selu),
    ("gelu", {}, F.gelu),
    ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    ("silu", {}, F.silu),
    ("mish", {}, F.mish),
    ("softplus", {"beta": 2.0}, lambda x: F.softplus(x, beta=2.0)),
]


@pytest.mark.parametrize(("member", "params", "torch_op"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_torchs_and_backward_is_grad_times_table(member, params, torch_op, dtype):
    x = torch.randn(3, 1001, generator=torch.Generator().manual_seed(0), dtype=dtype)
    x[0, :4] = torch.tensor([0.0, -0.0, math.inf, -math.inf])
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    for bits in (1, 2, 3, 4):
        leaf = x.clone().requires_grad_()
        y = fewbit_activation(leaf, member, bits, **params)
        torch.testing.assert_close(y, torch_op(x), rtol=0, atol=0, equal_nan=True)  # torch's NaN at -inf too
        y.backward(grad)
        expected = grad * fewbit_table(member, bits, **params).derivative(x)
        torch.testing.assert_close(leaf.grad, expected, rtol=0, atol=0)


@pytest.mark.parametrize("member", ["gelu", "silu", "mish", "elu"])
def test_gradient_cosine_matches_the_tables_error(member):
    # With g independent of x and s the conditional mean of f': E[f' s] = E[s^2], so the cosine between
    # g s and g f' is sqrt(1 - rms_error^2 / E[f'^2]).
    x = torch.randn(1_000_000, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    table = fewbit_table(member, 3)
    approx, exact = x.clone().requires_grad_(), x.clone().requires_grad_()
    fewbit_activation(approx, member, 3).backward(grad)
    getattr(F, member)(exact).backward(grad)
    cosine = F.cosine_similarity(approx.grad, exact.grad, dim=0).item()
    assert cosine == pytest.approx(math.sqrt(1 - (table.rms_error / table.derivative_rms) ** 2), abs=2e-4)
    assert cosine > 0.99


@pytest.mark.parametrize(("bits", "saved_bytes"), [(1, 1000 // 8), (2, 1000 // 4), (3, 1000), (4, 1000)])
def test_saved_bytes(bits, saved_bytes):
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel() * tensor.element_size())
        return tensor

    x = torch.randn(1000, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fewbit_activation(x, "gelu", bits).sum().backward()
    assert sizes == [saved_bytes]

"""In-place lean ops under autograd: gradients bit-identical to torch's out-of-place op, signed zeros
included (the overwrite belongs to relukit's own autograd node; see relukit._ops.piecewise.lean_forward)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import relukit.functional as rf

MEMBERS = {
    "relu": ({}, lambda x: F.relu(x)),
    "relu6": ({}, lambda x: F.relu6(x)),
    "hardtanh": ({"min_val": -0.5, "max_val": 0.5}, lambda x: F.hardtanh(x, -0.5, 0.5)),
    "threshold": ({"threshold": 0.1, "value": -2.0}, lambda x: F.threshold(x, 0.1, -2.0)),
    "leaky_relu": ({"negative_slope": 0.1}, lambda x: F.leaky_relu(x, 0.1)),
    "rrelu": ({}, lambda x: F.rrelu(x, training=False)),
}
LAYOUTS = {
    "contiguous": lambda t: t,
    "transposed": lambda t: t.t(),
    "channels_last": lambda t: t.reshape(2, 4, 3, 5).contiguous(memory_format=torch.channels_last),
    "strided": lambda t: t[:, ::2],
}


def bits(t):
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", MEMBERS)
def test_inplace_gradient_is_torchs_bit_for_bit(name, dtype, layout):
    params, torch_op = MEMBERS[name]
    generator = torch.Generator().manual_seed(0)
    leaf = torch.randn(12, 10, generator=generator).to(dtype).requires_grad_(True)
    leaf.data[0, :4] = torch.tensor([0.0, -0.0, 0.5, -0.5])
    signs = torch.where(torch.rand(leaf.shape, generator=generator) < 0.5, -1.0, 1.0).to(dtype)
    zeros = signs * 0.0  # -0.0 and +0.0 gradients: where torch's is -0.0, relukit's must be too
    grad = torch.where(torch.rand(leaf.shape, generator=generator) < 0.5, zeros, torch.randn(leaf.shape).to(dtype))

    def run(function):
        leaf.grad = None
        x = LAYOUTS[layout](leaf * 1.0)
        y = function(x)
        y.backward(LAYOUTS[layout](grad))
        return y.detach(), leaf.grad

    y_ref, grad_ref = run(torch_op)
    y, got = run(lambda x: getattr(rf, name)(x, **params, inplace=True))
    assert torch.equal(bits(y.contiguous()), bits(y_ref.contiguous()))
    assert torch.equal(bits(got), bits(grad_ref))


def test_the_reported_case():
    leaf = torch.tensor([-2.0, -0.5, 0.7, 3.0], requires_grad=True)
    rf.relu(leaf * 1.0, inplace=True).backward(torch.tensor([-1.0, -0.0, -0.0, -0.0]))
    assert torch.equal(torch.signbit(leaf.grad), torch.tensor([False, False, True, True]))

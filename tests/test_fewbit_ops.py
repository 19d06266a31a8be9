"""bits=k on relukit.functional / relukit.nn / relukit.lean: torch's forward, grad * levels[code] backward,
k/8 bytes saved per element."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import relukit
import relukit.functional as rf
import relukit.nn as rnn
from relukit._ops import packing
from relukit._ops.fewbit_autograd import fewbit_activation
from relukit.diagnostics import SavedTensorMeter
from relukit.fewbit import fewbit_table

CASES = [  # (member, params, module)
    ("elu", {"alpha": 0.5}, lambda **k: rnn.ELU(0.5, **k)),
    ("celu", {"alpha": 2.0}, lambda **k: rnn.CELU(2.0, **k)),
    ("selu", {}, rnn.SELU),
    ("gelu", {}, rnn.GELU),
    ("gelu", {"approximate": "tanh"}, lambda **k: rnn.GELU("tanh", **k)),
    ("silu", {}, rnn.SiLU),
    ("mish", {}, rnn.Mish),
    ("softplus", {"beta": 2.0, "threshold": 10.0}, lambda **k: rnn.Softplus(2.0, 10.0, **k)),
]


def _input(dtype: torch.dtype, n: int = 3001) -> torch.Tensor:
    x = torch.randn(n, generator=torch.Generator().manual_seed(n), dtype=torch.float64).mul(2).to(dtype)
    x[:5] = torch.tensor([0.0, -0.0, math.inf, -math.inf, math.nan])
    return x.reshape(-1, 1)


@pytest.mark.parametrize(("member", "params", "module"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_torchs_and_backward_is_the_reference(member, params, module, dtype):
    x = _input(dtype)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    stock = getattr(F, member)(x, **params)
    wide = (5, 8) if (member, params) == ("gelu", {}) else ()  # one member: tables beyond 4 bits take seconds
    for bits in (1, 2, 3, 4, *wide):
        table = fewbit_table(member, bits, **params)
        for fn in (lambda t: getattr(rf, member)(t, **params, bits=bits), module(bits=bits)):
            leaf = x.clone().requires_grad_()
            y = fn(leaf)
            torch.testing.assert_close(y, stock, rtol=0, atol=0, equal_nan=True)
            y.backward(grad)
            torch.testing.assert_close(leaf.grad, grad * table.derivative(x), rtol=0, atol=0, equal_nan=True)
        reference = x.clone().requires_grad_()
        fewbit_activation(reference, member, bits, **params).backward(grad)
        torch.testing.assert_close(leaf.grad, reference.grad, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("member", ["gelu", "silu", "elu"])
def test_bfloat16_forward_is_torchs_and_backward_uses_bf16_codes(member):
    x = _input(torch.bfloat16)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    for bits in (1, 2, 3, 4):
        table = fewbit_table(member, bits)
        leaf = x.clone().requires_grad_()
        y = getattr(rf, member)(leaf, bits=bits)
        torch.testing.assert_close(y, getattr(F, member)(x), rtol=0, atol=0, equal_nan=True)
        y.backward(grad)
        # the codes compare x with the boundaries rounded to bf16, as FewBitTable.codes does for bf16 x
        levels = torch.tensor(table.levels)[table.codes(x, None).long()]
        torch.testing.assert_close(leaf.grad, (grad.float() * levels).to(torch.bfloat16), equal_nan=True)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_saved_bytes_are_k_bits_per_element(bits, dtype):
    n = 8 * 1000 + 3  # a ragged tail: the last byte is partly padding
    x = torch.randn(n, dtype=dtype, requires_grad=True)
    with SavedTensorMeter() as exact:
        h = x * 1
        F.gelu(h)
    with SavedTensorMeter(ignore=[h]) as lean:
        rf.gelu(h, bits=bits)
    assert exact.saved_bytes == n * x.element_size()  # torch's GELU keeps its input (h, once)
    stored = bits if bits <= 4 else 8  # 5..7 bits: one byte per code
    assert lean.saved_bytes == math.ceil(n * stored / 8)
    assert dict(lean.by_dtype) == {"uint8": lean.saved_bytes}
    if bits <= 4:  # the target: k/32 of fp32 input, k/16 of bf16/fp16
        assert lean.saved_bytes == math.ceil(exact.saved_bytes * bits / (8 * x.element_size()))


def test_three_bit_layout_eight_codes_in_three_bytes():
    codes = torch.arange(8, dtype=torch.uint8)
    # word = sum_r r << 3r = 0xFAC688, little-endian
    assert packing.pack(codes, 3).tolist() == [0x88, 0xC6, 0xFA]
    for n in (1, 2, 3, 7, 9, 10, 1001):
        codes = torch.randint(0, 8, (n,), generator=torch.Generator().manual_seed(n), dtype=torch.uint8)
        packed = packing.pack(codes, 3)
        assert packed.numel() == packed.untyped_storage().nbytes() == math.ceil(3 * n / 8)
        assert torch.equal(packing.unpack(packed, 3, n), codes)
    for bits in (4, 8):
        codes = torch.randint(0, 1 << bits, (11,), generator=torch.Generator().manual_seed(bits), dtype=torch.uint8)
        per_byte = 8 // bits
        expected = [
            sum(int(codes[i]) << (bits * (i % per_byte)) for i in range(j, min(j + per_byte, 11)))
            for j in range(0, 11, per_byte)
        ]
        assert packing.pack(codes, bits).tolist() == expected
        assert torch.equal(packing.unpack(packing.pack(codes, bits), bits, 11), codes)


def test_default_and_unrecorded_calls_are_torchs_exactly():
    x = _input(torch.float32)
    for bits in (None, 3):
        with torch.no_grad():
            torch.testing.assert_close(rf.gelu(x, bits=bits), F.gelu(x), rtol=0, atol=0, equal_nan=True)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    rf.silu(ours).backward(torch.ones_like(x))
    F.silu(theirs).backward(torch.ones_like(x))
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=0, atol=0, equal_nan=True)


def test_inplace_with_bits_writes_the_input_and_uses_its_old_codes():
    x = _input(torch.float32)
    leaf = x.clone().requires_grad_()
    h = leaf * 1
    y = rf.elu(h, 1.0, True, bits=2)
    assert y is h
    torch.testing.assert_close(h, F.elu(x), rtol=0, atol=0, equal_nan=True)
    y.backward(torch.ones_like(x))
    torch.testing.assert_close(leaf.grad, fewbit_table("elu", 2).derivative(x), rtol=0, atol=0)


def test_double_backward_raises_instead_of_a_wrong_second_derivative():
    x = torch.randn(10, requires_grad=True)
    (grad,) = torch.autograd.grad(rf.gelu(x, bits=3).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with @once_differentiable"):
        grad.sum().backward()
    (grad,) = torch.autograd.grad(rf.silu(x, bits=3).sum(), x, create_graph=True)  # g = ones: no graph at all
    assert grad.grad_fn is None


def test_torch_func_and_compile_and_export_run_the_exact_op():
    x = torch.randn(100, generator=torch.Generator().manual_seed(3))
    for member in ("gelu", "mish"):
        ours = torch.func.grad(lambda t: getattr(rf, member)(t, bits=1).sum())(x)
        torch.testing.assert_close(ours, torch.func.grad(lambda t: getattr(F, member)(t).sum())(x), rtol=0, atol=0)
    compiled = torch.compile(lambda t: rf.silu(t, bits=2), backend="aot_eager", fullgraph=True)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    compiled(ours).sum().backward()
    F.silu(theirs).sum().backward()
    assert torch.equal(ours.grad, theirs.grad)
    exported = torch.export.export(rnn.GELU(bits=3), (torch.randn(4, 8),))
    targets = [node.target for node in exported.graph.nodes if node.op == "call_function"]
    assert targets == [torch.ops.aten.gelu.default]


def test_modules_show_bits_and_keep_torchs_signature():
    assert repr(rnn.GELU(bits=3)) == "GELU(approximate='none', bits=3)"
    assert repr(rnn.SiLU(bits=1)) == "SiLU(bits=1)"
    assert repr(rnn.ELU(0.5, True, bits=8)) == "ELU(alpha=0.5, inplace=True, bits=8)"
    assert repr(rnn.Softplus()) == repr(nn.Softplus())
    assert rnn.GELU().bits is None and isinstance(rnn.GELU(), nn.GELU)


class _Block(nn.Module):
    """A transformer-style MLP: Linear -> GELU (module) -> Linear -> SiLU (functional) -> Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.up, self.act, self.mid, self.down = nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 32), nn.Linear(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.mid(self.act(self.up(x)))))


def _run(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, torch.Tensor], torch.Tensor]:
    model.zero_grad()
    with SavedTensorMeter() as meter:
        y = model(x)
    y.sum().backward()
    return meter.saved_bytes, {k: p.grad.clone() for k, p in model.named_parameters()}, y.detach()


def test_lean_with_bits_shrinks_the_smooth_activations_saved_bytes():
    torch.manual_seed(0)
    model, x = _Block(), torch.randn(8, 16)
    exact_bytes, exact_grads, exact_y = _run(model, x)
    assert _run(relukit.lean(model), x)[0] == exact_bytes  # without bits: exact, nothing to save
    assert relukit.lean(model)._forward_pre_hooks and model.act.bits is None
    bytes_, grads, y = _run(relukit.lean(model, bits=3), x)
    assert torch.equal(y, exact_y) and model.act.bits == 3 and "bits=3" in repr(model.act)
    gelu_input, silu_input = 8 * 64 * 4, 8 * 32 * 4  # fp32 bytes torch keeps for the two activations
    assert bytes_ == exact_bytes - (gelu_input + silu_input) + (gelu_input + silu_input) * 3 // 32
    # gradients: those of the same model with explicit few-bit calls
    reference = _Block()
    reference.load_state_dict(model.state_dict())
    reference.forward = lambda t: reference.down(
        fewbit_activation(reference.mid(fewbit_activation(reference.up(t), "gelu", 3)), "silu", 3)
    )
    _, expected, _ = _run(reference, x)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-6, atol=1e-7)
        if name.startswith(("up.", "mid.")):  # behind an activation: its few-bit backward shows
            assert not torch.equal(grad, exact_grads[name])


def test_lean_mode_bits_reaches_torchs_functional_calls():
    x = torch.randn(50, requires_grad=True)
    with relukit.lean_mode(bits=2):
        y = F.gelu(x * 1, approximate="tanh")
        z = torch.relu(x * 1)
    y.sum().backward()
    assert torch.equal(x.grad, fewbit_table("gelu", 2, approximate="tanh").derivative(x.detach()))
    assert z.grad_fn is not None


@pytest.mark.parametrize("bits", [0, 9, -1, 2.0, True, "3"])
def test_bad_bits_name_the_function_and_the_value(bits):
    error = TypeError if isinstance(bits, (bool, float, str)) else ValueError
    x = torch.randn(4, requires_grad=True)
    calls = [
        ("gelu", lambda: rf.gelu(x, bits=bits)),
        ("GELU", lambda: rnn.GELU(bits=bits)),
        ("Mish", lambda: rnn.Mish(bits=bits)),
        ("lean", lambda: relukit.lean(nn.Sequential(nn.SiLU()), bits=bits)),
        ("LeanMode", lambda: relukit.lean_mode(bits=bits)),
    ]
    for name, call in calls:
        with pytest.raises(error, match=rf"^{name}: bits must be None or an int in 1\.\.8, got {bits!r}"):
            call()


def test_piecewise_members_take_no_bits():
    x = torch.randn(4)
    with pytest.raises(TypeError, match="relu: .*bits"):
        rf.relu(x, bits=3)
    with pytest.raises(TypeError):
        rnn.LeakyReLU(bits=3)

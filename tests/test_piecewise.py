"""relukit._ops.piecewise, the lean autograd: packed derivative codes, saved memory, double backward, opcheck,
torch.func."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tests.cases import CASES, case_id

import relukit
import relukit.functional as rf
from relukit import catalog
from relukit._ops import native, packing
from relukit.diagnostics import SavedTensorMeter

PIECEWISE = [c for c in CASES if catalog.BY_NAME[c[0]].piecewise_linear]


def call(name, x, params):
    if name == "prelu":
        return rf.prelu(x, torch.tensor([params["weight"]], dtype=x.dtype))
    return getattr(rf, name)(x, **params)


@pytest.mark.parametrize("numel", [1, 7, 8, 9, 63, 64, 1000, 4099])
@pytest.mark.parametrize("bits", [1, 2])
def test_pack_roundtrip(numel, bits):
    codes = torch.randint(0, 2 if bits == 1 else 3, (numel,), dtype=torch.uint8)
    packed = packing.pack(codes.bool() if bits == 1 else codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == packing.packed_size(numel, bits)
    assert torch.equal(packing.unpack(packed, bits, numel), codes)
    assert torch.equal(packing.unpack_proxy(packed, bits, numel, torch.float32), codes.float())
    if bits == 1:  # the torch-only path (used off-CPU) writes the same bytes as np.packbits
        assert torch.equal(packing._pack_bits_torch(codes.bool()), packed)


def test_pack_bit_order_is_little_endian():
    mask = torch.tensor([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], dtype=torch.bool)
    assert packing.pack(mask, 1).tolist() == [1, 2]
    assert packing.pack(torch.tensor([1, 2, 0, 3, 2], dtype=torch.uint8), 2).tolist() == [1 | 2 << 2 | 3 << 6, 2]


@pytest.mark.parametrize("case", PIECEWISE, ids=case_id)
def test_activation_saves_only_packed_codes(case):
    name, params = case
    x = torch.randn(64, 1000, requires_grad=True)
    hidden = x * 1.0  # a non-leaf input, as inside a network
    with SavedTensorMeter() as meter:
        call(name, hidden, params)
    entry = catalog.BY_NAME[name]
    bits = entry.code_bits(**entry.bind(name, params))
    assert meter.saved_bytes == packing.packed_size(hidden.numel(), bits)
    assert meter.saved_bytes <= hidden.numel() * hidden.element_size() * bits / 32 + 8


def test_mlp_with_leaky_relu_saves_at_least_40_percent_less():
    def mlp():
        torch.manual_seed(0)
        layers = []
        for _ in range(6):
            layers += [torch.nn.Linear(1024, 1024), torch.nn.LeakyReLU()]
        return torch.nn.Sequential(*layers)

    x = torch.randn(256, 1024)
    stock, ours = mlp(), relukit.lean(mlp())
    assert type(ours[1]) is relukit.nn.LeakyReLU
    with SavedTensorMeter(ignore=[x]) as torch_meter:
        y_torch = stock(x)
    with SavedTensorMeter(ignore=[x]) as ours_meter:
        y_ours = ours(x)
    assert torch.equal(y_torch, y_ours)
    saving = 1 - ours_meter.saved_bytes / torch_meter.saved_bytes
    assert saving >= 0.40, f"saved only {saving:.1%}"
    # torch: each Linear's input + each LeakyReLU's input; relukit: Linear inputs + 1-bit codes
    activation = 256 * 1024 * 4
    assert torch_meter.saved_bytes == 6 * activation + 5 * activation
    assert ours_meter.saved_bytes == 5 * activation + 6 * activation // 32


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "rrelu"], ids=case_id)
def test_smooth_members_save_no_more_than_torch(case):
    name, params = case
    x = torch.randn(32, 100, requires_grad=True)
    with SavedTensorMeter() as ours:
        call(name, x * 1.0, params)
    reference = {"prelu": lambda t: F.prelu(t, torch.tensor([0.25]))}.get(name, lambda t: getattr(F, name)(t, **params))
    if name == "rectify":
        reference = lambda t: F.relu(t)  # noqa: E731 (no torch op; relu is the cheapest torch analogue)
    with SavedTensorMeter() as stock:
        reference(x * 1.0)
    assert ours.saved_bytes <= stock.saved_bytes


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradgradcheck(case):
    name, params = case
    torch.manual_seed(1)
    x = (torch.randn(24, dtype=torch.float64) * 3).requires_grad_()
    fn = lambda t: call(name, t, params)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize(
    ("name", "params"), [("relu", []), ("leaky_relu", [0.1]), ("hardtanh", [-1.0, 1.0]), ("rectify", [0.1, 6.0, 0.5])]
)
def test_opcheck(name, params):
    x = torch.randn(3, 5, requires_grad=True)
    torch.library.opcheck(torch.ops.relukit.piecewise_forward.default, (x, name, params))
    packed = torch.ops.relukit.piecewise_forward(x, name, params)[1]
    slopes = [float(s) for s in catalog.BY_NAME[name].slopes(**piecewise_params(name, params))]
    torch.library.opcheck(torch.ops.relukit.piecewise_backward.default, (torch.randn(3, 5), packed, slopes, False))


def piecewise_params(name, values):
    entry = catalog.BY_NAME[name]
    return dict(zip([p.name for p in entry.params], values)) | (
        {"max_value": None} if name == "rectify" and len(values) < 2 else {}
    )


def test_torch_func_grad_and_vmap_work():
    x = torch.randn(4, 6)
    expected = (x > 0).float() + (x <= 0).float() * 0.1
    grad = torch.func.vmap(torch.func.grad(lambda t: rf.leaky_relu(t, 0.1).sum()))(x)
    assert torch.equal(grad, expected)
    assert torch.equal(torch.func.vmap(rf.relu)(x), F.relu(x))


def test_double_backward_values():
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    upstream = torch.tensor([3.0, 5.0], requires_grad=True)
    (g,) = torch.autograd.grad(rf.leaky_relu(x * 1.0, 0.3), x, upstream, create_graph=True)
    assert g.tolist() == pytest.approx([0.9, 5.0])
    # grad_input is linear in the upstream gradient (d/d upstream = slopes) and constant in x: the
    # second derivative of a piecewise-linear function is 0, so g carries no graph back to x.
    (d_upstream,) = torch.autograd.grad(g.sum(), upstream)
    assert d_upstream.tolist() == pytest.approx([0.3, 1.0])


def test_channels_last_and_noncontiguous_inputs():
    x = torch.randn(2, 3, 5, 4).to(memory_format=torch.channels_last).requires_grad_()
    grad = torch.randn(2, 3, 5, 4)
    y = rf.leaky_relu(x, 0.2)
    (ours,) = torch.autograd.grad(y, x, grad)
    (ref,) = torch.autograd.grad(F.leaky_relu(x, 0.2), x, grad)
    assert torch.equal(ours, ref)
    y = rf.relu6(x.transpose(1, 3) * 4)
    (ours,) = torch.autograd.grad(y, x, grad.transpose(1, 3))
    (ref,) = torch.autograd.grad(F.relu6(x.transpose(1, 3) * 4), x, grad.transpose(1, 3))
    assert torch.equal(ours, ref)


def test_eager_calls_skip_the_custom_op_and_compiled_calls_trace_it():
    """Eager: a plain autograd.Function over the same implementation (no custom-op dispatch per call);
    torch.compile(fullgraph=True): the custom op, an opaque node. Both give torch's values and gradients."""
    x = torch.randn(64, requires_grad=True)
    fn = lambda t: rf.leaky_relu(t * 1.0, negative_slope=0.1) + rf.hardtanh(t, -0.5, max_val=2.0)  # noqa: E731
    eager = fn(x)
    native_op = native.available()  # the C++ autograd function, else the Python one
    assert type(rf.relu(x).grad_fn).__name__ == ("CppFunction" if native_op else "_LeanBackward")
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm.code)
        return gm.forward

    compiled = torch.compile(fn, backend=backend, fullgraph=True)(x)
    assert "relukit.piecewise_forward" in graphs[0]
    assert torch.equal(compiled, eager)
    reference = F.leaky_relu(x * 1.0, 0.1) + F.hardtanh(x, -0.5, 2.0)
    assert torch.equal(eager, reference)
    (g_eager,) = torch.autograd.grad(eager.sum(), x)
    (g_compiled,) = torch.autograd.grad(compiled.sum(), x)
    (g_reference,) = torch.autograd.grad(reference.sum(), x)
    assert torch.equal(g_eager, g_reference) and torch.equal(g_compiled, g_reference)


def test_traced_calls_record_the_custom_op():
    from torch.fx.experimental.proxy_tensor import make_fx

    x = torch.randn(8, requires_grad=True)
    graph = make_fx(lambda t: rf.relu(t * 1.0))(x)
    assert "relukit.piecewise_forward" in graph.code


def test_eager_route_is_for_plain_tensors_outside_tracers_and_transforms():
    from torch.fx.experimental.proxy_tensor import make_fx

    from relukit._ops.piecewise import eager

    x = torch.ones(3)
    assert eager(x) and not eager(torch.nn.Parameter(x))
    seen = []
    torch.func.vmap(lambda t: seen.append(eager(t)) or t)(torch.ones(2, 3))
    torch.func.grad(lambda t: seen.append(eager(t)) or t.sum())(x)
    make_fx(lambda t: seen.append(eager(t)) or t * 2)(x)
    assert seen == [False, False, False]


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "hardtanh"])
def test_large_outputs_allocated_by_relukit_stay_bit_identical(name):
    # >= 32 MiB: forward and backward write into relukit-allocated (huge-page advised) outputs
    torch.manual_seed(0)
    x = (torch.randn(2**23 + 5) * 3).requires_grad_()
    grad = torch.randn(2**23 + 5)
    ours = getattr(rf, name)(x)
    (g_ours,) = torch.autograd.grad(ours, x, grad)
    stock = getattr(F, name)(x)
    (g_stock,) = torch.autograd.grad(stock, x, grad)
    assert torch.equal(ours, stock) and torch.equal(g_ours, g_stock)

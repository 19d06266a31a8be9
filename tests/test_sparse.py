"""Sparse storage of saved ReLU-family outputs (relukit.sparse) and relukit.lean's plan (relukit.leanplan):
gradients bit-identical to stock torch, never more bytes saved than stock, torch's in-place error kept."""

from __future__ import annotations

import copy
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import relukit
from relukit.diagnostics import SavedTensorMeter
from relukit.sparse import SparseStorage


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8), nn.ReLU6(inplace=True),
        nn.Conv2d(8, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * 5 * 5, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 4), nn.LeakyReLU(0.1),
    )  # fmt: skip


def step(model: nn.Module, x: torch.Tensor, seed: int = 1) -> tuple[list[torch.Tensor], int]:
    """One forward (dropout seeded) and backward: the parameters' gradients and the bytes saved."""
    for parameter in model.parameters():
        parameter.grad = None
    torch.manual_seed(seed)
    with SavedTensorMeter(ignore=[x]) as meter:
        loss = model(x).square().sum()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()], meter.saved_bytes


def assert_identical(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for s, t in zip(a, b):
        assert torch.equal(s.view(torch.int32), t.view(torch.int32))  # bit for bit, signed zeros too


def test_packed_tensor_is_rebuilt_bit_for_bit_with_signed_zeros_and_specials():
    x = torch.tensor([0.0, -0.0, 1.5, 0.0, float("nan"), float("inf"), 0.0, 0.0, 0.0, 0.0] * 7, requires_grad=True)
    storage = SparseStorage()
    with storage:
        y = F.threshold(x, 1.0, 0.0)  # keeps 1.5, nan, inf; zeros elsewhere (signed zeros of x are gone)
        z = (y * torch.arange(70.0)).relu()  # relu saves its output: -0.0 * k stays, and NaN
        w = z.exp()
    assert storage.tally.sparse_tensors >= 1
    (w.nan_to_num().sum()).backward()
    expected_x = x.detach().clone().requires_grad_()
    y = F.threshold(expected_x, 1.0, 0.0)
    (((y * torch.arange(70.0)).relu()).exp().nan_to_num().sum()).backward()
    assert_identical([x.grad], [expected_x.grad])


def test_small_cnn_gradients_identical_and_fewer_bytes_than_stock():
    stock, ours = small_cnn(), relukit.lean(small_cnn(), sparse=True)
    x = torch.randn(4, 3, 16, 16)
    grads_stock, bytes_stock = step(stock, x)
    for _ in range(2):  # the traced forward, then the planned one
        grads_ours, bytes_ours = step(ours, x)
        assert_identical(grads_ours, grads_stock)
    stock_again, _ = step(stock, x)
    assert bytes_ours < 0.8 * bytes_stock
    report = relukit.lean_report(ours)
    patterns = report["patterns"]
    assert report["traced"]
    assert patterns["act -> saver (stock + sparse)"]["modules"] == ["2", "5", "7"]
    assert patterns["act alone (1-bit codes)"]["modules"] == ["11", "14"]
    assert patterns["bn -> act"]["modules"] == ["2", "5"]
    assert type(ours[2]) is nn.ReLU and type(ours[5]) is nn.ReLU6  # torch's: their output is shared
    assert type(ours[11]) is relukit.nn.ReLU and type(ours[14]) is relukit.nn.LeakyReLU
    again = relukit.lean(ours, sparse=True)  # idempotent: the plan stands
    assert type(again[2]) is nn.ReLU and type(again[11]) is relukit.nn.ReLU
    grads_again, bytes_again = step(again, x)
    assert_identical(grads_again, grads_stock)
    assert bytes_again == bytes_ours


def test_dense_when_the_output_has_few_zeros_and_never_more_bytes_than_stock():
    torch.manual_seed(0)
    # A shifted input: almost no zeros after the ReLU, so sparse storage would cost more than the tensor.
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 8))
    with torch.no_grad():
        model[0].bias.fill_(100.0)
    x = torch.randn(32, 64)
    ours = relukit.lean(copy.deepcopy(model), sparse=True, example_inputs=(x,))
    grads_stock, bytes_stock = step(model, x)
    grads_ours, bytes_ours = step(ours, x)
    assert_identical(grads_ours, grads_stock)
    assert bytes_ours == bytes_stock  # stock ReLU, its output saved whole (shared with the Linear)
    storage = SparseStorage()
    with storage:
        model(x).sum()
    assert storage.tally.sparse_tensors == 0 and storage.tally.dense_tensors == 1


def test_inplace_change_after_saving_raises_torchs_error():
    for lean in (False, True):
        x = torch.randn(64, requires_grad=True)
        weight = torch.randn(64, 64, requires_grad=True)
        with SparseStorage():
            y = x.relu() if not lean else relukit.functional.relu(x)
            z = weight @ y  # saves y
        y.mul_(2.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


def test_example_inputs_leave_batchnorm_statistics_and_the_random_state_alone():
    model = small_cnn()
    x = torch.randn(4, 3, 16, 16)
    before = {name: b.clone() for name, b in model.named_buffers()}
    state = torch.random.get_rng_state()
    relukit.lean(model, sparse=True, example_inputs=(x,))
    assert relukit.lean_report(model)["traced"]
    assert all(torch.equal(b, before[name]) for name, b in model.named_buffers())
    assert torch.equal(torch.random.get_rng_state(), state)


def test_modules_the_trace_does_not_reach_stay_stock():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(8, 8)
            self.used, self.unused = nn.LeakyReLU(0.2), nn.ReLU()

        def forward(self, x):
            return self.used(self.linear(x))

    model = relukit.lean(Branchy(), sparse=True, example_inputs=(torch.randn(2, 8),))
    patterns = relukit.lean_report(model)["patterns"]
    assert patterns["unanalysed (stock)"]["modules"] == ["unused"] and type(model.unused) is nn.ReLU
    assert patterns["act alone (1-bit codes)"]["modules"] == ["used"]


def test_bad_arguments_name_the_function():
    with pytest.raises(ValueError, match="lean: report=True needs example_inputs"):
        relukit.lean(small_cnn(), sparse=True, report=True)
    with pytest.raises(TypeError, match="lean: example_inputs must be a tuple"):
        relukit.lean(small_cnn(), sparse=True, example_inputs=torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="lean_report: model was not made lean"):
        relukit.lean_report(nn.Linear(2, 2))


def test_resnet18_gradients_identical_and_lighter(vision_model):
    torch.manual_seed(0)
    stock = vision_model("resnet18")
    ours = relukit.lean(copy.deepcopy(stock), sparse=True)
    x = torch.randn(2, 3, 64, 64)
    grads_stock, bytes_stock = step(stock, x)
    step(ours, x)  # the traced forward
    grads_ours, bytes_ours = step(ours, x)
    assert_identical(grads_ours, grads_stock)
    assert bytes_ours < 0.85 * bytes_stock


def test_the_saved_output_itself_is_freed_once_packed():
    torch.manual_seed(0)
    conv1, conv2 = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3)
    x = torch.randn(2, 3, 16, 16)
    storage = SparseStorage()
    with storage:
        y = torch.relu(conv1(x))
        z = conv2(y)  # the relu and the convolution save y: one packed copy, shared
    original = weakref.ref(y)
    del y
    assert original() is None  # only the mask and the non-zeros are left
    assert storage.tally.sparse_tensors == 1
    z.sum().backward()


def test_retain_graph_second_backward_rebuilds_the_same_values():
    torch.manual_seed(0)
    x = torch.randn(16, 32, requires_grad=True)
    weight = torch.randn(32, 32, requires_grad=True)
    storage = SparseStorage()
    with storage:
        loss = (x.relu() @ weight).square().sum()
    assert storage.tally.sparse_tensors == 1
    first = torch.autograd.grad(loss, (x, weight), retain_graph=True)
    second = torch.autograd.grad(loss, (x, weight))
    expected = torch.autograd.grad((x.relu() @ weight).square().sum(), (x, weight))
    assert_identical(list(first), list(expected))
    assert_identical(list(second), list(expected))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("numel", [1, 63, 64, 65, 16384 * 3 + 5])
def test_native_mask_and_values_are_numpys_packbits_and_boolean_index(dtype, numel):
    from relukit._ops import native

    if not native.available():
        pytest.skip("native extension not built (RELUKIT_NATIVE=0 or no compiler)")
    import numpy as np

    from relukit import sparse

    t = torch.relu(torch.randn(numel, generator=torch.Generator().manual_seed(numel))).to(dtype)
    t[: min(3, numel)] = torch.tensor([-0.0, float("nan"), float("-inf")][: min(3, numel)], dtype=dtype)
    bits = t.view(sparse._BITS[t.element_size()])
    mask, values, nnz = torch.ops.relukit_native.sparse_pack(bits, numel)
    keep = bits.numpy() != 0  # the reference: NumPy's bit-pattern test, packbits and boolean indexing
    assert np.array_equal(mask.numpy(), np.packbits(keep, bitorder="little"))
    assert np.array_equal(values.numpy(), bits.numpy()[keep]) and nnz == keep.sum()
    assert torch.equal(torch.ops.relukit_native.sparse_unpack(mask, values, numel), bits)
    with pytest.raises(RuntimeError, match="sparse_unpack"):
        torch.ops.relukit_native.sparse_unpack(mask, values[:-1], numel)
    # above max_nnz nothing is compacted: the caller keeps the tensor dense
    _, kept, counted = torch.ops.relukit_native.sparse_pack(bits, nnz - 1)
    assert kept.numel() == 0 and counted == nnz


def test_compact_and_expand_round_trip_and_name_bad_input():
    from relukit.sparse import compact, expand

    t = torch.relu(torch.randn(1000))
    t[3], t[5] = -0.0, float("nan")
    mask, values = compact(t)
    assert values.numel() == int((t.view(torch.int32) != 0).sum())
    rebuilt = expand(mask, values, t)
    assert torch.equal(rebuilt.view(torch.int32), t.view(torch.int32))
    assert compact(torch.randn(1000)) is None  # dense: not smaller
    with pytest.raises(TypeError, match="compact: t must be a contiguous CPU tensor, got a non-contiguous"):
        compact(torch.randn(10, 10).t())
    with pytest.raises(TypeError, match="compact: t must be a contiguous CPU tensor, got list"):
        compact([1.0])
    with pytest.raises(TypeError, match="compact: t must have 1, 2, 4 or 8-byte elements, got torch.complex128"):
        compact(torch.zeros(4, dtype=torch.complex128))
    with pytest.raises(TypeError, match="expand: like must be a tensor with values' element size"):
        expand(mask, values, torch.zeros(1000, dtype=torch.float64))


def test_derived_tensor_is_recomputed_for_its_saves_and_views():
    from relukit import sparse

    torch.manual_seed(3)
    z = torch.randn(4, 6, requires_grad=True)
    linear = nn.Linear(6, 3)

    def forward(declare: bool, change_first: bool = False) -> tuple[list[torch.Tensor], SparseStorage]:
        z.grad, linear.weight.grad = None, None
        storage = SparseStorage()
        with storage:
            y = (z * 2).clamp(min=0)  # clamp saves its input, not y
            if declare:  # the test keeps the source alive (relukit.nn.BatchNormAct: saved by its node)
                source = (z * 2).detach()
                sparse.derive(y, source, lambda t: t.clamp(min=0))
            if change_first:
                y.mul_(1.0)  # a new version before the save: the declaration no longer holds
            out = linear(y.view(2, 12).view(4, 6))  # a whole view of y is saved
        out.square().sum().backward()
        return [z.grad, linear.weight.grad], storage

    reference, _ = forward(False)
    derived, storage = forward(True)
    assert all(torch.equal(a, b) for a, b in zip(reference, derived))
    assert storage.tally.derived_tensors == 1
    changed, storage = forward(True, change_first=True)
    assert all(torch.equal(a, b) for a, b in zip(reference, changed))
    assert storage.tally.derived_tensors == 0


def test_storing_is_true_only_with_sparse_storage_innermost():
    from relukit import sparse

    assert not sparse.storing()
    with SparseStorage():
        assert sparse.storing()
        with SavedTensorMeter():
            assert not sparse.storing()
    assert not sparse.storing()


def test_derive_names_bad_arguments():
    from relukit import sparse

    t = torch.zeros(3)
    with pytest.raises(TypeError, match="derive: t must be a tensor, got list"):
        sparse.derive([0.0], t, torch.relu)
    with pytest.raises(TypeError, match="derive: source must be a tensor, got float"):
        sparse.derive(t, 1.0, torch.relu)
    with pytest.raises(TypeError, match="derive: function must be callable, got str"):
        sparse.derive(t, t, "relu")

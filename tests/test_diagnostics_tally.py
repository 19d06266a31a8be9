"""DeadUnitMonitor's per-unit sums: the native one-pass kernel and the torch path against the definition."""

import math

import pytest
import torch

from relukit._ops import native
from relukit.diagnostics import tally

SHAPES = [
    ((7, 5, 3, 9), 1),  # channels of a conv output
    ((40, 6, 700), 1),  # long rows: the kernel's lane loop and its tail
    ((4, 3, 2, 11), 3),  # the last dim as units (rows of 1)
    ((9, 5), 1),  # a 2-D output's features
    ((9, 5), 0),
    ((13,), 0),
]


def _reference(ys: list[torch.Tensor], axis: int):
    """Per-unit count of a > 0, sum |a| (float64) and the number of (unit, batch) pairs with no a > 0."""
    positive = abs_sum = 0
    dead = 0
    for y in ys:
        a = y.double().unsqueeze(0) if y.ndim == 1 else y.double()
        a = a.movedim(axis + (y.ndim == 1), -1).reshape(-1, a.shape[axis + (y.ndim == 1)])
        count = (a > 0).sum(0).double()
        positive, abs_sum = positive + count, abs_sum + a.abs().sum(0)
        dead += int((count == 0).sum())
    return positive, abs_sum, dead


def _tally(ys: list[torch.Tensor], axis: int, kind: str, use_native: bool, monkeypatch) -> tally.Tally:
    if not use_native:
        monkeypatch.setattr(tally, "_native_kernel", lambda y: None)
    units = ys[0].shape[axis]
    result = tally.Tally("layer", kind, units, ys[0].device)
    for y in ys:
        result.add(y, axis, {})
    monkeypatch.undo()
    return result


@pytest.mark.parametrize("use_native", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("kind", ["relu", "leaky_relu"])
@pytest.mark.parametrize("shape, axis", SHAPES)
def test_sums_match_the_definition(shape, axis, kind, dtype, use_native, monkeypatch):
    if use_native and not native.available():
        pytest.skip("native kernels not built (RELUKIT_NATIVE=0?)")
    torch.manual_seed(len(shape) + axis)
    x = torch.randn(shape, dtype=torch.float64)
    y = torch.relu(x) if kind == "relu" else torch.nn.functional.leaky_relu(x, 0.1)
    y = y.to(dtype)
    y.select(axis, 1).fill_(0.0 if kind == "relu" else -1.0)  # unit 1 never fires
    ys = [y, torch.zeros_like(y) if kind == "relu" else -y.abs()]  # the second batch fires nowhere
    got = _tally(ys, axis, kind, use_native, monkeypatch)
    positive, abs_sum, dead = _reference(ys, axis)
    assert torch.equal(got.positive, positive)  # counts are exact on both paths
    assert float(got.batch_dead) == dead
    rtol = 1e-12 if dtype == torch.float64 or use_native else 1e-5  # the torch path sums fp32 slices
    torch.testing.assert_close(got.abs_sum, abs_sum, rtol=rtol, atol=0)
    per_unit = y.numel() // y.shape[axis]
    assert (got.elements, got.batches) == (2 * per_unit, 2)


@pytest.mark.skipif(not native.available(), reason="native kernels not built (RELUKIT_NATIVE=0?)")
def test_native_kernel_nan_negative_zero_and_layout():
    y = torch.randn(6, 4, 5, 5, dtype=torch.float32).relu().contiguous(memory_format=torch.channels_last)
    y[2, 3, 1, 1] = math.nan  # not positive; its unit's sum is NaN
    y[0, 0, 0, 0] = -0.0  # not positive
    got = tally.Tally("layer", "relu", 4, y.device)
    got.add(y, 1, {})
    positive, abs_sum, dead = _reference([y], 1)
    assert torch.equal(got.positive, positive) and float(got.batch_dead) == dead
    assert math.isnan(got.abs_sum[3]) and not got.abs_sum[:3].isnan().any()
    torch.testing.assert_close(got.abs_sum[:3], abs_sum[:3], rtol=1e-12, atol=0)


@pytest.mark.skipif(not native.available(), reason="native kernels not built (RELUKIT_NATIVE=0?)")
def test_native_kernel_results_do_not_depend_on_threads():
    y = torch.randn(16, 300, 33).relu()
    results = []
    for threads in (1, 2):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            got = tally.Tally("layer", "relu", 300, y.device)
            got.add(y, 1, {})
        finally:
            torch.set_num_threads(before)
        results.append((got.positive, got.abs_sum, got.batch_dead))
    for a, b in zip(*results):
        assert torch.equal(a, b)

"""The catalog's ``kernel_forward`` (what the fused kernels are generated from) is torch's eager forward
bit for bit, signed zeros and infinities included: checked here on CPU without triton."""

from __future__ import annotations

import pytest
import torch
from tests.cases import CASES, SPECIALS, case_id

from relukit import catalog
from relukit._ops import piecewise

PIECEWISE = [c for c in CASES if catalog.BY_NAME[c[0]].piecewise_linear and c[0] != "rectify"]  # rectify: no op
VALUES = SPECIALS + [-2.5, -0.3, 0.3, 0.49, -0.49, 4.9, 5.9, 6.1, -1.1, 1.1, 2.0, -2.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", PIECEWISE, ids=case_id)
def test_kernel_forward_is_torchs_forward(case, dtype):
    name, params = case
    entry = catalog.BY_NAME[name]
    bound = entry.bind(name, params)
    x = torch.tensor(VALUES * 3, dtype=dtype)  # long enough for torch's vectorized loop and its tail
    ours = entry.kernel_forward(x, piecewise.xp_torch, **bound)
    ref = piecewise.stock_forward(entry, x, bound)
    nan = torch.isnan(ref)
    assert torch.equal(torch.isnan(ours), nan)
    view = torch.int16 if x.element_size() == 2 else torch.int32
    assert torch.equal(ours[~nan].view(view), ref[~nan].view(view))


def test_reference_forward_differs_where_torch_formula_is_needed():
    """Why the catalog has ``torch_formula``: its reference forward maps -0.0 to +0.0 in relu and gives 0
    for leaky_relu(-inf) with slope 0, where torch gives -0.0 and NaN."""
    x = torch.tensor([-0.0, -float("inf")])
    relu, leaky = catalog.BY_NAME["relu"], catalog.BY_NAME["leaky_relu"]
    assert torch.signbit(relu.forward(x, piecewise.xp_torch))[0].item() is False
    assert torch.signbit(relu.kernel_forward(x, piecewise.xp_torch))[0].item() is True
    assert leaky.forward(x, piecewise.xp_torch, negative_slope=0.0)[1].item() == 0.0
    assert torch.isnan(leaky.kernel_forward(x, piecewise.xp_torch, negative_slope=0.0)[1])

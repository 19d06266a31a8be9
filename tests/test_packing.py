"""The packed-code format on CPU: NumPy's chunked packing and unpacking agree with the torch reference."""

from __future__ import annotations

import array_api_compat.numpy as xp_numpy
import pytest
import torch

from relukit import catalog
from relukit._ops import packing, piecewise

CASES = [("relu", {}), ("hardtanh", {}), ("rectify", {"negative_slope": 0.1, "max_value": 1.0})]


@pytest.mark.parametrize("n", [1, 7, 8, 9, packing.CHUNK, packing.CHUNK + 5, 2 * packing.CHUNK + 3])
@pytest.mark.parametrize(("name", "params"), CASES)
def test_chunked_numpy_packing_equals_torch_packing(name, params, n):
    entry = catalog.BY_NAME[name]
    bound = entry.bind(name, params)
    bits = entry.code_bits(**bound)
    x = torch.randn(n, generator=torch.Generator().manual_seed(n)) * 2
    x[::5] = torch.tensor([float("nan"), -0.0, 0.0, 1.0, -1.0] * (len(x[::5]) // 5 + 1))[: len(x[::5])]
    codes = entry.codes(x, piecewise.xp_torch, **bound)
    ours = packing.pack_numpy(lambda chunk: entry.codes(chunk, xp_numpy, **bound), x.numpy(), bits)
    assert torch.equal(ours, packing.pack(codes, bits))
    assert torch.equal(packing.unpack(ours, bits, n), codes.to(torch.uint8).reshape(-1))
    proxy = packing.unpack_proxy(ours, bits, n, torch.float32)
    assert torch.equal(proxy, codes.to(torch.float32).reshape(-1))

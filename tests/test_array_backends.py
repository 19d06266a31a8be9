"""relukit.array on array-API arrays other than NumPy: computed in their own namespace."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
import torch
from tests.cases import CASES, case_id

import relukit.array as ra

VALUES = [-1e4, -3.0, -1.0, -0.0, 0.0, 0.25, 1.0, 5.5, 7.0, 1e4, float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_array_api_strict(case, dtype):
    name, params = case
    x = xps.asarray(VALUES, dtype=getattr(xps, dtype))
    expected = getattr(ra, name)(np.asarray(VALUES, dtype=dtype), **params)
    expected_d = getattr(ra, f"{name}_derivative")(np.asarray(VALUES, dtype=dtype), **params)
    for got, want in (
        (getattr(ra, name)(x, **params), expected),
        (getattr(ra, f"{name}_derivative")(x, **params), expected_d),
    ):
        assert isinstance(got, type(x)) and got.dtype == x.dtype
        np.testing.assert_allclose(np.from_dlpack(got), want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_torch_tensors(case, dtype):
    name, params = case
    x = torch.tensor(VALUES, dtype=dtype)
    got = getattr(ra, name)(x, **params)
    got_d = getattr(ra, f"{name}_derivative")(x, **params)
    assert isinstance(got, torch.Tensor) and got.dtype == dtype and got_d.dtype == dtype
    x64 = x.double().numpy()
    want = getattr(ra, name)(x64, **params)
    want_d = getattr(ra, f"{name}_derivative")(x64, **params)
    tol = {torch.float32: 1e-6, torch.float64: 1e-12, torch.bfloat16: 2**-7, torch.float16: 2**-10}[dtype]
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(
            got.double().numpy(),
            want.astype(np.float32 if tol > 1e-7 else np.float64) if dtype != torch.float64 else want,
            rtol=tol,
            atol=1e-7,
            equal_nan=True,
        )
    np.testing.assert_allclose(got_d.double().numpy(), want_d, rtol=tol, atol=1e-7, equal_nan=True)


def test_torch_integer_tensors_keep_dtype():
    x = torch.tensor([-2, 0, 3, 8], dtype=torch.int16)
    assert ra.relu(x).dtype == torch.int16 and ra.relu6(x).tolist() == [0, 0, 3, 6]
    assert ra.elu(x).dtype == torch.get_default_dtype()


def test_torch_bool_raises():
    with pytest.raises(TypeError, match="mish: x has unsupported dtype torch.bool"):
        ra.mish(torch.tensor([True]))

"""rectify against Keras 3's own ``keras.activations.relu`` over a grid of its parameters.

Keras' NumPy backend imports jax (keras/src/backend/numpy/math.py), so the reference runs on Keras' torch
backend: the same ``ReLU.static_call`` algorithm, without TensorFlow or JAX. Values must be equal at every
non-NaN point; derivatives (Keras through torch autograd) everywhere except exactly at the kinks
(x = threshold, 0, max_value), whose conventions README "Semantics" lists.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

import relukit.array as ra  # noqa: E402
import relukit.functional as rf  # noqa: E402

SLOPES = [0.0, 0.1, 0.5]
MAX_VALUES = [None, 0.0, 0.5, 1, 3.0, 6, 10.0]  # 1 and 6 are ints; 6 takes Keras' relu6 branch
THRESHOLDS = [-2.0, -0.5, 0.0, 0.7, 2.0, 5.0]
PARAMS = list(itertools.product(SLOPES, MAX_VALUES, THRESHOLDS))


def points(dtype, threshold, max_value):
    kinks = [threshold, 0.0] + ([] if max_value is None else [float(max_value)])
    near = [np.nextafter(np.asarray(k, dtype), np.asarray(side, dtype)) for k in kinks for side in (-np.inf, np.inf)]
    return np.concatenate([np.linspace(-8, 12, 201), kinks, near, [-1e4, 1e4]]).astype(dtype), np.array(kinks)


def keras_relu(x, slope, max_value, threshold):
    t = torch.from_numpy(x).requires_grad_(True)
    y = keras.activations.relu(t, negative_slope=slope, max_value=max_value, threshold=threshold)
    (grad,) = torch.autograd.grad(y.sum(), t, allow_unused=True)
    grad = torch.zeros_like(t) if grad is None else grad
    return y.detach().numpy(), grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("slope", "max_value", "threshold"), PARAMS)
def test_rectify_is_keras_relu(slope, max_value, threshold, dtype):
    x, kinks = points(dtype, threshold, max_value)
    expected, expected_derivative = keras_relu(x, slope, max_value, threshold)
    params = {"negative_slope": slope, "max_value": max_value, "threshold": threshold}
    got = ra.rectify(x, **params)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    functional = rf.rectify(torch.from_numpy(x), **params)
    np.testing.assert_array_equal(functional.numpy(), expected)
    away = ~np.isin(x, kinks.astype(dtype))
    np.testing.assert_array_equal(ra.rectify_derivative(x, **params)[away], expected_derivative[away])
    t = torch.from_numpy(x).requires_grad_(True)
    rf.rectify(t, **params).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy()[away], expected_derivative[away])

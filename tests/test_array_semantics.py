"""Pinned semantics of relukit.array: values at kinks, NaN, infinities, dtypes, scalars and errors."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from tests.cases import CASES, PARAMS, SPECIALS, case_id

import relukit.array as ra
from relukit import catalog


def test_import_does_not_pull_torch():
    code = "import sys, relukit, relukit.array; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_relukit_is_light():
    code = (
        "import sys, relukit, relukit.functional\n"
        "heavy = {'matplotlib', 'sklearn', 'triton', 'onnx', 'tensorboard'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_member_has_forward_and_derivative():
    for entry in catalog.MEMBERS:
        assert callable(getattr(ra, entry.name))
        assert callable(getattr(ra, f"{entry.name}_derivative"))
    assert callable(ra.prelu_weight_derivative)


def test_relu_pinned_values():
    x = np.array([-2.0, -0.0, 0.0, 1e-45, 3.0, np.inf, -np.inf, np.nan])
    y = ra.relu(x)
    np.testing.assert_array_equal(y, [0, 0, 0, 1e-45, 3, np.inf, 0, np.nan])
    assert not np.signbit(y[1]), "relu(-0.0) is +0.0: x for x > 0, else 0"
    np.testing.assert_array_equal(ra.relu_derivative(x), [0, 0, 0, 1, 1, 1, 0, np.nan])


def test_python_scalars_keep_their_type():
    assert ra.relu(-2) == 0 and type(ra.relu(-2)) is int
    assert ra.relu(2.5) == 2.5 and type(ra.relu(2.5)) is float
    assert type(ra.relu_derivative(3)) is int
    assert type(ra.elu(-1)) is float
    assert math.isnan(ra.relu(math.nan))
    assert ra.relu(-math.inf) == 0


def test_numpy_scalars_keep_dtype():
    y = ra.leaky_relu(np.float32(-2.0))
    assert isinstance(y, np.float32) and y == np.float32(-0.02)


@pytest.mark.parametrize("x", [v for v in SPECIALS if not math.isnan(v)])
def test_relu_matches_max_oracle(x):
    # The seed's scalar definition max(0, x) is the oracle wherever x is not NaN.
    assert ra.relu(x) == max(0, x)


def test_leaky_relu_derivative_at_zero_is_torchs():
    # torch leaky_relu_backward: x > 0 ? grad : grad * slope, so the derivative at 0 is the slope.
    assert ra.leaky_relu_derivative(0.0) == 0.01
    assert ra.leaky_relu_derivative(0.0, 0.3) == 0.3


def test_kinks_follow_torch_autograd():
    assert ra.relu6_derivative(np.array([0.0, 6.0, 3.0])).tolist() == [0, 0, 1]
    assert ra.hardtanh_derivative(np.array([-1.0, 1.0, 0.0])).tolist() == [0, 0, 1]
    assert ra.elu_derivative(0.0, alpha=0.5) == 0.5
    assert ra.threshold_derivative(np.array([0.5, 0.6]), 0.5, 9.0).tolist() == [0, 1]


def test_rectify_is_keras_relu():
    # keras.activations.relu(x, negative_slope=0.5, threshold=5) on these points (Keras 3 docs).
    x = np.array([-10, -5, 0, 4.9, 5, 5.1, 10])
    np.testing.assert_allclose(
        ra.rectify(x, negative_slope=0.5, threshold=5.0), [-7.5, -5, -2.5, -0.05, 0, 5.1, 10], rtol=1e-12
    )
    # the jump at threshold: just below 5 the output is ~0, just above it is ~5
    assert ra.rectify(5.0 + 1e-9, threshold=5.0) > 5 and ra.rectify(5.0, threshold=5.0) == 0
    np.testing.assert_array_equal(ra.rectify(np.array([-1.0, 3.0, 9.0]), max_value=6.0), [0, 3, 6])
    np.testing.assert_array_equal(
        ra.rectify_derivative(np.array([-1.0, 0.0, 3.0, 6.0, 9.0]), negative_slope=0.1, max_value=6.0),
        [0.1, 0.1, 1, 0, 0],
    )


def test_rrelu_eval_is_leaky_with_mean_slope():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_array_equal(ra.rrelu(x, 0.1, 0.3), ra.leaky_relu(x, (0.1 + 0.3) / 2))


def test_prelu_broadcasts_along_channel_axis():
    x = -np.ones((2, 3, 4))
    w = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(ra.prelu(x, w)[:, :, 0], [[-0.1, -0.2, -0.3]] * 2)
    np.testing.assert_allclose(ra.prelu(np.moveaxis(x, 1, 2), w, channel_axis=-1)[:, 0, :], [[-0.1, -0.2, -0.3]] * 2)
    np.testing.assert_array_equal(ra.prelu_weight_derivative(np.array([[-2.0, 3.0]]), 0.25), [[-2.0, 0.0]])
    np.testing.assert_allclose(ra.prelu_derivative(np.array([-2.0, 0.0, 3.0]), 0.25), [0.25, 0.25, 1.0])


def test_mish_minimum():
    # Misra 2019: minimum ~ -0.30884 at x ~ -1.1924
    x = np.linspace(-1.3, -1.1, 200001)
    y = ra.mish(x)
    assert abs(y.min() - (-0.30884)) < 1e-5 and abs(x[y.argmin()] - (-1.1924)) < 1e-3


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_nan_propagates_forward_and_derivative(case):
    name, params = case
    assert math.isnan(getattr(ra, name)(math.nan, **params))
    assert math.isnan(getattr(ra, f"{name}_derivative")(math.nan, **params))


def test_infinities_and_large_values():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert ra.relu(-math.inf) == 0
        assert ra.mish(math.inf) == math.inf and ra.mish(-math.inf) == 0
        assert ra.softplus(-math.inf) == 0 and ra.softplus(math.inf) == math.inf
        assert ra.mish(1e4) == 1e4 and ra.softplus(1e4) == 1e4
        assert ra.silu(1e4) == 1e4 and ra.gelu(1e4) == 1e4
        for name in ("gelu", "silu", "elu", "selu", "celu", "softplus", "mish"):
            for x in (1e4, -1e4, 1e300, -1e300):
                assert math.isfinite(getattr(ra, name)(x)), (name, x)
                assert math.isfinite(getattr(ra, f"{name}_derivative")(x)), (name, x)
        assert ra.elu(-1e4) == -1.0 and ra.selu(-1e4) == pytest.approx(-catalog.SELU_ALPHA * catalog.SELU_SCALE)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_floating_dtypes_are_kept(case, dtype):
    name, params = case
    x = np.array([-2.0, 0.0, 3.0], dtype=dtype)
    assert getattr(ra, name)(x, **params).dtype == dtype
    assert getattr(ra, f"{name}_derivative")(x, **params).dtype == dtype


def test_integer_dtypes():
    x = np.array([-3, 0, 2, 9], dtype=np.int32)
    assert ra.relu(x).dtype == np.int32 and ra.relu(x).tolist() == [0, 0, 2, 9]
    assert ra.relu6(x).dtype == np.int32 and ra.relu6(x).tolist() == [0, 0, 2, 6]
    assert ra.hardtanh(x, -1, 1).dtype == np.int32 and ra.hardtanh(x, -1, 1).tolist() == [-1, 0, 1, 1]
    assert ra.threshold(x, 1, -5).dtype == np.int32 and ra.threshold(x, 1, -5).tolist() == [-5, -5, 2, 9]
    assert ra.hardtanh(x).dtype == np.float64  # float bounds (the defaults) give floats
    assert ra.leaky_relu(x).dtype == np.float64 and ra.gelu(x).dtype == np.float64


@pytest.mark.parametrize("bad", [np.array([True]), np.array([1 + 2j]), np.array(["a"], dtype=object)])
def test_unsupported_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match=r"relu: x has unsupported dtype"):
        ra.relu(bad)


def test_bool_and_string_scalars_raise():
    with pytest.raises(TypeError, match="relu: x must be a real number"):
        ra.relu(True)
    with pytest.raises(TypeError, match="mish: x must be a number or an array, got str"):
        ra.mish("1.0")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ra.leaky_relu(1.0, math.nan), "leaky_relu: negative_slope must be finite, got nan"),
        (lambda: ra.elu(1.0, alpha=math.inf), "elu: alpha must be finite, got inf"),
        (lambda: ra.celu(1.0, alpha=0.0), "celu: alpha must be non-zero, got 0.0"),
        (lambda: ra.rectify(1.0, max_value=-1.0), "rectify: max_value must be >= 0, got -1.0"),
        (lambda: ra.rectify(1.0, negative_slope=-0.1), "rectify: negative_slope must be >= 0, got -0.1"),
        (lambda: ra.hardtanh(1.0, 2.0, 1.0), "hardtanh: min_val must be <= max_val"),
        (lambda: ra.rrelu(1.0, 0.5, 0.1), "rrelu: lower must be <= upper"),
        (lambda: ra.gelu(1.0, approximate="fast"), "gelu: approximate must be 'none' or 'tanh', got 'fast'"),
        (lambda: ra.softplus(1.0, beta=0.0), "softplus: beta must be > 0, got 0.0"),
        (lambda: ra.prelu(np.ones((2, 3)), np.ones(4)), "prelu: weight of 4 values does not broadcast"),
        (lambda: ra.prelu(np.ones(3), np.ones(3)), "prelu: weight has 3 values but x has no channel axis"),
        (lambda: ra.prelu(np.ones((2, 3)), np.array([math.nan, 1, 1])), "prelu: weight must be finite, got array"),
        (lambda: ra.prelu(np.ones((2, 3)), [1.0, math.inf, 1.0]), "prelu: weight must be finite, got array"),
        (lambda: ra.threshold(1.0, 0.0, -math.inf), "threshold: value must be finite, got -inf"),
    ],
)
def test_bad_parameters_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_wrong_parameter_types():
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a real number, got 'a'"):
        ra.leaky_relu(1.0, "a")
    with pytest.raises(TypeError, match="threshold: missing a required argument: 'threshold'"):
        ra.threshold(1.0)
    with pytest.raises(TypeError, match="relu: got an unexpected keyword argument 'slope'"):
        ra.relu(1.0, slope=2)
    with pytest.raises(TypeError, match="prelu: channel_axis must be an int, got 1.5"):
        ra.prelu(np.ones((2, 3)), np.ones(3), 1.5)
    with pytest.raises(TypeError, match="prelu_weight_derivative: weight must be a real number or a real array"):
        ra.prelu_weight_derivative(np.ones((2, 3)), "a")
    with pytest.raises(TypeError, match=r"leaky_relu: negative_slope must be a real number, got array\(\[0.1, 0.2\]\)"):
        ra.leaky_relu(np.ones(3), np.array([0.1, 0.2]))
    with pytest.raises(TypeError, match=r"leaky_relu: negative_slope must be a real number, got 1j"):
        ra.leaky_relu(np.ones(3), 1j)
    with pytest.raises(TypeError, match="prelu: weight must be a real number or a real array, got dtype complex128"):
        ra.prelu(np.ones((2, 3)), np.array([1j, 1, 1]))


def test_every_member_is_exercised():
    assert set(PARAMS) == set(catalog.BY_NAME)

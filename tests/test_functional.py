"""relukit.functional against torch: values and gradients, special values and dtypes included."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.cases import CASES, SPECIALS, case_id

import relukit.array as ra
import relukit.functional as rf
from relukit import catalog

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
# 40 values: enough for torch's vectorized kernels and their scalar tails to both run.
VALUES = SPECIALS + [
    -2.5,
    -0.75,
    0.1,
    0.75,
    2.5,
    5.9,
    6.1,
    -0.49,
    0.49,
    -5.0,
    5.0,
    10.0,
    19.9,
    20.1,
    -20.0,
    3.0,
    -3.0,
    0.3,
    -0.3,
    0.9,
    1.1,
    4.9,
]
GRADS = [1.0, -1.0, math.nan, math.inf, -math.inf, 2.0, -0.5, 0.25]


def torch_reference(name, x, params):
    if name == "rrelu":
        return F.rrelu(x, **params, training=False)
    if name == "prelu":
        return F.prelu(x, torch.tensor([params["weight"]], dtype=x.dtype))
    return getattr(F, name)(x, **params)


def run(fn, values, grads, dtype):
    x = torch.tensor(values, dtype=dtype, requires_grad=True)
    y = fn(x)
    y.backward(torch.tensor(grads, dtype=dtype))
    return y.detach(), x.grad


def bits(t):
    """The bit pattern, NaN payloads aside: torch's own bf16 clamp_min gives a NaN input's payload in its
    scalar tail and all-ones in its vectorized body, so only NaN-ness is compared there."""
    t = torch.where(t.isnan(), torch.full_like(t, float("nan")), t)
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "rectify"], ids=case_id)
def test_matches_torch_values_and_gradients(case, dtype):
    name, params = case
    grads = (GRADS * 6)[: len(VALUES)]
    if name == "prelu":
        ours = lambda x: rf.prelu(x, torch.tensor([params["weight"]], dtype=dtype))
    else:
        ours = lambda x: getattr(rf, name)(x, **params)
    y, g = run(ours, VALUES, grads, dtype)
    y_ref, g_ref = run(lambda x: torch_reference(name, x, params), VALUES, grads, dtype)
    if catalog.BY_NAME[name].piecewise_linear:
        assert torch.equal(bits(y), bits(y_ref)), "forward must be bit-identical"
        x = torch.tensor(VALUES, dtype=dtype)
        if name in ("hardtanh", "relu6"):
            # torch's own CPU kernel is position-dependent at NaN; relukit gives 0 there (documented).
            nan = torch.isnan(x)
            assert torch.equal(bits(g[~nan]), bits(g_ref[~nan])) and (g[nan] == 0).all()
        else:
            assert torch.equal(bits(g), bits(g_ref)), "gradients must be bit-identical"
    else:
        torch.testing.assert_close(y, y_ref, rtol=0, atol=0, equal_nan=True)
        torch.testing.assert_close(g, g_ref, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", [c for c in CASES if c[0] in ("rectify", "rrelu")], ids=case_id)
def test_members_without_torch_op_match_array_path(case, dtype):
    name, params = case
    values = [v for v in VALUES if math.isfinite(v)]
    x = torch.tensor(values, dtype=dtype, requires_grad=True)
    y = getattr(rf, name)(x, **params)
    (g,) = torch.autograd.grad(y.sum(), x)
    x_np = np.array(values, dtype=np.float64 if dtype == torch.float64 else np.float32)
    np.testing.assert_array_equal(y.detach().numpy(), getattr(ra, name)(x_np, **params))
    np.testing.assert_array_equal(g.numpy(), getattr(ra, f"{name}_derivative")(x_np, **params))


def test_inplace_then_add_works_where_torch_raises():
    base = torch.randn(8, 16, requires_grad=True)
    identity = torch.randn(8, 16)

    def block(act):
        out = base * 3.0
        out = act(out, inplace=True)
        out += identity
        out.sum().backward()

    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        block(F.relu)
    base.grad = None
    block(rf.relu)
    torch.testing.assert_close(base.grad, 3.0 * (base.detach() > 0).float(), rtol=0, atol=0)


def test_inplace_modifies_input():
    x = torch.tensor([-1.0, 2.0])
    assert rf.leaky_relu(x, 0.5, inplace=True) is x and x.tolist() == [-0.5, 2.0]
    leaf = torch.tensor([-1.0, 2.0], requires_grad=True)
    y = leaf * 1.0
    z = rf.relu(y, inplace=True)
    assert z is y and z.tolist() == [0.0, 2.0]


def test_errors_name_the_function():
    with pytest.raises(TypeError, match="relu: input must be a torch.Tensor, got list"):
        rf.relu([1.0])
    with pytest.raises(ValueError, match="leaky_relu: negative_slope must be finite, got inf"):
        rf.leaky_relu(torch.ones(2), math.inf)
    with pytest.raises(TypeError, match="threshold: missing a required argument"):
        rf.threshold(torch.ones(2))


def test_arguments_bind_as_the_signature_says():
    x = torch.randn(50)
    expected = F.hardtanh(x, -0.5, 2.0)
    for y in (
        rf.hardtanh(x, -0.5, 2.0),
        rf.hardtanh(x, -0.5, max_val=2.0),
        rf.hardtanh(input=x, max_val=2.0, min_val=-0.5),
        rf.hardtanh(x, -0.5, 2.0, False),
    ):
        assert torch.equal(y, expected)
    assert torch.equal(rf.threshold(x, 0.5, value=-1.0), F.threshold(x, 0.5, -1.0))
    for call, message in (
        (lambda: rf.leaky_relu(x, 0.1, negative_slope=0.2), "leaky_relu: multiple values for argument"),
        (lambda: rf.relu(x, slope=1), "relu: got an unexpected keyword argument 'slope'"),
        (lambda: rf.relu(x, False, 1), "relu: too many positional arguments"),
        (lambda: rf.relu(), "relu: missing a required argument: 'input'"),
    ):
        with pytest.raises(TypeError, match=message):
            call()


def test_repeated_calls_take_the_remembered_native_call_for_their_own_arguments():
    """functional remembers a checked native call per exact argument tuple (values and types): repeats
    must give torch's result for their own arguments, and a bad value after good ones still raises."""
    x = (torch.randn(300) * 3).requires_grad_()
    for _ in range(3):  # the first call checks and remembers, the others take the remembered call
        for slope in (0.2, 0.3, 0, 0.2):
            assert torch.equal(rf.leaky_relu(x, slope), F.leaky_relu(x, slope))
            assert torch.equal(rf.leaky_relu(x, negative_slope=slope), F.leaky_relu(x, slope))
        assert torch.equal(rf.hardtanh(x, -0.5, 2.0), F.hardtanh(x, -0.5, 2.0))
        assert torch.equal(rf.hardtanh(x, -0.5, max_val=1.0), F.hardtanh(x, -0.5, 1.0))
        with pytest.raises(ValueError, match="leaky_relu: negative_slope must be finite, got inf"):
            rf.leaky_relu(x, math.inf)
        with pytest.raises(TypeError, match="hardtanh"):
            rf.hardtanh(x, True, 2.0)  # True is not -1.0 or 1.0: rejected every time
        with pytest.raises(TypeError, match="leaky_relu"):
            rf.leaky_relu(x, [0.2])  # unhashable: no remembered call, the full path names it
        assert torch.equal(rf.relu(x), F.relu(x)) and torch.equal(rf.relu(input=x), F.relu(x))
    y = x * 1.0
    z = rf.leaky_relu(y, 0.1, True)  # positional inplace: the remembered call keeps it
    assert z is y and torch.equal(z, F.leaky_relu(x * 1.0, 0.1))
    z = rf.leaky_relu(y, 0.1, False)
    assert z is not y


def test_calls_autograd_does_not_record_take_the_values_kernel_and_match_torch():
    """Without autograd recording (input without grad, no_grad, inference_mode) a repeated call runs the values
    kernel from known_call: torch's values, nothing recorded; in-place calls keep torch's op (its version
    counter bump)."""

    def assert_same(ours, ref):
        assert torch.equal(bits(ours), bits(ref))

    x = torch.randn(300) * 3
    x[:4] = torch.tensor([0.0, -0.0, math.nan, math.inf])
    leaf = x.clone().requires_grad_()
    for _ in range(3):  # the first call remembers, the others take known_call
        for fn, ref, args in ((rf.leaky_relu, F.leaky_relu, (0.2,)), (rf.relu6, F.relu6, ()), (rf.relu, F.relu, ())):
            assert_same(fn(x, *args), ref(x, *args))
            with torch.no_grad():
                y = fn(leaf, *args)
            assert not y.requires_grad and y.grad_fn is None
            assert_same(y, ref(x, *args))
            with torch.inference_mode():
                assert_same(fn(x, *args), ref(x, *args))
        z = x.clone()
        version = z._version
        assert rf.relu(z, inplace=True) is z and z._version > version
        assert_same(z, F.relu(x))
    y = rf.leaky_relu(leaf, 0.2)  # the same remembered call with grad recorded: the lean op
    assert y.grad_fn is not None and y.grad_fn.name().endswith("LeanBackward")  # native or Python lean op


def test_rrelu_training_is_torchs():
    torch.manual_seed(0)
    x = -torch.ones(1000)
    y = rf.rrelu(x, 0.1, 0.3, training=True)
    slopes = -y
    assert 0.1 <= slopes.min() and slopes.max() <= 0.3 and slopes.std() > 0.03

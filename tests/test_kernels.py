"""relukit.kernels under the Triton interpreter (TRITON_INTERPRET=1, CPU tensors) against torch's own ops.

Values, packed codes and gradients must equal torch's bit for bit (NaN compared as NaN), on sizes that are
and are not multiples of the block (256 under the interpreter) and of 8. Sizes stay small: the
interpreter runs each program in NumPy.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.cases import CASES, SPECIALS, case_id

pytest.importorskip("triton", reason="relukit.kernels needs triton (pip install 'relukit[gpu]')")

import relukit.functional as rf  # noqa: E402
import relukit.kernels as K  # noqa: E402
from relukit import catalog  # noqa: E402
from relukit._ops import piecewise  # noqa: E402
from relukit.kernels import codegen, ops  # noqa: E402

# The interpreter evaluates -inf * 0 and friends in NumPy, which warns; torch gives the same NaN silently.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

PIECEWISE = [c for c in CASES if catalog.BY_NAME[c[0]].piecewise_linear]
VALUES = SPECIALS + [-2.5, -0.3, 0.3, 0.49, -0.49, 4.9, 5.0, 5.1, 5.9, 6.1, -1.1, -0.9, 1.1, 0.9, 2.0, -2.0]
GRADS = [1.0, -1.0, 0.0, -0.0, math.nan, math.inf, -math.inf, 0.25, -3.0]
HALF = [torch.float16, torch.bfloat16]


if not torch.cuda.is_available() and not ops.interpreting():
    pytest.skip("no CUDA and TRITON_INTERPRET is not set (tests/conftest.py sets it)", allow_module_level=True)


def sample(values, n, dtype, seed):
    index = torch.randint(len(values), (n,), generator=torch.Generator().manual_seed(seed))
    return torch.tensor(values)[index].to(dtype)


def bits(t):
    return t.view({2: torch.int16, 4: torch.int32}[t.element_size()])


def assert_same(ours, ref, signed_zero=True):
    """Equal bits where not NaN, NaN at the same places (NaN payloads are not specified)."""
    nan = torch.isnan(ref)
    assert torch.equal(torch.isnan(ours), nan)
    if signed_zero:
        assert torch.equal(bits(ours[~nan]), bits(ref[~nan]))
    else:
        assert torch.equal(ours[~nan], ref[~nan])


def torch_forward(name, x, params):
    if name == "rrelu":
        return F.rrelu(x, **params, training=False)
    if name == "rectify":  # no torch op: the catalog formula on torch tensors (relukit.functional's path)
        return piecewise.stock_forward(catalog.BY_NAME[name], x, params)
    return getattr(F, name)(x, **params)


def packed_reference(name, x, params):
    entry = catalog.BY_NAME[name]
    codes = entry.codes(x, piecewise.xp_torch, **params).to(torch.uint8).numpy()
    if entry.code_bits(**params) == 1:
        return torch.from_numpy(np.packbits(codes, bitorder="little"))
    quads = np.pad(codes, (0, (-len(codes)) % 4)).reshape(-1, 4)
    return torch.from_numpy(quads[:, 0] | quads[:, 1] << 2 | quads[:, 2] << 4 | quads[:, 3] << 6)


def torch_gradient(name, x, grad, params):
    entry = catalog.BY_NAME[name]
    if name == "rectify":  # relukit's own backward (checked against the array derivative in test_functional)
        slopes = [float(s) for s in entry.slopes(**params)]
        codes = piecewise.packing.pack(entry.codes(x, piecewise.xp_torch, **params), entry.code_bits(**params))
        return piecewise.piecewise_backward(grad, codes, slopes, entry.backward == "multiply")
    leaf = x.clone().requires_grad_()
    (result,) = torch.autograd.grad(torch_forward(name, leaf, params), leaf, grad)
    if name in ("hardtanh", "relu6"):  # torch's CPU kernel is position-dependent at NaN; relukit gives 0
        result = torch.where(torch.isnan(x), 0.0, result)
    return result


# fp32 on sizes below, at and above the block and 8; fp16/bf16 on two sizes keep the interpreter quick.
SIZES = [(torch.float32, n) for n in (1, 7, 8, 256, 1001)] + [(d, n) for d in HALF for n in (7, 1001)]


@pytest.mark.parametrize(("dtype", "n"), SIZES, ids=lambda v: str(v).replace("torch.", ""))
@pytest.mark.parametrize("case", PIECEWISE, ids=case_id)
def test_forward_and_backward_equal_torch(case, dtype, n):
    name, params = case
    x = sample(VALUES, n, dtype, seed=n)
    grad = sample(GRADS, n, dtype, seed=n + 1)
    bound = catalog.BY_NAME[name].bind(name, params)
    y, codes = K.forward(name, x, **params)
    # rectify's formula takes minimum(-0.0, 0.0), whose sign IEEE 754 leaves open; torch's own result
    # differs between its vectorized and scalar loops, so only there are +0.0 and -0.0 equal.
    assert_same(y, torch_forward(name, x, bound), signed_zero=name != "rectify")
    assert torch.equal(codes, packed_reference(name, x, bound))
    assert_same(K.backward(name, grad, codes, **params), torch_gradient(name, x, grad, bound))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    ("shape", "dim", "name", "params"),
    [
        ((37, 33), -1, "relu", {}),
        ((3, 5, 7), 1, "leaky_relu", {"negative_slope": 0.2}),
        ((2, 4, 3, 5), 1, "relu6", {}),
        ((4, 9), 0, "rectify", {"negative_slope": 0.5, "max_value": 6.0}),
    ],
)
def test_bias_act_equals_torch_act_of_sum(shape, dim, name, params, dtype):
    x = (torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 4).to(dtype)
    bias = torch.randn(shape[dim], generator=torch.Generator().manual_seed(1)).to(dtype)
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(2)).to(dtype)
    view = rf.bias_view_shape(x, dim)
    x_ref, b_ref = x.clone().requires_grad_(), bias.clone().requires_grad_()
    if name == "rectify":
        y_ref = rf.rectify(x_ref + b_ref.view(view), **params)
    else:
        y_ref = torch_forward(name, x_ref + b_ref.view(view), params)
    y_ref.backward(grad)
    x_k, b_k = x.clone().requires_grad_(), bias.clone().requires_grad_()
    y, codes = K.bias_act(name, x_k, b_k, dim=dim, **params)
    y.backward(grad)
    assert_same(y.detach(), y_ref.detach())
    assert_same(x_k.grad, x_ref.grad)
    assert_same(b_k.grad, b_ref.grad)
    y_only, no_codes = K.bias_act(name, x, bias, dim=dim, store_codes=False, **params)
    assert_same(y_only, y_ref.detach())
    assert no_codes.numel() == 0


@pytest.fixture
def cpu_kernels():
    """CPU tensors run relukit.kernels (under the Triton interpreter) for the test."""
    with piecewise.kernels_on("cuda", "cpu"):
        yield


def test_functional_routes_to_kernels_and_stays_exact(monkeypatch):
    warm = torch.randn(300, requires_grad=True)
    rf.leaky_relu(warm, 0.2), rf.leaky_relu(warm, 0.2)  # remembered as a native call before the routing changes
    with piecewise.kernels_on("cuda", "cpu"):
        _routes_to_kernels(monkeypatch)


def _routes_to_kernels(monkeypatch):
    calls = []
    launch_forward, launch_backward = ops.launch_forward, ops.launch_backward
    monkeypatch.setattr(ops, "launch_forward", lambda *a, **k: calls.append("fwd") or launch_forward(*a, **k))
    monkeypatch.setattr(ops, "launch_backward", lambda *a, **k: calls.append("bwd") or launch_backward(*a, **k))
    x = sample(VALUES, 300, torch.float32, seed=3)
    grad = sample(GRADS, 300, torch.float32, seed=4)
    leaf = x.clone().requires_grad_()
    y = rf.leaky_relu(leaf, 0.2)
    y.backward(grad)
    assert calls == ["fwd", "bwd"]
    assert_same(y.detach(), F.leaky_relu(x, 0.2))
    assert_same(leaf.grad, torch_gradient("leaky_relu", x, grad, {"negative_slope": 0.2}))
    bias = torch.randn(20, requires_grad=True)
    inputs = torch.randn(15, 20, requires_grad=True)
    rf.bias_act(inputs, bias, "relu").sum().backward()
    assert bias.grad.tolist() == ((inputs.detach() + bias.detach()) > 0).sum(0).float().tolist()


def test_functional_on_the_kernels_double_backward_and_compile(cpu_kernels):
    x = sample(VALUES, 300, torch.float32, seed=6)
    leaf, upstream = x.clone().requires_grad_(), torch.randn(300, requires_grad=True)
    (g,) = torch.autograd.grad(rf.leaky_relu(leaf * 1.0, 0.25), leaf, upstream, create_graph=True)
    (d_upstream,) = torch.autograd.grad(g.sum(), upstream)
    assert torch.equal(d_upstream, torch.where(x > 0, 1.0, 0.25))
    inputs, bias = torch.randn(15, 20, requires_grad=True), torch.randn(20, requires_grad=True)
    fn = lambda t, b: rf.relu(t * 1.0) + rf.bias_act(t, b, "leaky_relu", negative_slope=0.2)  # noqa: E731
    eager = fn(inputs, bias)
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)(inputs, bias)
    assert torch.equal(compiled, eager)
    for ours, ref in zip(
        torch.autograd.grad(compiled.sum(), (inputs, bias)), torch.autograd.grad(eager.sum(), (inputs, bias))
    ):
        assert torch.equal(ours, ref)


def test_custom_ops_pass_opcheck_and_compile():
    x = sample(VALUES[:-3], 300, torch.float32, seed=5)  # finite values: opcheck compares with allclose
    x = torch.where(torch.isfinite(x), x, 1.0)
    grad = torch.randn(300)
    _, codes = K.forward("leaky_relu", x)
    bias = torch.randn(300)
    torch.library.opcheck(torch.ops.relukit.fused_forward, (x, None, -1, "leaky_relu", [0.01], True))
    torch.library.opcheck(torch.ops.relukit.fused_forward, (x.view(10, 30), bias[:30], -1, "relu", [], False))
    torch.library.opcheck(torch.ops.relukit.fused_backward, (grad, codes, [0.01, 1.0], True))

    def step(x, grad):
        y, codes = K.forward("hardtanh", x, min_val=-0.5, max_val=2.0)
        return y * 2, K.backward("hardtanh", grad, codes, min_val=-0.5, max_val=2.0)

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    for ours, ref in zip(compiled(x, grad), step(x, grad)):
        assert_same(ours, ref)


def test_kernels_are_generated_from_the_entry():
    """A member the kernels have never seen runs correctly: nothing in relukit.kernels is per-member."""
    entry = catalog.Activation(
        "clipped_leaky",
        "",
        "",
        forward=lambda x, xp, cap: xp.where(x > cap, cap, xp.where(x < 0, x * 0.25, x)),
        piecewise=catalog.PiecewiseLinear(
            codes=lambda x, xp, cap: xp.astype(x > 0, xp.uint8) + xp.astype(x > cap, xp.uint8),
            slopes=lambda cap: (0.25, 1.0, 0.0),
        ),
        params=(catalog.Param("cap", 3.0),),
    )
    kernel = ops._compile(codegen.forward_source(entry, {"cap": 3.0}, True), True)["forward_kernel"]
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.9, 3.0, 3.5, 100.0, -8.0])
    y, codes = torch.empty_like(x), torch.empty(3, dtype=torch.uint8)
    kernel[(1,)](x, x, y, codes, x.numel(), 1, 1, HAS_BIAS=False, STORE_CODES=True, WIDE=False, BLOCK=256)
    assert y.tolist() == [-0.5, -0.125, 0.0, 0.5, 2.9000000953674316, 3.0, 3.0, 3.0, -2.0]
    assert codes.tolist() == [0b01_00_00_00, 0b10_10_01_01, 0]  # codes 0 0 0 1 | 1 1 2 2 | 0, 2 bits each
    with pytest.raises(TypeError, match="branches on array values"):
        codegen.forward_expressions(entry.__class__("bad", "", "", forward=lambda x, xp: x if x > 0 else 0), {})


def test_errors_name_function_argument_and_value(monkeypatch):
    with pytest.raises(ValueError, match=r"relukit.kernels.forward: name must be a piecewise-linear.*'gelu'"):
        K.forward("gelu", torch.ones(3))
    with pytest.raises(TypeError, match="x must be float32, float16 or bfloat16, got torch.float64"):
        K.forward("relu", torch.ones(3, dtype=torch.float64))
    with pytest.raises(
        ValueError, match="relukit.kernels.backward: codes must be 1 packed bytes for 3 elements, got 2"
    ):
        K.backward("relu", torch.ones(3), torch.zeros(2, dtype=torch.uint8))
    with pytest.raises(
        TypeError, match="relukit.kernels.backward: codes must be a torch.uint8 tensor, got torch.int64"
    ):
        K.backward("relu", torch.ones(3), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="relukit.kernels.forward: unknown activation 'nope'"):
        K.forward("nope", torch.ones(3))
    with pytest.raises(ValueError, match=r"bias must be 1-D with input.shape\[1\] = 4 entries, got shape \(3,\)"):
        K.bias_act("relu", torch.ones(2, 4), torch.ones(3), dim=1)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="x must be a CUDA tensor .*TRITON_INTERPRET=1.*got cpu"):
        K.forward("relu", torch.ones(3))


COMPILE_FOR_H100 = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from relukit import catalog
from relukit.kernels import ops

def compile(kernel, types, constexprs):
    names = list(types) + list(constexprs)
    signature = {**types, **{name: "constexpr" for name in constexprs}}
    aligned = {(names.index(n),): [["tt.divisibility", 16]] for n, t in types.items() if t.startswith("*") or n == "n"}
    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs, attrs=aligned)
    options = {"num_warps": ops.NUM_WARPS, "enable_fp_fusion": False}
    return triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options).asm["ptx"]

for dtype in ("fp32", "bf16", "fp16"):
    for name, params in (("relu", {}), ("rectify", {"negative_slope": 0.1, "max_value": 6.0})):
        entry = catalog.BY_NAME[name]
        kernel = ops.forward_kernel(entry, entry.bind(name, params))
        types = dict(x_ptr=f"*{dtype}", bias_ptr=f"*{dtype}", y_ptr=f"*{dtype}", codes_ptr="*u8", n="i32")
        types |= dict(channels="i32", inner="i32")
        flags = dict(HAS_BIAS=True, STORE_CODES=True, WIDE=name == "rectify", BLOCK=4096)
        ptx = compile(kernel, types, flags)
        assert "ld.global.v" in ptx and "st.global.b8" in ptx, (dtype, name)
    for slopes, multiply in (((0.01, 1.0), True), ((0.1, 1.0, 0.0), False)):
        types = dict(grad_ptr=f"*{dtype}", codes_ptr="*u8", out_ptr=f"*{dtype}", n="i32")
        ptx = compile(ops.backward_kernel(slopes, multiply), types, dict(WIDE=False, BLOCK=4096))
        assert "ld.global.v" in ptx and "st.global.v" in ptx, (dtype, slopes)
print("compiled")
"""


def test_generated_kernels_compile_to_vectorized_ptx_for_an_h100():
    """The real Triton compiler (not the interpreter) accepts every kernel shape: forward with bias and
    codes (1 and 2 bits, int32 and int64 indexing) and backward, for sm_90, no GPU needed; with aligned
    pointers the loads and stores are vector instructions."""
    pytest.importorskip("triton.backends.nvidia", reason="triton without its NVIDIA backend")
    env = {**os.environ, "TRITON_INTERPRET": "0"}  # the interpreter must be off before triton imports
    result = subprocess.run([sys.executable, "-c", COMPILE_FOR_H100], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "compiled" in result.stdout, result.stderr[-3000:]

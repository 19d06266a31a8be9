"""relukit.nn.BatchNormAct1d/2d/3d (in-place activated BatchNorm) and lean(model, abn=True).

References: float64 BatchNorm (torch's F.batch_norm) followed by the catalog's reference forward, through
plain autograd; torch's own BatchNorm + activation modules in float32. Measured bound of the float32
gradients against stock: max |difference| / max |stock| below 1e-5 (observed at most 3.6e-7 over the six
cases and five seeds); float64 against the reference: 1e-12.
"""

from __future__ import annotations

import contextlib
import copy

import array_api_compat.torch as xp_torch
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import relukit
from relukit import batchnorm_act, catalog
from relukit import nn as rnn
from relukit.diagnostics import SavedTensorMeter

CASES = [
    ("leaky_relu", {"negative_slope": 0.1}, nn.LeakyReLU(0.1)),
    ("leaky_relu", {"negative_slope": 1.5}, nn.LeakyReLU(1.5)),
    ("elu", {"alpha": 0.7}, nn.ELU(0.7)),
    ("celu", {"alpha": 1.3}, nn.CELU(1.3)),
    ("selu", {}, nn.SELU()),
    ("identity", {}, nn.Identity()),
    ("relu", {}, nn.ReLU()),
    ("relu6", {}, nn.ReLU6()),
]
SHAPES = {rnn.BatchNormAct1d: (6, 4, 5), rnn.BatchNormAct2d: (4, 4, 5, 3), rnn.BatchNormAct3d: (3, 4, 2, 3, 4)}
STOCK = {rnn.BatchNormAct1d: nn.BatchNorm1d, rnn.BatchNormAct2d: nn.BatchNorm2d, rnn.BatchNormAct3d: nn.BatchNorm3d}


def _reference(x, weight, bias, name, params):
    z = F.batch_norm(x, None, None, weight, bias, True, 0.0, 1e-5)
    return z if name == "identity" else catalog.BY_NAME[name].forward(z, xp_torch, **params)


def _randomize(module: nn.Module) -> None:
    with torch.no_grad():
        if module.weight is not None:
            module.weight.uniform_(0.5, 2.0).mul_(torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=module.weight.dtype))
            module.bias.uniform_(-1.0, 1.0)


@pytest.mark.parametrize("cls", list(SHAPES))
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(("name", "params", "act"), CASES)
def test_float64_gradients_match_reference(cls, affine, name, params, act):
    torch.manual_seed(0)
    module = cls(4, affine=affine, activation=name, activation_params=params).double()
    _randomize(module)
    x = (3 * torch.randn(SHAPES[cls], dtype=torch.float64) + 1).requires_grad_()
    grad = torch.randn(SHAPES[cls], dtype=torch.float64)
    leaves = (x, module.weight, module.bias) if affine else (x,)
    got = torch.autograd.grad(module(x), leaves, grad)
    expected = torch.autograd.grad(_reference(x, module.weight, module.bias, name, params), leaves, grad)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("name", "params", "act"), CASES)
def test_float32_gradients_match_stock_within_1e5(name, params, act):
    torch.manual_seed(1)
    bn = nn.BatchNorm2d(4)
    _randomize(bn)
    fused = rnn.BatchNormAct2d(4, activation=name, activation_params=params)
    fused.load_state_dict(bn.state_dict())
    x = (2 * torch.randn(16, 4, 12, 12) - 0.5).requires_grad_()
    grad = torch.randn(16, 4, 12, 12)
    stock = torch.autograd.grad(act(bn(x)), (x, bn.weight, bn.bias), grad)
    got = torch.autograd.grad(fused(x), (x, fused.weight, fused.bias), grad)
    for a, b in zip(got, stock):
        assert ((a - b).abs().max() / b.abs().max()).item() < 1e-5


@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_and_state_dict_are_batchnorms(momentum):
    torch.manual_seed(2)
    bn, act = nn.BatchNorm2d(4, momentum=momentum), nn.LeakyReLU(0.2)
    fused = rnn.BatchNormAct2d(4, momentum=momentum, activation_params={"negative_slope": 0.2})
    assert fused.state_dict().keys() == bn.state_dict().keys()
    for _ in range(3):
        x = torch.randn(8, 4, 5, 5) * 2 + 1
        act(bn(x)).sum().backward()
        fused(x).sum().backward()
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(fused.state_dict()[key], value, rtol=0, atol=0)
    bn.eval(), fused.eval()
    x = torch.randn(8, 4, 5, 5)
    assert torch.equal(fused(x), act(bn(x)))  # eval: the same ops in the same order
    reloaded = nn.BatchNorm2d(4, momentum=momentum)
    reloaded.load_state_dict(fused.state_dict())  # and back
    assert all(torch.equal(a, b) for a, b in zip(reloaded.state_dict().values(), bn.state_dict().values()))


def test_training_without_running_statistics():
    bn = nn.BatchNorm1d(4, track_running_stats=False)
    fused = rnn.BatchNormAct1d(4, track_running_stats=False, activation="selu")
    x = torch.randn(10, 4, requires_grad=True)
    torch.testing.assert_close(fused(x), F.selu(bn(x)))
    fused.eval(), bn.eval()  # no running statistics: batch statistics in eval too, as torch
    torch.testing.assert_close(fused(x), F.selu(bn(x)))


def test_keeps_only_the_output():
    fused = rnn.BatchNormAct2d(8, activation_params={"negative_slope": 0.1})
    bn, act = nn.BatchNorm2d(8), nn.LeakyReLU(0.1)
    x = torch.randn(4, 8, 16, 16)
    with SavedTensorMeter() as meter:
        y = fused(x)
    per_channel = 8 * 4  # 1/std, float32
    assert meter.saved_bytes == y.numel() * 4 + per_channel
    with SavedTensorMeter() as stock:
        act(bn(x))
    assert stock.saved_bytes == 2 * y.numel() * 4 + 4 * per_channel  # x, z; mean, 1/std, running mean, var


@pytest.mark.parametrize("name", ["relu", "relu6"])
def test_relu_keeps_the_output_and_the_hidden_outputs_compacted(name):
    torch.manual_seed(7)
    fused, bn, act = rnn.BatchNormAct2d(8, activation=name), nn.BatchNorm2d(8), getattr(F, name)
    x = torch.randn(4, 8, 16, 16) * 4
    with SavedTensorMeter() as meter:
        y = fused(x)
    z = bn(x)
    hidden = int((~((z > 0) & (z < 6 if name == "relu6" else True))).sum())
    per_channel = 8 * 4
    assert meter.saved_bytes == y.numel() * 4 + (y.numel() + 7) // 8 + hidden * 4 + per_channel
    assert torch.equal(y, act(z))  # torch's own forward values
    with SavedTensorMeter() as stock:
        act(bn(x))
    assert meter.saved_bytes < 0.8 * stock.saved_bytes


def test_relu6_outputs_hidden_at_both_ends_are_recovered():
    fused = rnn.BatchNormAct1d(2, activation="relu6").double()
    with torch.no_grad():
        fused.weight.copy_(torch.tensor([1.0, 2.0]))
    x = torch.tensor([[0.0, 1.0], [1.0, -3.0], [2.0, 5.0], [-3.0, 9.0]], dtype=torch.float64, requires_grad=True)
    reference = x.detach().clone().requires_grad_()
    grad = torch.randn(4, 2, dtype=torch.float64)
    torch.autograd.backward(fused(x), grad)
    bn = nn.BatchNorm1d(2).double()
    with torch.no_grad():
        bn.weight.copy_(fused.weight)
    torch.autograd.backward(F.relu6(bn(reference)), grad)
    torch.testing.assert_close(x.grad, reference.grad, rtol=1e-12, atol=1e-12)


def test_modified_saved_output_raises_torchs_error():
    fused = rnn.BatchNormAct2d(3, activation="elu")
    y = fused(torch.randn(4, 3, 5, 5, requires_grad=True))
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "hardtanh"}, "activation must be invertible.*got 'hardtanh'"),
        ({"activation": "gelu"}, "activation must be invertible.*got 'gelu'"),
        ({"activation_params": {"negative_slope": 0.0}}, "negative_slope must be > 0.*got 0.0"),
        ({"activation_params": {"negative_slope": -0.1}}, "negative_slope must be > 0.*got -0.1"),
        ({"activation": "elu", "activation_params": {"alpha": 0.0}}, "alpha must be > 0.*got 0.0"),
        ({"activation": "celu", "activation_params": {"alpha": -1.0}}, "alpha must be > 0.*got -1.0"),
    ],
)
def test_refuses_non_invertible(kwargs, message):
    with pytest.raises(ValueError, match="BatchNormAct2d: " + message):
        rnn.BatchNormAct2d(4, **kwargs)


def test_zero_weight_raises_in_training_only_when_gradients_are_needed():
    fused = rnn.BatchNormAct2d(3)
    with torch.no_grad():
        fused.weight[1] = 0.0
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"BatchNormAct2d: weight must be non-zero.*channel\(s\) \[1\]"):
        fused(x)
    with torch.no_grad():
        assert torch.isfinite(fused(x)).all()
    fused.eval()
    assert torch.isfinite(fused(x)).all()


def test_elu_saturation_stays_finite():
    fused = rnn.BatchNormAct1d(2, activation="elu")
    x = torch.tensor([[-1e4, 0.0], [1.0, 1.0], [2.0, -1.0], [3.0, 2.0]], requires_grad=True)
    with torch.no_grad():
        fused.weight.fill_(40.0)  # pushes BN outputs far below where expm1 saturates in float32
    fused(x).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(fused.weight.grad).all()


def test_convert_sync_batchnorm_leaves_it():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), rnn.BatchNormAct2d(4), nn.BatchNorm2d(4))
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model))
    assert type(converted[1]) is rnn.BatchNormAct2d and type(converted[2]) is nn.SyncBatchNorm


@pytest.mark.parametrize("activation", ["celu", "relu"])
@pytest.mark.parametrize("fullgraph", [False, True])
def test_compile_runs_and_agrees(fullgraph, activation):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), rnn.BatchNormAct2d(4, activation=activation))
    twin = copy.deepcopy(model)
    compiled = torch.compile(twin, fullgraph=fullgraph, backend="aot_eager")
    x = torch.randn(2, 3, 8, 8)
    model(x).square().sum().backward()
    compiled(x).square().sum().backward()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model[1].running_var, twin[1].running_var)


class _OutOfOrder(nn.Module):
    """Children declared in another order than called; bn3's output also feeds a residual sum."""

    def __init__(self) -> None:
        super().__init__()
        self.act2 = nn.LeakyReLU(0.1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.act1 = nn.LeakyReLU(0.1, inplace=True)
        self.bn2 = nn.BatchNorm2d(8)
        self.bn3 = nn.BatchNorm2d(8)
        self.act3 = nn.ELU()
        self.bn4 = nn.BatchNorm2d(8)
        self.act4 = nn.ReLU()

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        b = self.bn3(x)
        x = self.act3(b) + b
        return self.act4(self.bn4(x))


def test_lean_abn_fuses_pairs_in_call_order():
    torch.manual_seed(4)
    stock = _OutOfOrder().double()  # float64: the comparison is not blurred by bn2.weight's cancellation
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    lean = relukit.lean(copy.deepcopy(stock), abn=True, example_inputs=(x[:1],))
    assert type(lean.bn1) is rnn.BatchNormAct2d and type(lean.bn2) is rnn.BatchNormAct2d
    assert type(lean.act1) is nn.Identity and type(lean.act2) is nn.Identity
    assert type(lean.bn3) is nn.BatchNorm2d  # its output is also added: not fused
    assert type(lean.bn4) is rnn.BatchNormAct2d and lean.bn4.activation == "relu"  # relu: partly inverted
    row = relukit.lean_report(lean)["patterns"]["bn -> act (in-place activated BN)"]
    assert row["modules"] == ["act1", "act2", "act4"]
    # act1, act2: the output alone (half the stock bytes); act4: its output plus the hidden BN outputs
    assert row["stock_bytes"] / 2 < row["lean_bytes"] < row["stock_bytes"]
    assert lean.state_dict().keys() == stock.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(lean.state_dict().values(), stock.state_dict().values()))
    with SavedTensorMeter(ignore=[x]) as stock_meter:
        stock(x).square().sum().backward()
    with SavedTensorMeter(ignore=[x]) as lean_meter:
        lean(x).square().sum().backward()
    assert lean_meter.saved_bytes < stock_meter.saved_bytes
    for (name, a), b in zip(stock.named_parameters(), lean.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12, msg=name)


def test_lean_abn_with_sparse_storage():
    torch.manual_seed(5)
    stock = _OutOfOrder().double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    lean = relukit.lean(copy.deepcopy(stock), sparse=True, abn=True, example_inputs=(x[:1],))
    stock(x).sum().backward()
    lean(x).sum().backward()
    for a, b in zip(stock.parameters(), lean.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12)
    report = relukit.lean_report(lean)
    assert report["abn"] is True
    row = report["patterns"]["bn -> act (in-place activated BN)"]
    assert 2 * row["lean_bytes"] == row["stock_bytes"]  # each pair keeps one tensor (act4, relu: z) of the two


def test_lean_abn_shares_parameters_with_the_optimizer():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.LeakyReLU(0.1))
    weight = model[1].weight
    relukit.lean(model, abn=True, example_inputs=(torch.randn(2, 3, 6, 6),))
    assert type(model[1]) is rnn.BatchNormAct2d and model[1].weight is weight


def test_lean_abn_needs_example_inputs_and_skips_syncbatchnorm():
    with pytest.raises(ValueError, match="lean: abn=True needs example_inputs.*got None"):
        relukit.lean(nn.Sequential(nn.BatchNorm1d(3), nn.ELU()), abn=True)
    model = nn.Sequential(nn.SyncBatchNorm(3), nn.ELU())
    model.eval()  # SyncBatchNorm runs as BatchNorm in eval without a process group
    relukit.lean(model, abn=True, example_inputs=(torch.randn(2, 3, 4, 4),))
    assert type(model[0]) is nn.SyncBatchNorm


def test_lean_abn_model_compiles_fullgraph():
    torch.manual_seed(6)
    stock = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.LeakyReLU(0.1, inplace=True), nn.Conv2d(4, 4, 3),
                          nn.BatchNorm2d(4), nn.ELU()).double()  # fmt: skip
    x = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    lean = relukit.lean(copy.deepcopy(stock), abn=True, example_inputs=(x,))
    assert [type(m) for m in lean].count(rnn.BatchNormAct2d) == 2
    torch.compile(lean, fullgraph=True, backend="aot_eager")(x).sum().backward()
    stock(x).sum().backward()
    for a, b in zip(stock.parameters(), lean.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12)


class _PassThrough(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _bn_relu_conv(name: str, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, nn.Module]:
    """(stock, fused) of BatchNorm2d -> relu / relu6 -> depthwise Conv2d, same weights."""
    torch.manual_seed(8)
    stock = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU6() if name == "relu6" else nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1, groups=4)).to(dtype)  # fmt: skip
    _randomize(stock[0])
    fused = copy.deepcopy(stock)
    fused[0], fused[1] = batchnorm_act.fuse(fused[0], fused[1]), nn.Identity()
    return stock, fused


def _grads(model: nn.Module, x: torch.Tensor, grad: torch.Tensor, storage: bool, mode=None):  # noqa: ANN001
    from relukit.sparse import SparseStorage

    x = x.detach().clone().requires_grad_()
    model.zero_grad(set_to_none=True)
    with SavedTensorMeter(ignore=[x, *model.parameters()]) as meter:
        with SparseStorage() if storage else contextlib.nullcontext(), mode or contextlib.nullcontext():
            h = model[0](x)
            y = model[2](model[1](h))
    node = h.grad_fn.name()
    torch.autograd.backward(y, grad)
    return [x.grad, *(p.grad for p in model.parameters())], meter.saved_bytes, node, y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["relu", "relu6"])
def test_inside_sparse_storage_keeps_z_and_the_next_save_of_y_costs_nothing(name, dtype):
    from relukit import intercept

    stock, fused = _bn_relu_conv(name, dtype)
    x = torch.randn(3, 4, 6, 6, dtype=dtype) * 4  # both ends of relu6 reached
    grad = torch.randn(3, 4, 6, 6, dtype=dtype)
    plain, plain_bytes, plain_node, y_plain = _grads(fused, x, grad, storage=False)
    kept, kept_bytes, node, y = _grads(fused, x, grad, storage=True)
    under_lean, _, lean_node, _ = _grads(fused, x, grad, storage=True, mode=intercept.LeanMode())
    python, _, python_node, _ = _grads(fused, x, grad, storage=True, mode=_PassThrough())
    assert plain_node == python_node == "_PartlyInvertedBatchNormBackward"
    if relukit.backend() == "native":  # the C++ route (csrc/bnact.cpp), also under relukit's own LeanMode
        assert node == lean_node == "BatchNormReluBackward"
    assert torch.equal(y, y_plain) and torch.equal(y, stock(x))  # torch's own forward values
    for a, b, c, d in zip(plain, kept, under_lean, python):  # every route: the same bits
        assert torch.equal(a, b) and torch.equal(a, c) and torch.equal(a, d)
    per_channel = 4 * x.element_size()  # 1/std
    assert kept_bytes == x.numel() * x.element_size() + per_channel  # z; the convolution's y is derived from it
    assert kept_bytes < plain_bytes


def test_inside_sparse_storage_a_changed_output_raises_torchs_error():
    from relukit.sparse import SparseStorage

    _, fused = _bn_relu_conv("relu")
    with SparseStorage():
        y = fused[0](torch.randn(2, 4, 5, 5, requires_grad=True))
        out = fused[2](y)
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_inside_sparse_storage_running_statistics_are_batchnorms():
    stock, fused = _bn_relu_conv("relu6")
    x = torch.randn(3, 4, 6, 6)
    from relukit.sparse import SparseStorage

    with SparseStorage():
        fused(x.requires_grad_())
    stock(x)
    assert torch.equal(fused[0].running_mean, stock[0].running_mean)
    assert torch.equal(fused[0].running_var, stock[0].running_var)
    assert fused[0].num_batches_tracked == 1


class _BasicBlock(nn.Module):
    """torchvision's BasicBlock layout: one ReLU module after bn1 and after the residual add."""

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = activation
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("activation", [nn.ReLU(inplace=True), nn.ReLU6(), nn.LeakyReLU(0.1)])
def test_lean_abn_fuses_the_first_call_of_a_module_called_twice(activation, sparse):
    from relukit.batchnorm_act import SkipActivated

    torch.manual_seed(9)
    stock = nn.Sequential(_BasicBlock(activation), _BasicBlock(copy.deepcopy(activation))).double()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    lean = relukit.lean(copy.deepcopy(stock), sparse=sparse, abn=True, example_inputs=(x[:1],))
    row = relukit.lean_report(lean)["patterns"]["bn -> act (in-place activated BN)"]
    if isinstance(activation, nn.LeakyReLU):  # not idempotent: its second call could not skip it
        assert type(lean[0].bn1) is nn.BatchNorm2d and row["modules"] == []
        return
    assert type(lean[0].bn1) is rnn.BatchNormAct2d and type(lean[0].bn2) is nn.BatchNorm2d
    assert type(lean[0].relu) is SkipActivated and row["modules"] == ["0.relu#0", "1.relu#0"]
    assert lean.state_dict().keys() == stock.state_dict().keys()
    with SavedTensorMeter(ignore=[x]) as stock_meter:
        y_stock = stock(x)
    with SavedTensorMeter(ignore=[x]) as lean_meter:
        y_lean = lean(x)
    torch.testing.assert_close(y_lean, y_stock, rtol=1e-12, atol=1e-12)
    assert lean_meter.saved_bytes < stock_meter.saved_bytes
    y_stock.square().sum().backward()
    y_lean.square().sum().backward()
    for (name, a), b in zip(stock.named_parameters(), lean.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12, msg=name)
    lean.eval(), stock.eval()
    torch.testing.assert_close(lean(x), stock(x), rtol=1e-12, atol=1e-12)
    lean.train()
    torch.compile(lean, fullgraph=True, backend="aot_eager")(x).sum().backward()  # every call runs act there


def test_lean_trains_digits_to_stocks_accuracy_within_the_seed_spread():
    """benchmarks/lean_accuracy.py, shortened: the compare study's CNN with BatchNorm on digits, stock and
    lean(sparse=True, abn=True) from the same weights and batches, three seeds."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lean_accuracy.py"
    spec = importlib.util.spec_from_file_location("lean_accuracy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run(seeds=3, epochs=3)
    assert result["fused"] == 2  # BN -> ReLU and BN -> ReLU6
    assert min(row["stock"] for row in result["rows"]) > 0.9  # it learned
    assert result["largest_difference"] <= result["stock_spread"] + 1 / 450  # one test sample of 450


def test_skip_activated_names_bad_arguments():
    from relukit.batchnorm_act import SkipActivated

    with pytest.raises(ValueError, match="SkipActivated: activation must be relu or relu6.*'leaky_relu'"):
        SkipActivated(nn.LeakyReLU(), "leaky_relu")
    with pytest.raises(TypeError, match="SkipActivated: act must be an nn.Module, got builtin_function_or_method"):
        SkipActivated(torch.relu, "relu")


def test_skip_activated_runs_the_module_on_an_output_changed_in_place():
    from relukit.batchnorm_act import SkipActivated

    fused = rnn.BatchNormAct2d(3, activation="relu")
    skip = SkipActivated(nn.ReLU(), "relu")
    y = fused(torch.randn(2, 3, 4, 4))
    assert skip(y) is y  # the BatchNormAct's output as it came: relu(relu(z)) is relu(z)
    y.sub_(1.0)
    assert torch.equal(skip(y), torch.relu(y))  # changed since: the module runs

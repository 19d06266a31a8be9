"""relukit.intercept: every call style of the family is seen once, made lean when piecewise, and the mode
composes with other modes, tracers and torch's own errors."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from tests.cases import PARAMS
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

import relukit
from relukit import catalog, intercept
from relukit import functional as rf
from relukit._ops import packing
from relukit.diagnostics import DeadUnitMonitor, SavedTensorMeter

TORCH_FORMS = [
    (f, form) for f, form in intercept.FORMS.items() if form.member is not None and f is not getattr(rf, form.member)
]


def _form_id(item):
    function, _ = item
    for prefix, namespace in (("F", F), ("torch", torch), ("nn", torch._C._nn), ("Tensor", torch.Tensor)):
        if getattr(namespace, function.__name__, None) is function:
            return f"{prefix}.{function.__name__}"
    raise AssertionError(function)


def _call(function, form, x):
    """function(x, ...) with the member's non-default parameters: by position for torch's piecewise forms
    (the positional-argument binding of the lean path), else by keyword (gelu's approximate is keyword-only)."""
    params = dict(PARAMS[form.member][-1])
    if form.member == "prelu":
        return function(x, torch.full((1,), 0.25, dtype=x.dtype))
    if form.lean:
        return function(x, *params.values())
    return function(x, **params)


class _Wrapper(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function
        self.proj = nn.Linear(6, 6).double()

    def forward(self, x):
        return _call(self.function, intercept.FORMS[self.function], self.proj(x))


def test_the_forms_cover_every_member_in_every_call_style():
    members = {form.member for _, form in TORCH_FORMS}
    assert members == {m.name for m in catalog.MEMBERS} - {"rectify"}  # rectify: no torch function
    for function in (F.relu, F.relu_, torch.relu, torch.Tensor.relu, torch.Tensor.relu_, F.gelu, F.silu, F.mish):
        assert function in intercept.FORMS
    assert intercept.FORMS[F.relu6].member == "relu6" and intercept.FORMS[F.hardtanh_].inplace
    assert {form.member for f, form in intercept.FORMS.items() if form.lean} == {
        "relu",
        "relu6",
        "hardtanh",
        "threshold",
        "leaky_relu",
        "rrelu",
    }


@pytest.mark.parametrize("item", TORCH_FORMS, ids=_form_id)
def test_monitor_sees_every_torch_call_style_once(item):
    function, form = item
    torch.manual_seed(0)
    model = nn.Sequential(_Wrapper(function))
    x = torch.randn(40, 6, dtype=torch.float64)
    with torch.no_grad():
        expected = _call(function, form, model[0].proj(x))
    with DeadUnitMonitor(model) as monitor:
        model(x)
    (layer,) = monitor.report().layers
    assert (layer.name, layer.kind, layer.samples_seen) == (f"0/{form.member}#0", form.member, 40)
    assert layer.activation_rate == pytest.approx(float((expected > 0).double().mean()), abs=1e-15)


@pytest.mark.parametrize("item", [i for i in TORCH_FORMS if i[1].lean], ids=_form_id)
def test_lean_mode_saves_codes_with_bit_identical_values_and_gradients(item):
    function, form = item
    x = (torch.randn(64, 200) * 3).requires_grad_()

    def run(lean):
        with SavedTensorMeter() as meter, relukit.lean_mode() if lean else torch.enable_grad():
            y = _call(function, form, x * 1.0)
        (grad,) = torch.autograd.grad(y, x, torch.randn_like(y, generator=torch.Generator().manual_seed(1)))
        return y, grad, meter.saved_bytes

    y_torch, g_torch, _ = run(False)
    y_lean, g_lean, saved = run(True)
    assert torch.equal(y_lean, y_torch) and torch.equal(g_lean, g_torch)
    entry = catalog.BY_NAME[form.member]
    assert saved == packing.packed_size(x.numel(), entry.code_bits(**entry.bind("t", PARAMS[form.member][-1])))


@pytest.mark.parametrize("item", [i for i in TORCH_FORMS if not i[1].lean], ids=_form_id)
def test_lean_mode_leaves_smooth_members_to_torch(item):
    function, form = item
    x = torch.randn(16, 10, requires_grad=True)
    with relukit.lean_mode():
        y = _call(function, form, x * 1.0)
    reference = _call(function, form, x * 1.0)
    assert type(y.grad_fn) is type(reference.grad_fn) and torch.equal(y, reference)


class _Log(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.append(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


class _Mixed(nn.Module):
    """Functional calls in every style, a module activation and a relukit call."""

    def __init__(self):
        super().__init__()
        # a module outside the catalog: lean's module swap (not the mode) would change what other modes see
        self.a, self.b, self.act = nn.Linear(8, 16), nn.Linear(16, 16), nn.Softsign()

    def forward(self, x):
        x = F.relu(self.a(x))
        x = torch.relu_(self.b(x).relu() * 1.0)
        x = F.leaky_relu(self.act(x), 0.1)
        return F.gelu(x) + rf.relu6(x) + (2 * x).relu_()


def _seen_by_user_modes(setup):
    torch.manual_seed(0)
    model, x = setup(_Mixed()), torch.randn(4, 8, requires_grad=True)
    outer, inner = _Log(), _Log()

    class Inner(nn.Module):
        def forward(self, t):
            with inner:
                return model(t)

    with outer:
        y = Inner()(x)
    y.sum().backward()
    return outer.seen, inner.seen, y, [p.grad for p in model.parameters()]


def _monitored(model):
    DeadUnitMonitor(model).attach()
    return model


@pytest.mark.parametrize("setup", [relukit.lean, _monitored, lambda m: _monitored(relukit.lean(m))])
def test_user_modes_outside_and_inside_see_the_calls_they_saw_before(setup):
    outer, inner, y, grads = _seen_by_user_modes(lambda m: m)
    outer_ours, inner_ours, y_ours, grads_ours = _seen_by_user_modes(setup)
    assert "relu" in outer and "relu_" in outer and "leaky_relu" in inner
    assert outer_ours == outer and inner_ours == inner
    assert torch.equal(y_ours, y) and all(torch.equal(a, b) for a, b in zip(grads_ours, grads))


def test_autocast_and_flop_counter_keep_working():
    def run(setup):
        torch.manual_seed(0)
        model, x = setup(_Mixed()), torch.randn(4, 8)
        with FlopCounterMode(display=False) as flops, torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(x)
        y.float().sum().backward()
        return y, flops.get_total_flops(), [p.grad for p in model.parameters()]

    y, flops, grads = run(lambda m: m)
    assert y.dtype == torch.bfloat16 and flops > 0
    monitor_holder = []

    def monitored_and_lean(model):
        monitor_holder.append(DeadUnitMonitor(model).attach())
        return relukit.lean(model)

    y_ours, flops_ours, grads_ours = run(monitored_and_lean)
    assert flops_ours == flops and torch.equal(y_ours, y)
    assert all(torch.equal(a, b) for a, b in zip(grads_ours, grads))
    names = [layer.name for layer in monitor_holder[0].report().layers]
    assert names == ["relu#0", "relu#1", "relu#2", "act", "leaky_relu#0", "gelu#0", "relu6#0", "relu#3"]


def _outcome(fn):
    try:
        result = fn()
    except Exception as error:  # the error torch raises, compared as type and message
        return type(error), str(error)
    return "ok", result


LEAF = torch.randn(3, requires_grad=True)
BAD_CALLS = {
    "string input": lambda: F.relu("a"),
    "None input": lambda: torch.relu(None),
    "unknown keyword": lambda: F.relu(torch.randn(3, requires_grad=True) * 1, foo=1),
    "inplace on torch.relu": lambda: torch.relu(torch.randn(3), inplace=True),
    "missing threshold": lambda: F.threshold(torch.randn(3)),
    "string slope": lambda: F.leaky_relu(torch.randn(3, requires_grad=True) * 1, "a"),
    "in-place on a leaf": lambda: LEAF.relu_(),
    "in-place F on a leaf": lambda: F.leaky_relu(LEAF, 0.1, inplace=True),
    "too many arguments": lambda: torch.relu(torch.randn(3), 1),
    "integer tensor": lambda: F.relu6(torch.arange(-3, 3)),
    "min_val > max_val": lambda: F.hardtanh(torch.randn(3, requires_grad=True) * 1, 2.0, 1.0),
    "rrelu lower > upper": lambda: torch.rrelu(torch.ones(3, requires_grad=True) * 1, 0.5, 0.1),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_calls_get_torchs_own_error_or_result(name):
    expected = _outcome(BAD_CALLS[name])
    with relukit.lean_mode():
        lean = _outcome(BAD_CALLS[name])
    with _Log():
        logged = _outcome(BAD_CALLS[name])
    for got in (lean, logged):
        assert got[0] == expected[0]
        assert got[1] == expected[1] if expected[0] != "ok" else torch.equal(got[1], expected[1])


def test_unusual_arguments_fall_back_to_torch():
    x = torch.randn(50, requires_grad=True)
    with SavedTensorMeter() as meter, relukit.lean_mode():
        hidden = x * 1.0
        a = F.leaky_relu(hidden, torch.tensor(0.3))  # a tensor slope: torch's op
        b = F.hardtanh(hidden, -1, max_val=torch.tensor(2.0))  # a tensor bound: torch's op
        c = F.rrelu(hidden, training=True)  # sampled slopes: torch's op
    assert type(a.grad_fn).__name__ == "LeakyReluBackward0" and type(c.grad_fn).__name__.startswith("Rrelu")
    assert type(b.grad_fn).__name__ == "HardtanhBackward0" and torch.equal(b, F.hardtanh(hidden, -1, 2.0))
    assert "uint8" not in meter.by_dtype  # no packed codes


def test_nothing_stays_installed_and_a_failing_forward_leaves_no_mode():
    class Failing(nn.Module):
        def forward(self, x):
            F.relu(x)
            raise ValueError("boom")

    model = relukit.lean(Failing(), sparse=True)
    with pytest.raises(ValueError, match="boom"):
        model(torch.randn(2))
    assert torch._C._len_torch_function_stack() == 0
    assert torch._C._autograd._top_saved_tensors_default_hooks(False) is None  # the sparse storage is left
    model = relukit.lean(relukit.lean(_Mixed(), sparse=True), sparse=True)  # idempotent: one scope, one plan
    assert len(model._forward_pre_hooks) == 2
    with DeadUnitMonitor(model):
        model(torch.randn(2, 8))
    assert torch._C._len_torch_function_stack() == 0
    from torch.nn.modules import module as torch_module

    assert not torch_module._global_forward_pre_hooks and not torch_module._global_forward_hooks


def test_nested_lean_scopes_and_lean_mode_terminate_and_stay_exact():
    torch.manual_seed(0)
    outer = nn.Sequential(relukit.lean(_Mixed()), nn.ReLU())
    relukit.lean(outer)
    x = torch.randn(3, 8, requires_grad=True)
    with relukit.lean_mode():
        y = outer(x)
    reference = copy.deepcopy(outer)
    for module in reference.modules():
        module._forward_pre_hooks.clear()
        module._forward_hooks.clear()
    assert torch.equal(y, nn.Sequential(*reference)(x))


def test_lean_through_the_mode_saves_what_lean_through_modules_saves():
    class Net(nn.Module):
        def __init__(self, functional):
            super().__init__()
            torch.manual_seed(0)
            self.functional = functional
            self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(4))
            self.acts = nn.ModuleList([nn.ReLU(), nn.LeakyReLU(0.1), nn.Hardtanh(-2.0, 2.0), nn.ReLU6()])
            self.keep = nn.ReLU()  # a module in both nets

        def forward(self, x):
            calls = (F.relu, lambda t: F.leaky_relu(t, 0.1), lambda t: F.hardtanh(t, -2.0, 2.0), F.relu6)
            for layer, act, call in zip(self.layers, self.acts, calls):
                x = call(layer(x)) if self.functional else act(layer(x))
            return self.keep(x).sum(1)

    x = torch.randn(32, 64)

    def measure(functional, lean):
        model = Net(functional)
        model = relukit.lean(model) if lean else model
        with SavedTensorMeter(ignore=[x]) as meter:
            y = model(x)
        return meter.saved_bytes, y

    stock, y_stock = measure(True, False)
    by_mode, y_mode = measure(True, True)
    by_modules, y_modules = measure(False, True)
    assert by_mode == by_modules < stock
    assert torch.equal(y_mode, y_stock) and torch.equal(y_modules, y_stock)


def test_compile_and_torch_func_see_torchs_ops():
    torch.manual_seed(0)
    model = relukit.lean(_Mixed())
    x = torch.randn(4, 8, requires_grad=True)
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm.code)
        return gm.forward

    compiled = torch.compile(model, backend=backend)(x)
    assert torch.equal(compiled, model(x))
    assert graphs and "relu" in graphs[0]
    grad = torch.func.grad(lambda t: model(t).sum())(x)
    (reference,) = torch.autograd.grad(model(x).sum(), x)
    assert torch.equal(grad, reference)


def test_a_lean_model_survives_deepcopy_and_pickle():
    model = relukit.lean(_Mixed())
    x = torch.randn(16, 8)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        with SavedTensorMeter(ignore=[x]) as ours:
            y = clone(x)
        with SavedTensorMeter(ignore=[x]) as stock:
            reference = _Mixed.forward(clone, x)
        assert torch.equal(y, reference) and ours.saved_bytes < stock.saved_bytes

"""The catalog's own invariants: names, kinds, parameters, lookup, and the torch names it claims."""

from __future__ import annotations

import inspect
import math

import array_api_compat.numpy as xp
import numpy as np
import pytest
import torch

from relukit import catalog
from relukit import formulas as fx
from relukit.membermap import _formula_names

MEMBERS = catalog.MEMBERS
ids = {"ids": lambda entry: entry.name}


def test_names_and_aliases_are_unique_lower_case_identifiers():
    keys = [key for entry in MEMBERS for key in (entry.name, *entry.aliases)]
    assert len(keys) == len(set(keys)), sorted(key for key in keys if keys.count(key) > 1)
    assert all(key.isidentifier() and key == key.lower() for key in keys)
    assert list(catalog.BY_NAME) == [entry.name for entry in MEMBERS]
    modules = [entry.module for entry in MEMBERS]
    assert len(modules) == len(set(modules)) and all(modules)


def defaults(entry: catalog.Activation) -> dict:
    """The members' parameters at their defaults; a required one gets a value that its check accepts."""
    required = {"threshold": 0.5, "value": -1.0}
    return {p.name: required[p.name] if p.default is catalog.REQUIRED else p.default for p in entry.params}


@pytest.mark.parametrize("entry", MEMBERS, **ids)
def test_each_member_is_piecewise_or_smooth_never_both(entry):
    if entry.piecewise_linear:
        assert entry.derivative is None and entry.slopes is not None
        slopes = entry.slopes(**defaults(entry))
        assert len(slopes) in (2, 3) and all(isinstance(s, float) and math.isfinite(s) for s in slopes)
        assert entry.code_bits(**defaults(entry)) == (1 if len(slopes) == 2 else 2)
        assert entry.backward in ("select", "multiply")
    else:
        assert entry.derivative is not None and entry.codes is None and entry.slopes is None


def test_code_bits_follow_the_number_of_regions():
    rectify = catalog.BY_NAME["rectify"]
    assert rectify.code_bits(negative_slope=0.0, max_value=None, threshold=0.0) == 1
    assert len(rectify.slopes(negative_slope=0.1, max_value=6.0, threshold=0.0)) == 3
    assert rectify.code_bits(negative_slope=0.1, max_value=6.0, threshold=0.0) == 2


@pytest.mark.parametrize("entry", [m for m in MEMBERS if m.piecewise_linear], **ids)
def test_codes_index_slopes_and_give_the_derivative_away_from_kinks(entry):
    """slopes[codes(x)] equals a central difference of forward at points away from every kink."""
    params = defaults(entry)
    x = np.linspace(-7.3, 7.7, 301) + 0.0123  # steps of 0.05 that miss every default kink (0, 6, +-1, 0.5)
    codes = np.asarray(entry.codes(x, xp, **params)).astype(np.int64)
    slopes = np.asarray(entry.slopes(**params))
    assert codes.min() >= 0 and codes.max() < len(slopes)
    h = 1e-6
    numeric = (entry.forward(x + h, xp, **params) - entry.forward(x - h, xp, **params)) / (2 * h)
    np.testing.assert_allclose(slopes[codes], numeric, atol=1e-6)


@pytest.mark.parametrize("entry", MEMBERS, **ids)
def test_every_param_default_passes_its_own_check(entry):
    for param in entry.params:
        if param.default is catalog.REQUIRED:
            continue
        assert param.check(entry.name, param.name, param.default) == param.default
    assert entry.bind(entry.name, {k: v for k, v in defaults(entry).items()}) == defaults(entry)


def test_checks_reject_bad_values_naming_function_argument_and_value():
    slope = catalog.BY_NAME["leaky_relu"].params[0]
    with pytest.raises(ValueError, match=r"leaky_relu: negative_slope must be finite, got nan"):
        slope.check("leaky_relu", "negative_slope", math.nan)
    with pytest.raises(TypeError, match=r"leaky_relu: negative_slope must be a real number, got True"):
        slope.check("leaky_relu", "negative_slope", True)
    with pytest.raises(ValueError, match=r"softplus: beta must be > 0, got 0"):
        catalog.BY_NAME["softplus"].bind("softplus", {"beta": 0})
    with pytest.raises(ValueError, match=r"hardtanh: min_val must be <= max_val, got min_val=2, max_val=1"):
        catalog.BY_NAME["hardtanh"].bind("hardtanh", {"min_val": 2, "max_val": 1})
    with pytest.raises(TypeError, match=r"threshold: missing required argument\(s\) \['threshold', 'value'\]"):
        catalog.BY_NAME["threshold"].bind("threshold", {})


@pytest.mark.parametrize("entry", MEMBERS, **ids)
def test_lookup_is_case_and_dash_insensitive(entry):
    for key in (entry.name, *entry.aliases):
        for spelling in (key, key.upper(), key.replace("_", "-"), key.title().replace("_", "-")):
            assert catalog.lookup(spelling) is entry


def test_lookup_error_lists_every_member():
    with pytest.raises(ValueError, match="unknown activation 'relu7'") as error:
        catalog.lookup("relu7")
    assert str(error.value).endswith("available: " + ", ".join(entry.name for entry in MEMBERS))


@pytest.mark.parametrize("entry", MEMBERS, **ids)
def test_torch_names_exist_where_claimed(entry):
    """torch_op is a function of torch.nn.functional, module a torch.nn class whose constructor takes the
    member's parameters and ``inplace`` exactly when the catalog says so (rectify alone is relukit's own)."""
    if entry.torch_op is None:
        assert not hasattr(torch.nn, entry.module) and not entry.torch_inplace
        return
    assert callable(getattr(torch.nn.functional, entry.torch_op))
    constructor = set(inspect.signature(getattr(torch.nn, entry.module)).parameters)
    assert ("inplace" in constructor) == entry.torch_inplace, entry.module
    assert {p.name for p in entry.params} <= constructor, entry.module


@pytest.mark.parametrize("entry", MEMBERS, **ids)
def test_the_catalog_binds_formulas_named_by_member(entry):
    """No math inline in the catalog: every formula is a function of relukit.formulas whose name starts with
    the member's (``leaky_relu_codes``), or relu's two-region ``relu_slopes`` shared by the clipping members."""
    callables = [entry.forward, entry.derivative, entry.codes, entry.slopes, entry.torch_formula]
    for function in (f for f in callables if f is not None):
        assert function.__module__ == fx.__name__ and function.__name__ != "<lambda>", function
        assert function.__name__.startswith(entry.name) or function is fx.relu_slopes, function.__name__


@pytest.mark.parametrize("entry", MEMBERS, **ids)
def test_formulas_referenced_exist_in_formulas(entry):
    callables = [entry.forward, entry.derivative, entry.codes, entry.slopes, entry.torch_formula]
    for function in (f for f in callables if f is not None):
        module = inspect.getmodule(function).__name__
        assert module in ("relukit.formulas", "relukit.catalog"), function
        for name in _formula_names(function):
            assert inspect.isfunction(getattr(fx, name)) and getattr(fx, name).__module__ == fx.__name__


def test_kernel_forward_is_torch_formula_when_given():
    leaky, elu = catalog.BY_NAME["leaky_relu"], catalog.BY_NAME["elu"]
    assert leaky.kernel_forward is leaky.torch_formula and elu.kernel_forward is elu.forward
    x = torch.tensor([-2.0, -0.0, 3.0])
    assert torch.equal(leaky.kernel_forward(x, torch, 0.0), torch.nn.functional.leaky_relu(x, 0.0))


@pytest.mark.parametrize("entry", MEMBERS, **ids)
def test_takes_weight_means_a_learned_tensor_beside_the_input(entry):
    """prelu's slope is a learned per-channel tensor: torch's module holds it as ``weight``; no Param."""
    module = getattr(torch.nn, entry.module, None)
    if entry.takes_weight:
        assert isinstance(module().weight, torch.nn.Parameter) and not entry.params
    elif module is not None:
        assert not any(isinstance(p, torch.nn.Parameter) for p in module(**defaults(entry)).parameters())


def test_optional_parts_are_small_frozen_records_with_named_defaults():
    """The entry holds what every member has; codes, torch binding, dtype policy and docs extras are records."""
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(catalog.Activation)}
    for record, name in [
        (catalog.PiecewiseLinear, "piecewise"),
        (catalog.TorchBinding, "torch"),
        (catalog.DtypePolicy, "dtypes"),
        (catalog.Docs, "docs"),
    ]:
        assert dataclasses.is_dataclass(record) and record.__dataclass_params__.frozen and name in fields
    defaults = [f.default for f in fields.values() if callable(f.default)]
    assert defaults and all(d.__name__ != "<lambda>" for d in defaults)
    for entry in MEMBERS:
        assert (entry.piecewise is None) == (entry.derivative is not None), entry.name
        assert entry.torch_op == (entry.torch.op if entry.torch else None)
        assert entry.slopes is (entry.piecewise.slopes if entry.piecewise else None)

"""docs/members.md's "in the code" lines: every file they link exists and every name they give resolves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch

from relukit import catalog, membermap
from relukit import formulas as fx

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "members.md"


def resolve(name: str):
    """(module, value): importlib for the longest importable prefix of ``name``, getattr for the rest."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            module = value = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[end:]:
            value = getattr(value, attribute)
        return module, value
    raise ModuleNotFoundError(name)


def all_pointers(entry: catalog.Activation) -> list[membermap.Pointer]:
    callables = [entry.forward, entry.codes, entry.slopes, entry.derivative]
    found = [p for function in callables if function is not None for p in membermap.formula_pointers(entry, function)]
    found += [membermap.pointer(f"relukit.functional.{entry.name}"), membermap.pointer(f"relukit.nn.{entry.module}")]
    return found + [p for _, where in membermap.backward_route(entry) for p in where]


@pytest.mark.parametrize("entry", catalog.MEMBERS, ids=lambda e: e.name)
def test_every_pointer_resolves_to_a_name_in_its_file(entry):
    for pointer in all_pointers(entry):
        module, value = resolve(pointer.name)
        assert value is not module, pointer  # a name inside the module, not the module itself
        assert Path(module.__file__).resolve() == (ROOT / pointer.path).resolve(), pointer


@pytest.mark.parametrize("entry", catalog.MEMBERS, ids=lambda e: e.name)
def test_op_and_layer_are_the_members_own(entry):
    op = resolve(f"relukit.functional.{entry.name}")[1]
    layer = resolve(f"relukit.nn.{entry.module}")[1]
    assert callable(op) and op.__name__ == entry.name
    assert issubclass(layer, torch.nn.Module) and layer.activation_name == entry.name


def test_formula_pointers_follow_the_catalogs_calls():
    by_name = catalog.BY_NAME
    assert [p.name for p in membermap.formula_pointers(by_name["rrelu"], by_name["rrelu"].forward)] == [
        "relukit.formulas.rrelu"
    ]
    assert [p.name for p in membermap.formula_pointers(by_name["selu"], by_name["selu"].derivative)] == [
        "relukit.formulas.selu_derivative"
    ]
    # a lambda calling formulas names each formula it calls
    assert membermap._formula_names(lambda x, xp: fx.leaky_relu(x, xp, 0.5)) == ["leaky_relu"]
    # an attribute of xp that shares a formula's name is not a call of the formula
    assert membermap._formula_names(lambda x, xp: xp.sigmoid(x)) == []
    assert membermap._formula_names(lambda x, xp: fx.sigmoid(x, xp) * fx.silu(x, xp)) == ["sigmoid", "silu"]
    assert membermap._formula_names(fx.mish) == ["mish"]


def test_backward_routes_follow_the_members_kind():
    relu, mish, gelu = (membermap.backward_route(catalog.BY_NAME[n]) for n in ("relu", "mish", "gelu"))
    assert "relukit._ops.piecewise.lean_backward" in [p.name for _, where in relu for p in where]
    assert [p.name for p in mish[0][1]] == ["relukit._ops.mish.mish_backward", "relukit._ops.mish.applies"]
    assert len(gelu) == 1 and "torch.nn.functional.gelu" in gelu[0][0]


def test_every_member_has_tests_and_is_in_the_parity_matrix():
    assert membermap.matrix_members() == set(catalog.BY_NAME)
    for entry in catalog.MEMBERS:
        by_name, by_matrix = membermap.test_files(entry)
        assert by_matrix and "tests/test_functional.py" in by_matrix
        assert all((ROOT / path).is_file() for path in by_name + by_matrix)
    assert "tests/test_mish.py" in membermap.test_files(catalog.BY_NAME["mish"])[0]


def test_every_link_of_the_page_exists():
    links = re.findall(r"\]\(\.\./([^)#]+)\)", PAGE.read_text())
    assert len(links) > 10 * len(catalog.MEMBERS)
    missing = sorted({link for link in links if not (ROOT / link).exists()})
    assert not missing, missing
    for entry in catalog.MEMBERS:
        assert "\n".join(membermap.member_lines(entry)) in PAGE.read_text()


@pytest.mark.parametrize("layer", membermap.KAF_LAYERS)
def test_kaf_pointers_resolve_and_the_page_carries_them(layer):
    for pointer in (p for where in membermap.kaf_pointers(layer).values() for p in where):
        module, value = resolve(pointer.name)
        assert value is not module and Path(module.__file__).resolve() == (ROOT / pointer.path).resolve(), pointer
    assert resolve(f"relukit.kaf.{layer}")[1] is resolve(f"relukit.nn.{layer}")[1]
    assert "\n".join(membermap.kaf_lines(layer)) in PAGE.read_text()
    assert "tests/test_kaf.py" in "\n".join(membermap.kaf_lines(layer))

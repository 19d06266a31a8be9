"""The type stubs (src/relukit/*.pyi) and docs/api.md are current and say what the runtime does.

The static tools themselves (stubtest, mypy, jedi) run in tests/test_stubs_static.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import torch.nn.functional as F

import relukit.array as ra
import relukit.functional as rf
from relukit import apidoc, catalog, stubs
from relukit.fewbit import smooth_members

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TYPING = ROOT / "tests" / "typing"


def test_stubs_and_api_page_are_current():
    problems = stubs.stale() + apidoc.stale()
    assert not problems, "\n".join(problems)


def test_a_stale_stub_says_which_name_and_how_to_regenerate(tmp_path, monkeypatch):
    stubs.write(root=tmp_path)
    assert stubs.stale(root=tmp_path) == []
    signature = inspect.signature(rf.leaky_relu)
    renamed = [p.replace(name="slope") if p.name == "negative_slope" else p for p in signature.parameters.values()]
    monkeypatch.setattr(rf.leaky_relu, "__signature__", signature.replace(parameters=renamed))
    elu = inspect.signature(ra.elu)
    changed = [p.replace(default=2.0) if p.name == "alpha" else p for p in elu.parameters.values()]
    monkeypatch.setattr(ra.elu, "__signature__", elu.replace(parameters=changed))
    new_member = rf._make(dataclasses.replace(catalog.BY_NAME["silu"], name="swish2"))  # as if added to the catalog
    monkeypatch.setattr(rf, "swish2", new_member, raising=False)
    monkeypatch.setattr(rf, "__all__", [*rf.__all__, "swish2"])
    problems = stubs.stale(root=tmp_path)
    assert len(problems) == 2, problems
    array, functional = sorted(problems)
    assert array.startswith("array.pyi is stale (relukit.array: changed: elu)")
    assert "changed: __all__, leaky_relu; missing from the stub: swish2" in functional
    assert all("regenerate with `make stubs` (python -m relukit.stubs)" in p for p in problems)


def test_a_new_parameter_appears_with_its_type(monkeypatch):
    """A parameter added to a generated signature (few-bit backward's ``bits``, say) reaches the stubs."""
    P = inspect.Parameter
    gelu = inspect.signature(rf.gelu)
    offset = P("offset", P.KEYWORD_ONLY, default=3)
    monkeypatch.setattr(rf.gelu, "__signature__", gelu.replace(parameters=[*gelu.parameters.values(), offset]))
    mish = inspect.signature(ra.mish)
    annotated = P("bits", P.KEYWORD_ONLY, default=None, annotation="int | None")
    monkeypatch.setattr(ra.mish, "__signature__", mish.replace(parameters=[*mish.parameters.values(), annotated]))
    functional, array = stubs.module_stub("relukit.functional"), stubs.module_stub("relukit.array")
    assert (
        'def gelu(input: torch.Tensor, approximate: str = "none", *, bits: int | None = None, offset: int = 3)'
        in functional
    )
    assert "def mish(x: float, /, *, bits: int | None = None) -> float:" in array
    assert "def mish(x: _ArrayT, /, *, bits: int | None = None) -> _ArrayT:" in array


def test_functional_stubs_carry_torchs_names_and_defaults():
    """Checked against torch.nn.functional itself (where its functions have Python signatures)."""
    text = stubs.stub_path("relukit.functional").read_text()
    compared = 0
    for entry in catalog.MEMBERS:
        try:
            reference = inspect.signature(getattr(F, entry.torch_op or ""))
        except (AttributeError, TypeError, ValueError):  # no torch function, or a builtin without a signature
            continue
        stub = re.search(rf"^def {entry.name}\((.*?)\) ->", text, re.M | re.S)
        assert stub, f"no stub for {entry.name}"
        expected = [
            p.name if p.default is p.empty else f"{p.name}: .* = {p.default!r}" for p in reference.parameters.values()
        ]
        given = [part.strip() for part in stub.group(1).split(",") if part.strip()]
        if entry.name in smooth_members():  # relukit's own keyword-only bits (few-bit backward) comes last
            assert given[-2:] == ["*", "bits: int | None = None"], (entry.name, given)
            given = given[:-2]
        assert len(given) == len(expected), (entry.name, given, expected)
        for part, pattern in zip(given, expected):
            assert re.fullmatch(rf"{pattern}(: .*)?", part), (entry.name, part, pattern)
        compared += 1
    assert compared >= 9


def test_py_typed_ships_with_the_stubs():
    assert (SRC / "relukit" / "py.typed").exists()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'relukit = \[.*"py\.typed".*"\*\.pyi".*\]', pyproject)


def test_example_runs_as_its_types_say():
    spec = importlib.util.spec_from_file_location("api_usage", TYPING / "api_usage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()


def test_check_command(capsys):
    assert stubs.main(["--check"]) == 0
    assert capsys.readouterr().out.strip() == "stubs and docs/api.md are current"


def test_api_page_has_every_public_name_with_signature_formula_and_summary():
    text = apidoc.PAGE.read_text()
    for module_name in apidoc.DOCUMENTED:
        module = importlib.import_module(module_name)
        section = text.split(f"## `{module_name}`\n", 1)[1].split("\n## ", 1)[0]
        for name in module.__all__:
            assert re.search(rf"^- `{name}[(:`]", section, re.M), f"{module_name}.{name} is not on docs/api.md"
    leaky = catalog.BY_NAME["leaky_relu"]
    assert (
        "- `leaky_relu(input: torch.Tensor, negative_slope: float = 0.01, inplace: bool = False) -> torch.Tensor`  \n"
        f"  ${leaky.formula}$  \n  {leaky.summary}\n"
    ) in text
    assert "- `mish_derivative(x: float | Array, /) -> float | Array`" in text
    assert "[docs/api.md](docs/api.md)" in (ROOT / "README.md").read_text()

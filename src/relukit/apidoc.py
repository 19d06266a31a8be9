"""docs/api.md: every public name of relukit's API with its signature, formula and one-line summary.

Generated from the same runtime introspection as the type stubs (:mod:`relukit.stubs`), by the same
command (``python -m relukit.stubs``); a test fails when the page is stale.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path
from typing import Any

from relukit import stubs, stubtext

DOCUMENTED = (*stubs.STUBBED, "relukit.diagnostics")
PAGE = stubs.ROOT.parents[1] / "docs" / "api.md"

INTRO = """# API reference

Every public name of `relukit`, `relukit.array`, `relukit.functional`, `relukit.nn` and `relukit.diagnostics`:
its signature, its formula where it has one, and the first line of its docstring. This page is generated
from the runtime by `python -m relukit.stubs` (`make stubs`), with the type stubs (`src/relukit/*.pyi`);
a test fails when either is stale. In `relukit.array`, `Array` is any array-API array (NumPy, torch,
CuPy, JAX, array-api-strict): a function given a Python number returns a float, one given an array
returns an array of the same type. Derivations, figures and papers of the members: [members.md](members.md).
"""


def formula(obj: Any) -> str:
    """The catalog formula of a member (module or function), else the docstring's first ``.. math::``."""
    from relukit import catalog

    name = getattr(obj, "activation_name", None)
    if isinstance(name, str) and name in catalog.BY_NAME:
        return catalog.BY_NAME[name].formula
    match = re.search(r"\.\. math::(.*?)(?:\n\s*\n|$)", inspect.getdoc(obj) or "", re.S)
    return " ".join(match.group(1).split()) if match else ""


def signature(name: str, obj: Any, module: str) -> str:
    """``name(parameters) -> return`` as the stub types it; overloads merged (``float | Array``)."""
    imports = stubtext.Imports(module)
    if inspect.isclass(obj):
        variants = stubtext.signature_variants(stubtext.constructor(obj), module, imports, method=True)
        parameters = stubtext.split_parameters(variants[0][0])[1:]  # without self
        return f"{name}({', '.join(parameters)})"
    variants = stubtext.signature_variants(obj, module, imports)
    parameters, returns = variants[0]
    if len(variants) > 1:
        inputs = " | ".join(v[1] for v in variants)
        first, *rest = stubtext.split_parameters(parameters)
        parameters = ", ".join([f"{first.split(':')[0]}: {inputs}", *rest])
        returns = inputs
    text = f"{name}({parameters})" + (f" -> {returns}" if returns else "")
    return text.replace("_ArrayT", "Array").replace("_Array", "Array")


def entry(name: str, obj: Any, module: str) -> list[str]:
    if isinstance(obj, types.ModuleType):
        return [f"- `{name}`: {stubtext.summary(obj)} (module `{obj.__name__}`)"]
    if not callable(obj):
        module_object = importlib.import_module(module)
        return [f"- `{name}: {stubs.constant_type(module_object, name, stubtext.Imports(module))}`"]
    lines = [f"- `{signature(name, obj, module)}`  "]
    math = formula(obj)
    if math:
        lines.append(f"  ${math}$  ")
    lines.append(f"  {stubtext.summary(obj)}")
    return lines


def page() -> str:
    lines = [INTRO.rstrip()]
    for module_name in DOCUMENTED:
        module = importlib.import_module(module_name)
        lines += ["", f"## `{module_name}`", "", stubtext.summary(module), ""]
        for name in stubs.public_names(module):
            lines += entry(name, getattr(module, name), module_name)
    return "\n".join(lines) + "\n"


def stale(path: Path = PAGE) -> list[str]:
    if path.exists() and path.read_text() == page():
        return []
    return [f"{path.name} is stale (an API name, signature, formula or summary changed): {stubs.REGENERATE}"]


def write(path: Path = PAGE) -> list[Path]:
    text = page()
    if path.exists() and path.read_text() == text:
        return []
    path.write_text(text)
    return [path]

"""Type stubs for the modules whose members are made at import time, generated from the runtime.

``relukit.array``, ``relukit.functional`` and ``relukit.nn`` create their members from the catalog, and
``relukit`` loads its submodules and registry functions on first use, so static tools (mypy, pyright,
jedi) see none of them in the source. ``python -m relukit.stubs`` (``make stubs``) imports each module,
reads every public name's runtime signature (``inspect.signature``) and annotations, and writes
``<module>.pyi`` next to it, plus ``docs/api.md`` (:mod:`relukit.apidoc`); ``--check`` only reports what
is stale, and so does a test. Nothing is listed by hand: a member added to the catalog, or a parameter
added to the generated signatures, appears on regeneration.

Types are the runtime annotations, rendered as written. The catalog-generated functions carry none;
they are typed from their signature (:func:`relukit.stubtext.inferred_type`): the input and the return are the module's
array type (``torch.Tensor`` in ``relukit.functional``; in ``relukit.array`` two overloads: a Python
number gives a float, an array gives an array of its own type), a required catalog parameter (threshold's
``value``) is a float, any other required one (prelu's ``weight``) the module's array type, and a
parameter with a default has its default's type (``None``: ``float | None``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

from relukit.stubtext import FLAVORS, Imports, class_lines, docstring, function_lines, render_type, summary, value_type

STUBBED = ("relukit", "relukit.array", "relukit.functional", "relukit.nn")
ROOT = Path(__file__).resolve().parent  # src/relukit
HEADER = "# Generated from the runtime by `python -m relukit.stubs` (make stubs); do not edit.\n"
REGENERATE = "regenerate with `make stubs` (python -m relukit.stubs)"


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------
def public_names(module: types.ModuleType) -> list[str]:
    """``__all__`` in order, then the other public names the module itself defines or annotates."""
    names = list(getattr(module, "__all__", []))
    own = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    }
    own |= {name for name in vars(module).get("__annotations__", {}) if not name.startswith("_")}
    return names + sorted(own - set(names))


def _defined_elsewhere(value: Any, module: str) -> bool:
    return (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ != module


def constant_type(module: types.ModuleType, name: str, imports: Imports) -> str:
    """A module variable's annotation, else its value's type."""
    hints = typing.get_type_hints(module)
    if name in hints:
        return render_type(hints[name], imports)
    return value_type(getattr(module, name), imports)


def module_stub(module_name: str) -> str:
    """The text of ``<module>.pyi``."""
    module = importlib.import_module(module_name)
    imports = Imports(module_name)
    items: list[list[str]] = []
    if hasattr(module, "__version__"):
        items.append([f"__version__: {type(module.__version__).__name__}"])
    for name in public_names(module):
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            parent, _, leaf = value.__name__.rpartition(".")
            imports.reexports.add((parent, leaf, name))
        elif _defined_elsewhere(value, module_name):
            imports.reexports.add((value.__module__, value.__name__, name))
        elif inspect.isclass(value):
            items.append(class_lines(name, value, module_name, imports))
        elif callable(value):
            items.append(function_lines(name, value, module_name, imports))
        else:
            items.append([f"{name}: {constant_type(module, name, imports)}"])
    flavor = FLAVORS.get(module_name)
    if flavor and flavor.preamble:
        items.insert(0, flavor.preamble.splitlines())
    if hasattr(module, "__all__"):
        items.insert(0, ["__all__ = [", *(f'    "{name}",' for name in module.__all__), "]"])
    doc = summary(module)
    lines = [*docstring(doc, ""), "", HEADER.rstrip(), *imports.lines(), ""]
    for index, item in enumerate(items):
        previous = items[index - 1] if index else None
        compact = previous and previous[-1].endswith(": ...") and item[0].startswith(("def ", "@overload"))
        lines += item if compact or index == 0 else ["", *item]
    return "\n".join(lines) + "\n"


def stub_path(module_name: str, root: Path = ROOT) -> Path:
    """src/relukit/<module>.pyi (``__init__.pyi`` for the package)."""
    relative = module_name.split(".")[1:] or ["__init__"]
    return root.joinpath(*relative).with_suffix(".pyi")


def _entries(text: str) -> dict[str, str]:
    """Top-level name -> its source text (overloads together), for saying which names differ."""
    entries: dict[str, str] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                entries[alias.asname or alias.name] = f"from {node.module} import {alias.name}"
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue
        entries[name] = entries.get(name, "") + (ast.get_source_segment(text, node) or "")
    return entries


def difference(module_name: str, old: str, new: str) -> str:
    """Which names differ between a stub's old and new text."""
    before, after = _entries(old) if old else {}, _entries(new)
    groups = (
        ("changed", sorted(name for name in before.keys() & after.keys() if before[name] != after[name])),
        ("missing from the stub", sorted(after.keys() - before.keys())),
        ("no longer at runtime", sorted(before.keys() - after.keys())),
    )
    return "; ".join(f"{label}: {', '.join(names)}" for label, names in groups if names) or "layout"


def stale(module_names: tuple[str, ...] = STUBBED, root: Path = ROOT) -> list[str]:
    """One line per stub that differs from what the runtime gives, naming the names that differ."""
    problems = []
    for module_name in module_names:
        path, new = stub_path(module_name, root), module_stub(module_name)
        old = path.read_text() if path.exists() else ""
        if old != new:
            problems.append(f"{path.name} is stale ({module_name}: {difference(module_name, old, new)}); {REGENERATE}")
    return problems


def write(module_names: tuple[str, ...] = STUBBED, root: Path = ROOT) -> list[Path]:
    """Writes every stub that changed; returns their paths."""
    written = []
    for module_name in module_names:
        path, text = stub_path(module_name, root), module_stub(module_name)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m relukit.stubs [--check]``: writes (or checks) the stubs and docs/api.md."""
    from relukit import apidoc

    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        problems = stale() + apidoc.stale()
        print("\n".join(problems) or "stubs and docs/api.md are current")
        return 1 if problems else 0
    for path in write() + apidoc.write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

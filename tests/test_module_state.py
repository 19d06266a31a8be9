"""No module of relukit assigns or mutates another relukit module's globals: switches are passed or read once,
and extension points are registration functions or context managers of the module that owns the state."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "relukit"
MUTATORS = {"append", "extend", "insert", "remove", "pop", "clear", "add", "discard", "update", "setdefault"}


def _module_aliases(tree: ast.Module) -> set[str]:
    """Names bound to a relukit module: ``from relukit import functional``, ``import relukit.x as y``."""
    names = {"relukit"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("relukit"):
            names |= {alias.asname or alias.name for alias in node.names}  # may bind functions too: filtered below
        elif isinstance(node, ast.Import):
            names |= {
                alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name.startswith("relukit")
            }
    return names


def _modules_of_package() -> set[str]:
    return {p.stem if p.name != "__init__.py" else p.parent.name for p in SRC.rglob("*.py")} | {"relukit"}


def foreign_mutations(path: Path) -> list[str]:
    """``module.attr = ...``, ``module.attr += ...``, ``module.attr.append(...)``, ``setattr(module, ...)``
    where ``module`` is a name bound to a relukit module in ``path``."""
    tree = ast.parse(path.read_text())
    modules = _module_aliases(tree) & _modules_of_package()
    found = []

    def is_module_attribute(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules

    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        found += [f"{path.name}:{node.lineno} {ast.unparse(t)}" for t in targets if is_module_attribute(t)]
        subscripts = [t.value for t in targets if isinstance(t, ast.Subscript)]
        found += [f"{path.name}:{node.lineno} {ast.unparse(s)}[...]" for s in subscripts if is_module_attribute(s)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in MUTATORS and is_module_attribute(node.func.value):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node.func)}(...)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in modules:
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return sorted(found, key=lambda line: int(line.split(" ")[0].split(":")[1]))


def test_no_module_of_relukit_mutates_another_modules_globals():
    found = [line for path in sorted(SRC.rglob("*.py")) for line in foreign_mutations(path)]
    assert found == []


def test_the_scan_sees_assignment_augmented_assignment_and_mutating_calls(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text(
        "from relukit import functional\nimport relukit.kernels as kernels\nfrom relukit._ops import allocator\n"
        "functional.observers.append(print)\nkernels.FLAG = True\nallocator.DEVICES += ('cuda',)\n"
        "functional.table['x'] = 1\nsetattr(functional, 'y', 2)\nlocal = []\nlocal.append(1)\n"
    )
    assert [line.split(" ", 1)[1] for line in foreign_mutations(path)] == [
        "functional.observers.append(...)",
        "kernels.FLAG",
        "allocator.DEVICES",
        "functional.table[...]",
        "setattr(functional, 'y', 2)",
    ]

"""relukit's modules import one another without cycles.

The graph is read from the source with ``ast``: an edge ``a -> b`` for every module-level import of
``b`` in ``a`` (``from relukit import catalog`` is an edge to ``relukit.catalog``; ``from relukit.x import
name`` to ``relukit.x``). Imports inside functions are deliberate lazy imports (triton, matplotlib, or a
module that imports this one) and are not edges; nor are imports under ``if TYPE_CHECKING:``. A parent
package is loaded before its submodules by Python itself, so that implicit edge is not drawn either.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_files(src: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package) for every .py file under ``src/package``."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]):
    """Import statements run when the module is imported: the top level, and inside if/try at top level."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and not _type_checking(node.test):
            yield from _module_level_imports(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            handlers = [statement for handler in node.handlers for statement in handler.body]
            yield from _module_level_imports(node.body + handlers + node.orelse + node.finalbody)


def import_graph(src: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports at module level."""
    modules = module_files(src, package)

    def owner(name: str) -> str | None:  # the longest known module that ``name`` is or lies in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, (path, is_package) in modules.items():
        here = name if is_package else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in _module_level_imports(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                targets |= {owner(alias.name) for alias in node.names if alias.name.split(".")[0] == package}
                continue
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != package:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else owner(source))
        graph[name] = {target for target in targets if target and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None when the graph is acyclic (depth-first search, three colours)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_relukit_modules_import_without_cycles():
    graph = import_graph(SRC, "relukit")
    assert {"relukit.catalog", "relukit.functional", "relukit._ops.piecewise", "relukit.kernels.ops"} <= set(graph)
    assert "relukit.catalog" in graph["relukit.functional"]  # the graph does see real imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_bias_helpers_sit_below_functional_and_kernels():
    graph = import_graph(SRC, "relukit")
    assert "relukit._bias" in graph["relukit.functional"] and "relukit._bias" in graph["relukit.kernels.ops"]
    assert "relukit.functional" not in graph["relukit.kernels.ops"] | graph["relukit.kernels"]
    assert graph["relukit._bias"] == set()


def test_graph_sees_relative_conditional_and_package_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("try:\n    from .sub import b\nexcept ImportError:\n    b = None\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.c\nfrom ..c import thing\n"
    )
    (package / "c.py").write_text("def thing():\n    from pkg import a\n    return a\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(), "pkg.sub.b": {"pkg.c"}, "pkg.c": set()}
    assert find_cycle(graph) is None
    (package / "c.py").write_text("import pkg.a\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]

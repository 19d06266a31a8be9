"""Where each member lives in the code: its formula, torch op, layer, backward route and tests.

Read from the code itself, not written by hand: the formula is the function the catalog entry's callables
are or call (``inspect`` and their code objects' names), the op and layer are the names the catalog entry
derives (``relukit.functional.<name>``, ``relukit.nn.<module>``, torch's ``torch.nn.functional.<torch_op>``),
the backward route follows from the entry's kind (derivative codes or a reference derivative) and the
fused kernels present in :mod:`relukit._ops`, and the tests are the test files that name the member in a
string or run the parity matrix over ``tests/cases.py``'s ``PARAMS``. :mod:`relukit.docs` writes these
lines into docs/members.md; a test checks that every path exists and every name resolves.
It imports neither NumPy nor torch.
"""

from __future__ import annotations

import ast
import dis
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relukit import catalog, formulas

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parents[1]  # the repository, in a source checkout (src/relukit/membermap.py)
TESTS = ROOT / "tests"


@dataclass(frozen=True)
class Pointer:
    """A name that ``importlib`` + ``getattr`` resolve (``relukit.formulas.leaky_relu``) and the file holding it."""

    name: str
    path: str  # relative to the repository root

    def markdown(self) -> str:
        """A link from docs/members.md: the name as its text, the file as its target."""
        return f"[`{self.name}`](../{self.path})"


def pointer(name: str) -> Pointer:
    """The pointer for a dotted name of relukit (``relukit.formulas.leaky_relu``): the longest prefix that is a
    module file of the package holds it (found on disk, so nothing is imported). Paths read ``src/relukit/...``."""
    parts = name.split(".")
    for end in range(len(parts), 1, -1):
        base = PACKAGE.joinpath(*parts[1:end])
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return Pointer(name, "src/" + path.relative_to(PACKAGE.parent).as_posix())
    raise ValueError(f"pointer: no module of relukit holds {name!r}")


def _formula_names(function: Callable[..., Any]) -> list[str]:
    """The functions of :mod:`relukit.formulas` that ``function`` is, or calls (a catalog lambda calling
    ``fx.leaky_relu(...)``: read from its bytecode, a global bound to the formulas module then an attribute)."""
    if getattr(function, "__module__", None) == formulas.__name__ and function.__name__ != "<lambda>":
        return [function.__name__]
    names, previous = [], None
    for instruction in dis.get_instructions(function):
        is_formulas = previous is not None and function.__globals__.get(previous.argval) is formulas
        if is_formulas and previous.opname == "LOAD_GLOBAL" and instruction.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            names.append(instruction.argval)
        previous = instruction
    return list(dict.fromkeys(names))


def formula_pointers(entry: catalog.Activation, function: Callable[..., Any]) -> list[Pointer]:
    """The formulas.py functions behind one of ``entry``'s callables; the catalog itself when written inline."""
    names = _formula_names(function)
    return [pointer(f"relukit.formulas.{name}") for name in names] or [pointer("relukit.catalog.BY_NAME")]


def _pointers(entry: catalog.Activation, function: Callable[..., Any]) -> str:
    found = formula_pointers(entry, function)
    text = ", ".join(p.markdown() for p in found)
    return f"inline in its entry of {text}" if found[0].name == "relukit.catalog.BY_NAME" else text


def backward_route(entry: catalog.Activation) -> list[tuple[str, list[Pointer]]]:
    """(what runs, where) for each backward path of ``entry``, in the order the dispatcher tries them."""
    if entry.piecewise_linear:
        return [
            ("CPU, native C++ generated from the catalog", [pointer("relukit._ops.native.call")]),
            ("its element expression", [pointer("relukit._expressions.Namespace")]),
            ("CUDA, Triton generated from the catalog", [pointer("relukit.kernels.codegen.backward_source")]),
            ("else the Python op `relukit::piecewise_backward`", [pointer("relukit._ops.piecewise.lean_backward")]),
        ]
    routes = []
    if (PACKAGE / "_ops" / f"{entry.name}.py").is_file():  # a native kernel of its own (mish)
        native_kernel = [
            pointer(f"relukit._ops.{entry.name}.{entry.name}_backward"),
            pointer(f"relukit._ops.{entry.name}.applies"),
        ]
        routes.append(("CPU float32, native C++ (one exponential)", native_kernel))
    op = f"`torch.nn.functional.{entry.torch_op}`" if entry.torch_op else "the catalog formula"
    otherwise = "else " if routes else ""
    routes.append((f"{otherwise}torch's autograd of {op}, called by", [pointer("relukit.functional.apply")]))
    return routes


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------
@functools.cache
def _scan(path: Path, modified: int) -> tuple[frozenset[str], bool, frozenset[str]]:
    """(the string constants of a test file, whether it imports the parity matrix, the names and attributes
    it uses); cached per version of the file."""
    tree = ast.parse(path.read_text())
    strings = frozenset(
        node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )
    matrix = any(
        isinstance(node, ast.ImportFrom)
        and node.module in ("tests.cases", "cases")
        and {alias.name for alias in node.names} & {"CASES", "PARAMS"}
        for node in tree.body
    )
    names = frozenset(
        node.id if isinstance(node, ast.Name) else node.attr
        for node in ast.walk(tree)
        if isinstance(node, (ast.Name, ast.Attribute))
    )
    return strings, matrix, names


def _names(path: Path) -> frozenset[str]:
    return _scan(path, path.stat().st_mtime_ns)[2]


def _strings(path: Path) -> frozenset[str]:
    return _scan(path, path.stat().st_mtime_ns)[0]


def _imports_params_matrix(path: Path) -> bool:
    return _scan(path, path.stat().st_mtime_ns)[1]


def matrix_members(tests: Path = TESTS) -> set[str]:
    """The members given parameter sets in ``tests/cases.py``'s ``PARAMS`` (the parity matrix)."""
    for node in ast.parse((tests / "cases.py").read_text()).body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "PARAMS" and isinstance(node.value, ast.Dict):
            return {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
    return set()


def test_files(entry: catalog.Activation, tests: Path = TESTS) -> tuple[list[str], list[str]]:
    """(files naming the member in a string, other than those that run the parity matrix; the files running
    the parity matrix, when the member is in it)."""
    files = sorted(tests.glob("test_*.py"))
    names = {entry.name, *entry.aliases}
    matrix = entry.name in matrix_members(tests)
    by_matrix = [path.relative_to(ROOT).as_posix() for path in files if matrix and _imports_params_matrix(path)]
    by_name = [path.relative_to(ROOT).as_posix() for path in files if names & _strings(path)]
    return [path for path in by_name if path not in by_matrix], by_matrix


# ----------------------------------------------------------------------------------------------
# The lines of docs/members.md
# ----------------------------------------------------------------------------------------------
def _links(paths: list[str]) -> str:
    return ", ".join(f"[{Path(path).name}](../{path})" for path in paths)


def member_lines(entry: catalog.Activation) -> list[str]:
    """The "in the code" lines of a member's section in docs/members.md: one link per place."""
    if entry.piecewise_linear:
        derivative = f"codes {_pointers(entry, entry.codes)}, slopes {_pointers(entry, entry.slopes)}"
    else:
        derivative = _pointers(entry, entry.derivative)
    torch_op = f"`torch.nn.functional.{entry.torch_op}`" if entry.torch_op else "none"
    backward = "; ".join(f"{what} {', '.join(p.markdown() for p in where)}" for what, where in backward_route(entry))
    lines = [
        "- in the code:",
        f"  - formula: {_pointers(entry, entry.forward)}; derivative: {derivative}",
        f"  - op: {pointer(f'relukit.functional.{entry.name}').markdown()} (torch's: {torch_op})",
        f"  - layer: {pointer(f'relukit.nn.{entry.module}').markdown()}",
        f"  - backward: {backward}",
    ]
    if TESTS.is_dir():  # a source checkout
        by_name, by_matrix = test_files(entry)
        matrix = f"; the parity matrix (`PARAMS` in tests/cases.py): {_links(by_matrix)}" if by_matrix else ""
        lines.append(f"  - tests: naming it: {_links(by_name) or 'none'}{matrix}")
    return lines


# ----------------------------------------------------------------------------------------------
# The Kafnets layers (not catalog members: each unit learns its own function)
# ----------------------------------------------------------------------------------------------
KAF_LAYERS = {"KAF": "kaf", "KAF2D": "kaf2d"}  # layer class -> its functions' name


def kaf_pointers(layer: str) -> dict[str, list[Pointer]]:
    """Where a Kafnets layer lives: formula and its vector-Jacobian product, op, layer, backward."""
    name = KAF_LAYERS[layer]
    return {
        "formula": [pointer(f"relukit.kafmath.{name}")],
        "derivative (vector-Jacobian product)": [pointer(f"relukit.kafmath.{name}_vjp")],
        "op": [pointer(f"relukit._ops.kaf.{name}")],
        "layer": [pointer(f"relukit.kaf.{layer}")],
        "backward (custom op `relukit::kaf`, tiled)": [
            pointer("relukit._ops.kaf.kaf_forward"),
            pointer("relukit._ops.kaf.vjp"),
        ],
    }


def kaf_lines(layer: str) -> list[str]:
    """The "in the code" lines of a Kafnets layer's section in docs/members.md."""
    lines = ["- in the code:"]
    lines += [f"  - {what}: {', '.join(p.markdown() for p in where)}" for what, where in kaf_pointers(layer).items()]
    if TESTS.is_dir():
        files = [path.relative_to(ROOT).as_posix() for path in sorted(TESTS.glob("test_*.py")) if layer in _names(path)]
        lines.append(f"  - tests using `{layer}`: {_links(files) or 'none'}")
    return lines

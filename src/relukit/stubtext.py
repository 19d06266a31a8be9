"""Stub text for one type, signature, function or class, read from the runtime (see :mod:`relukit.stubs`).

The text follows ruff's formatting of stubs (line length 120), so generated stubs pass ``ruff format --check``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any

# The type vocabulary of relukit.array: its functions return what they are given.
ARRAY_PROTOCOL = '''@type_check_only
class _Array(Protocol):
    """An array-API array (NumPy, torch, CuPy, JAX, array-api-strict): it has a shape and a dtype."""

    @property
    def shape(self) -> Any: ...
    @property
    def dtype(self) -> Any: ...

_ArrayT = TypeVar("_ArrayT", bound=_Array)'''


@dataclass(frozen=True)
class Flavor:
    """How a module's generated functions are typed: its input/output variants and other arrays."""

    variants: tuple[tuple[str, str], ...]  # (input type, return type); several mean overloads
    array: str  # type of a required non-catalog argument (prelu's weight)
    imports: tuple[tuple[str, str], ...]  # (module, name) the types need
    preamble: str = ""


FLAVORS = {
    "relukit.array": Flavor(
        (("float", "float"), ("_ArrayT", "_ArrayT")),
        "float | _Array",
        (("typing", "Any"), ("typing", "Protocol"), ("typing", "TypeVar"), ("typing", "type_check_only")),
        ARRAY_PROTOCOL,
    ),
    "relukit.functional": Flavor((("torch.Tensor", "torch.Tensor"),), "torch.Tensor", (("torch", ""),)),
}


# ----------------------------------------------------------------------------------------------
# Rendering types and values
# ----------------------------------------------------------------------------------------------
@dataclass
class Imports:
    """What a stub imports: ``import x`` modules, ``from x import name`` and re-exports."""

    module: str  # the module being written (its own names render bare)
    plain: set[str] = field(default_factory=set)
    names: dict[str, set[str]] = field(default_factory=dict)
    reexports: set[tuple[str, str, str]] = field(default_factory=set)  # (module, name, public name)

    def need(self, module: str, name: str = "") -> None:
        if name:
            self.names.setdefault(module, set()).add(name)
        else:
            self.plain.add(module)

    def lines(self) -> list[str]:
        """Sorted as ruff's isort does: stdlib, third party, relukit; ``import`` before ``from``."""

        def section(module: str) -> int:
            top = module.split(".")[0]
            return 2 if top == "relukit" else 0 if top in sys.stdlib_module_names else 1

        froms = [(module, ", ".join(sorted(names, key=_isort_key))) for module, names in self.names.items()]
        froms += [(module, f"{name} as {public}") for module, name, public in self.reexports]  # one per line
        blocks: list[list[str]] = [[], [], []]
        for module in sorted(self.plain):
            blocks[section(module)].append(f"import {module}")
        for module, names in sorted(froms, key=lambda item: (item[0], _isort_key(item[1]))):
            blocks[section(module)].append(f"from {module} import {names}")
        return [line for block in blocks if block for line in [*block, ""]][:-1]


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order of imported names: CONSTANTS, Classes, functions (case-sensitive within each)."""
    base = name.split(" ")[0]
    kind = 0 if base.isupper() and len(base) > 1 else 1 if base[:1].isupper() else 2
    return kind, base


def _public_path(obj: Any) -> tuple[str, str]:
    """(module, qualified name) of the shortest public import path of a class or function."""
    parts = obj.__module__.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        try:
            found: Any = importlib.import_module(prefix)
            for attribute in obj.__qualname__.split("."):
                found = getattr(found, attribute)
        except (ImportError, AttributeError):
            continue
        if found is obj:
            return prefix, obj.__qualname__
    return obj.__module__, obj.__qualname__


def render_type(annotation: Any, imports: Imports) -> str:
    """Stub text of a (resolved) annotation; records the imports it needs."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Any:
        imports.need("typing", "Any")
        return "Any"
    if annotation is Ellipsis:
        return "..."
    if isinstance(annotation, (list, tuple)):
        return "[" + ", ".join(render_type(a, imports) for a in annotation) + "]"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(render_type(a, imports) for a in args)
    if origin is typing.Literal:
        imports.need("typing", "Literal")
        return "Literal[" + ", ".join(render_value(a) for a in args) + "]"
    if origin is not None:
        return render_type(origin, imports) + ("[" + ", ".join(render_type(a, imports) for a in args) + "]")
    if isinstance(annotation, str):
        raise TypeError(f"render_type: cannot resolve the annotation {annotation!r}")
    module, name = _public_path(annotation)
    if module == "builtins":
        return name
    if module in ("typing", "collections.abc"):
        imports.need(module, name)
        return name
    if module == imports.module:
        return name
    imports.need(module)
    return f"{module}.{name}"


def render_value(value: Any) -> str:
    """A default as stub text: literals as written, anything else as ``...``."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if text not in ("inf", "-inf", "nan") else "..."
    if isinstance(value, str) and value.isprintable() and "\\" not in value and '"' not in value:
        return f'"{value}"'
    return "..."


def value_type(value: Any, imports: Imports) -> str:
    """The type of an unannotated constant (containers with ``Any`` items: strict checkers want parameters)."""
    items = {dict: "[Any, Any]", list: "[Any]", set: "[Any]", frozenset: "[Any]", tuple: "[Any, ...]"}
    if type(value) in items:
        imports.need("typing", "Any")
        return type(value).__name__ + items[type(value)]
    return render_type(type(value), imports)


def inferred_type(parameter: inspect.Parameter, flavor: Flavor, catalog_params: set[str]) -> str:
    """The type of an unannotated parameter of a catalog-generated function (see the module doc)."""
    default = parameter.default
    if default is inspect.Parameter.empty:
        return "float" if parameter.name in catalog_params else flavor.array
    if default is None:
        return "float | None"
    return type(default).__name__ if isinstance(default, (bool, int, float, str)) else "Any"


# ----------------------------------------------------------------------------------------------
# Functions and classes
# ----------------------------------------------------------------------------------------------
def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception as error:  # a name that exists only for type checkers: say which function
        raise TypeError(f"relukit.stubs: cannot resolve the annotations of {obj!r}: {error}") from error


def _catalog_params() -> set[str]:
    from relukit import catalog

    return {p.name for entry in catalog.MEMBERS for p in entry.params}


def _annotation(obj: Any, p: inspect.Parameter, hints: dict[str, Any], imports: Imports, infer: Flavor | None) -> str:
    """A parameter's type: its annotation (resolved), else inferred when ``infer`` gives the module's types."""
    if p.name in hints:
        return render_type(hints[p.name], imports)
    if p.annotation is not p.empty:  # given in a signature built at run time
        annotation = p.annotation
        if isinstance(annotation, str):
            annotation = eval(annotation, getattr(obj, "__globals__", {}))  # as typing.get_type_hints does
        return render_type(annotation, imports)
    return inferred_type(p, infer, _catalog_params()) if infer is not None else ""


def _parameters_text(parameters: list[inspect.Parameter], texts: list[str]) -> str:
    """``a: T, /, b: U = 1, *, c: V``: the annotated texts with the ``/`` and ``*`` markers."""
    parts: list[str] = []
    for index, (p, text) in enumerate(zip(parameters, texts)):
        previous = parameters[index - 1].kind if index else None
        if previous is p.POSITIONAL_ONLY and p.kind is not p.POSITIONAL_ONLY:
            parts.append("/")
        if p.kind is p.KEYWORD_ONLY and previous not in (p.KEYWORD_ONLY, p.VAR_POSITIONAL):
            parts.append("*")
        parts.append(text)
    if parameters and parameters[-1].kind is inspect.Parameter.POSITIONAL_ONLY:
        parts.append("/")
    return ", ".join(parts)


def signature_variants(obj: Any, module: str, imports: Imports, *, method: bool = False) -> list[tuple[str, str]]:
    """[(parameters text, return text)]: one entry, or one per overload where the return follows the input.

    A function whose signature was built at run time (``__signature__``: the catalog-generated ones) gets
    the module's types (:data:`FLAVORS`) for what it leaves unannotated.
    """
    signature = inspect.signature(obj)
    hints = {name: hint for name, hint in _hints(obj).items() if name in signature.parameters or name == "return"}
    parameters = list(signature.parameters.values())
    flavor = FLAVORS.get(module) if not method else None
    infer = flavor if flavor is not None and "__signature__" in vars(obj) else None
    returns = hints.get("return", signature.return_annotation)
    follows_input = (
        flavor is not None
        and parameters[:1]
        and parameters[0].name in ("x", "input")
        and returns in (inspect.Parameter.empty, Any, hints.get(parameters[0].name, Any))
    )
    if flavor is not None and (follows_input or infer is not None):
        for name, type_name in flavor.imports:
            imports.need(name, type_name)
    result = []
    for input_type, return_type in flavor.variants if follows_input else ((None, None),):
        texts = []
        for index, p in enumerate(parameters):
            annotation = input_type if index == 0 and input_type else _annotation(obj, p, hints, imports, infer)
            star = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
            text = f"{star}{p.name}: {annotation}" if annotation else f"{star}{p.name}"
            if p.default is not p.empty:
                text += f" = {render_value(p.default)}" if annotation else f"={render_value(p.default)}"
            texts.append(text)
        if return_type is None:
            return_type = render_type(returns, imports) if returns is not inspect.Parameter.empty else ""
        result.append((_parameters_text(parameters, texts), return_type))
    return result


def summary(obj: Any) -> str:
    """The docstring's first paragraph, as one line (the object's own: none is inherited)."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    doc = inspect.cleandoc(doc) if isinstance(doc, str) else ""
    return " ".join(doc.split("\n\n")[0].split())


def docstring(text: str, indent: str) -> list[str]:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text += " "
    line = f'{indent}"""{text}"""'
    if len(line) <= 120:
        return [line]
    words, lines, current = text.split(), [], indent + '"""'
    for word in words:
        if len(current) + 1 + len(word) > 117 and current.strip() != '"""':
            lines.append(current)
            current = indent + word
        else:
            current = current + word if current.endswith('"""') else current + " " + word
    return [*lines, current + '"""']


def _def_lines(name: str, parameters: str, returns: str, doc: str, indent: str, overload: bool) -> list[str]:
    head = [f"{indent}@overload"] if overload else []
    arrow = f" -> {returns}" if returns else ""
    body = docstring(doc, indent + "    ") if doc else []
    one_line = f"{indent}def {name}({parameters}){arrow}:"
    if len(one_line) + (0 if body else 4) <= 120:
        lines = [one_line + ("" if body else " ...")]
    else:
        hugged = f"{indent}    {parameters}"
        if len(hugged) <= 120:
            inner = [hugged]
        else:
            inner = [f"{indent}    {part}," for part in split_parameters(parameters)]
        lines = [f"{indent}def {name}(", *inner, f"{indent}){arrow}:" + ("" if body else " ...")]
    return head + lines + body


def split_parameters(parameters: str) -> list[str]:
    """Splits at top-level commas (not those inside brackets)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(parameters):
        depth += char in "[(" and 1 or char in "])" and -1 or 0
        if char == "," and depth == 0:
            parts.append(parameters[start:index].strip())
            start = index + 1
    return [*parts, parameters[start:].strip()]


def function_lines(name: str, obj: Any, module: str, imports: Imports, indent: str = "", method: bool = False):
    variants = signature_variants(obj, module, imports, method=method)
    if len(variants) > 1:
        imports.need("typing", "overload")
    doc = "" if name == "__init__" else summary(obj)  # the class's docstring says what it builds
    lines: list[str] = []
    for parameters, returns in variants:
        gap = [""] if lines and doc and not indent else []  # ruff's stub style: a body is followed by a blank
        lines += gap + _def_lines(name, parameters, returns, doc, indent, len(variants) > 1)
    return lines


def is_passthrough(function: Any) -> bool:
    """``def __init__(self, *args, **kwargs)``: a wrapper that keeps its base's signature."""
    kinds = [p.kind for p in inspect.signature(function).parameters.values()][1:]
    return kinds == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]


def constructor(cls: type) -> Any:
    """The ``__init__`` whose signature is the class's API: its own, or its base's behind a pass-through."""
    init = cls.__init__
    if "__init__" in vars(cls) and is_passthrough(init):  # the wrapper validates; the base defines the API
        init = next(base.__init__ for base in cls.__mro__[1:] if "__init__" in vars(base))
    return init


def class_lines(name: str, cls: type, module: str, imports: Imports) -> list[str]:
    bases = ", ".join(render_type(base, imports) for base in cls.__bases__ if base is not object)
    head = f"class {name}({bases}):" if bases else f"class {name}:"
    body: list[str] = []
    for attribute, value in vars(cls).items():
        if attribute.startswith("_") and attribute != "__init__":
            continue
        if attribute == "__init__":
            body += function_lines("__init__", constructor(cls), module, imports, "    ", method=True)
        elif inspect.isfunction(value):
            body += function_lines(attribute, value, module, imports, "    ", method=True)
        elif not isinstance(value, (classmethod, staticmethod, property)):
            annotation = vars(cls).get("__annotations__", {}).get(attribute)  # declared type over the default's
            typed = value_type(value, imports) if annotation is None else render_type(annotation, imports)
            body.append(f"    {attribute}: {typed}")
    doc = summary(cls)
    if not body and not doc:
        return [head + " ..."]
    return [head, *(docstring(doc, "    ") + ([""] if body else []) if doc else []), *body]

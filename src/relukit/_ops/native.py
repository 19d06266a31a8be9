"""relukit's native CPU kernels: C++ generated from the catalog, compiled once per machine into a cache.

Each piecewise-linear member's ``kernel_forward`` and ``codes`` are traced with the C++ dialect of
``relukit._expressions`` (the Triton kernels' front end too), so the C++ never restates a formula. Every
numeric constant of a traced formula becomes a run-time argument ``c[k]``: one compiled *template* serves
every parameter value of the same shape (``leaky_relu`` and eval ``rrelu`` share one; ``rectify`` has a few,
since its formula branches on ``max_value is None`` and ``negative_slope == 0``).

``csrc/`` holds the rest, compiled into one extension (``SOURCES``): ``kernels.cpp`` the forward loop (reads
x once, writes y and the packed codes) and the backward loop (``grad * levels[code]``), both under
``at::parallel_for`` (``torch.set_num_threads`` governs them); ``native.cpp`` the autograd functions in C++
(``Lean``, ``LeanBackward``), called from Python through one pybind11 function: an eager call is one C++
call; ``blocks.h`` the packed layout and block helpers both share; ``unit_stats.h`` (included by
``native.cpp``) DeadUnitMonitor's one-pass per-unit sums (relukit.diagnostics.tally); ``mish.cpp`` Mish;
``sparse.cpp`` the mask and values of relukit.sparse; ``bnact.cpp``
relukit.nn.BatchNormAct's relu / relu6 route keeping the BN output (``eager.h``: the eager entry's checks).

Build: on first use, with the machine's C++ compiler and ``-march=native`` into
``$RELUKIT_CACHE`` (default ``~/.cache/relukit``), keyed by a hash of the sources, the flags, torch's
version and the CPU; ``make`` builds it at install (``native.build()``). Where the build
fails, relukit warns once and runs the pure-Python path; ``RELUKIT_NATIVE=0`` selects that path on purpose.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.machinery
import importlib.util
import itertools
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relukit import _expressions as expressions
from relukit import catalog

CSRC = Path(__file__).with_name("csrc")
# compiled together into one extension
SOURCES = (CSRC / "kernels.cpp", CSRC / "native.cpp", CSRC / "mish.cpp", CSRC / "sparse.cpp", CSRC / "bnact.cpp")
FLAGS = (
    "-O3",
    "-march=native",
    "-ffp-contract=off",
    "-fno-trapping-math",
    "-fno-math-errno",
    "-fopenmp",
    "-std=c++17",
    "-shared",
    "-fPIC",
    "-w",
)


# ----------------------------------------------------------------------------------------------
# C++ from the catalog
# ----------------------------------------------------------------------------------------------
class Cpp:
    """The C++ dialect of ``relukit._expressions``: constants become run-time arguments ``c[k]``."""

    def __init__(self) -> None:
        self.constants: list[float] = []

    def constant(self, value: float) -> str:
        self.constants.append(float(value))
        return f"c[{len(self.constants) - 1}]"

    def round(self, text: str) -> str:
        return f"rk_round<T, A>({text})"

    def where(self, condition: str, a: str, b: str) -> str:
        return f"(({condition}) ? A({a}) : A({b}))"

    def minimum(self, a: str, b: str) -> str:
        return f"rk_min<A>({a}, {b})"

    def maximum(self, a: str, b: str) -> str:
        return f"rk_max<A>({a}, {b})"

    def logical_not(self, text: str) -> str:
        return f"(!{text})"

    def astype(self, text: str, kind: str) -> str:
        return {"bool": f"bool({text})", "uint8": f"int({text})", "float": f"A({text})"}[kind]

    def exp(self, text: str) -> str:
        return f"std::exp({text})"


@dataclass(frozen=True)
class Template:
    """A member's forward with its constants lifted out: ``value`` and ``code`` are C++ expressions of
    ``x`` and ``c[k]``; ``bits`` per packed code."""

    value: str
    code: str
    bits: int
    mask: bool  # the code is one comparison mask (1 bit): the AVX2 fp32 loop evaluates it on vectors


def trace(entry: catalog.Activation, params: dict[str, Any]) -> tuple[Template, tuple[float, ...]]:
    """(template, constants) of a piecewise-linear member for checked ``params``."""
    dialect = Cpp()
    xp, x = expressions.Namespace(dialect), expressions.Expr("x", expressions.FLOAT, dialect)
    value = entry.kernel_forward(x, xp, **params)
    code = entry.codes(x, xp, **params)
    if not isinstance(value, expressions.Expr) or not isinstance(code, expressions.Expr):
        raise TypeError(f"relukit native: {entry.name}'s formulas did not trace to expressions of x")
    bits = entry.code_bits(**params)
    template = Template(value.text, code.text, bits, bits == 1 and code.kind == expressions.BOOL)
    return template, tuple(dialect.constants)


def _samples(param: catalog.Param) -> list[Any]:
    values = [0.0, 0.5, 2.0] + ([] if param.default is catalog.REQUIRED else [param.default])
    return values + ([None] if param.check is catalog.optional_non_negative else [])


def templates() -> tuple[Template, ...]:
    """Every template the catalog's piecewise-linear members produce (parameters sampled per shape)."""
    found: dict[Template, None] = {}
    for entry in catalog.MEMBERS:
        if not entry.piecewise_linear:
            continue
        for values in itertools.product(*(_samples(p) for p in entry.params)):
            try:
                params = entry.bind("relukit native", dict(zip((p.name for p in entry.params), values)))
            except (TypeError, ValueError):
                continue
            found.setdefault(trace(entry, params)[0])
    return tuple(found)


def header(all_templates: tuple[Template, ...]) -> str:
    lines = ["// Generated by relukit._ops.native from relukit.catalog: do not edit.", "namespace relukit {"]
    for index, t in enumerate(all_templates):
        lines += [
            f"struct Variant{index} {{",
            f"  static constexpr int bits = {t.bits};",
            "  template <typename T, typename A>",
            f"  static inline A value(A x, const A* c) {{ return A({t.value}); }}",
            "  template <typename T, typename A>",
            f"  static inline int code(A x, const A* c) {{ return int({t.code}); }}",
            f"  static constexpr bool has_mask = {'true' if t.mask else 'false'};",
            *(
                ["  template <typename A>", f"  static inline auto mask(A x, const A* c) {{ return {t.code}; }}"]
                if t.mask
                else []
            ),
            "};",
        ]
    cases = " ".join(f"X({i}, Variant{i})" for i in range(len(all_templates)))
    lines += ["}  // namespace relukit", f"#define RELUKIT_VARIANTS(X) {cases}", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Build and load
# ----------------------------------------------------------------------------------------------
def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        return next((line for line in info.splitlines() if line.startswith("flags")), platform.processor())
    except OSError:
        return platform.processor()


def _build_inputs() -> tuple[str, str, list[str]]:
    import torch
    from torch.utils import cpp_extension

    generated = header(templates())
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    texts = [path.read_text() for path in (*SOURCES, *sorted(CSRC.glob("*.h")))]
    key = "\n".join([*texts, generated, " ".join(FLAGS), torch.__version__, _cpu(), sys.version])
    name = "relukit_native_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    includes = [*cpp_extension.include_paths(), sysconfig.get_paths()["include"]]
    libraries = cpp_extension.library_paths()
    command = [
        os.environ.get("CXX", "c++"),
        *FLAGS,
        f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        f"-DTORCH_EXTENSION_NAME={name}",
        "-DTORCH_API_INCLUDE_EXTENSION_H",
        *(f"-I{path}" for path in includes),
        *(f"-L{path}" for path in libraries),
        *(f"-Wl,-rpath,{path}" for path in libraries),
    ]
    return name, generated, command


def cache_dir() -> Path:
    return Path(os.environ.get("RELUKIT_CACHE") or Path.home() / ".cache" / "relukit")


def build() -> Path:
    """Compiles the extension unless the cache holds it; returns the shared library's path."""
    name, generated, command = _build_inputs()
    directory = cache_dir() / name
    library = directory / f"{name}.so"
    if library.exists():
        return library
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time (parallel test workers)
        if library.exists():
            return library
        (directory / "generated.h").write_text(generated)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".so", delete=False) as partial:
            pass
        args = [*command, f"-I{directory}", *map(str, SOURCES), "-o", partial.name]
        args += ["-lc10", "-ltorch", "-ltorch_cpu", "-ltorch_python"]
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode != 0:
            os.unlink(partial.name)
            raise RuntimeError(f"relukit native build failed ({' '.join(args[:3])} ...):\n{result.stderr[-4000:]}")
        os.replace(partial.name, library)  # atomic: other processes see a whole library or none
    return library


@functools.cache
def module() -> Any | None:
    """The compiled extension, or None where it is switched off or cannot be built (one warning)."""
    if os.environ.get("RELUKIT_NATIVE", "1").lower() in ("0", "false", "no", "off"):
        return None
    try:
        import torch  # noqa: F401  (loads libtorch before the extension)

        library = build()
        name = library.stem
        loader = importlib.machinery.ExtensionFileLoader(name, str(library))
        spec = importlib.util.spec_from_file_location(name, library, loader=loader)
        extension = importlib.util.module_from_spec(spec)
        loader.exec_module(extension)
        return extension
    except Exception as error:  # no compiler, headers or a failed build: the Python path still works
        warnings.warn(f"relukit: native CPU kernels unavailable, using the Python path ({error})", stacklevel=2)
        return None


def available() -> bool:
    return module() is not None


@functools.cache
def _variants() -> dict[Template, int]:
    return {t: i for i, t in enumerate(templates())}


@dataclass(frozen=True)
class Call:
    """What the native op needs for a member and its parameters: the compiled variant, its constants and
    the backward table (``levels[code]``; codes in the ``zero`` bit mask give 0 whatever the gradient)."""

    variant: int
    constants: list[float]
    levels: list[float]
    zero: int  # bit k set: code k gives 0 (torch's threshold/hardtanh backward), not grad * 0
    handle: int  # the same, registered with the extension: ``module().lean(x, handle, inplace)``


@functools.lru_cache(maxsize=1024)
def _call(name: str, params: tuple[tuple[str, Any], ...]) -> Call | None:
    entry = catalog.BY_NAME[name]
    bound = dict(params)
    template, constants = trace(entry, bound)
    variant = _variants().get(template)
    if variant is None:
        return None
    levels = [float(s) for s in entry.slopes(**bound)]
    if template.bits == 2 and len(levels) == 3:
        levels.append(0.0)  # code 3 never occurs
    zero = sum(1 << k for k, level in enumerate(levels) if level == 0.0 and entry.backward == "select")
    handle = module().register_call(variant, list(constants), levels, zero)
    return Call(variant, list(constants), levels, zero, handle)


def call(entry: catalog.Activation, params: dict[str, Any]) -> Call | None:
    """The native call for a member's checked ``params``, or None where no compiled template fits (or the
    extension is not built)."""
    return _call(entry.name, tuple(params.items())) if module() is not None else None


if __name__ == "__main__":  # python -m relukit._ops.native: build now (make does, after installing)
    print(build())

"""relukit: the Rectified Linear Unit and its family, exact and lean.

Submodules load on first use, so ``import relukit.array`` never imports torch:

* ``relukit.array``       forward and derivative on scalars, NumPy and any array-API array
* ``relukit.functional``  torch ops with exact, memory-lean autograd
* ``relukit.nn``          drop-in modules
* ``relukit.fewbit``      k-bit derivative tables of the smooth members (``relukit.fewbit_table``)
* ``relukit.lean(model)``, ``with relukit.lean_mode():``  torch's own activations made lean
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {"array", "catalog", "functional", "nn", "registry", "diagnostics", "kaf", "data", "cli", "fewbit"}
_SUBMODULES |= {"intercept", "sparse"}
_REGISTRY = {"get_activation", "available_activations", "convert", "lean", "lean_report", "param_groups"}
_FEWBIT = {"fewbit_table"}
_INTERCEPT = {"lean_mode"}
# loaded on first use (the stub, __init__.pyi, lists them)
__all__ = sorted(_REGISTRY | _FEWBIT | _INTERCEPT | {"backend"}) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"relukit.{name}")
    if name in _REGISTRY:
        return getattr(importlib.import_module("relukit.registry"), name)
    if name in _FEWBIT:
        return getattr(importlib.import_module("relukit.fewbit"), name)
    if name in _INTERCEPT:
        return getattr(importlib.import_module("relukit.intercept"), name)
    raise AttributeError(f"module 'relukit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES, *_REGISTRY, *_FEWBIT, *_INTERCEPT])


def backend() -> str:
    """Which CPU path the lean piecewise ops take: ``"native"`` (the compiled C++ kernels) or ``"python"``
    (torch's ops plus a NumPy packing pass: no compiler, a failed build, or ``RELUKIT_NATIVE=0``)."""
    from relukit._ops import native

    return "native" if native.available() else "python"

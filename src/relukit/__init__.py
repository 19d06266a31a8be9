"""relukit: the Rectified Linear Unit and its family, exact and lean.

Submodules load on first use, so ``import relukit.array`` never imports torch:

* ``relukit.array``       forward and derivative on scalars, NumPy and any array-API array
* ``relukit.functional``  torch ops with exact, memory-lean autograd
* ``relukit.nn``          drop-in modules
* ``relukit.lean(model)``, ``with relukit.lean_mode():``  torch's own activations made lean
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {"array", "catalog", "functional", "nn", "registry", "diagnostics", "kaf", "data", "cli", "intercept"}
_REGISTRY = {"get_activation", "available_activations", "convert", "lean", "param_groups"}
_INTERCEPT = {"lean_mode"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"relukit.{name}")
    if name in _REGISTRY:
        return getattr(importlib.import_module("relukit.registry"), name)
    if name in _INTERCEPT:
        return getattr(importlib.import_module("relukit.intercept"), name)
    raise AttributeError(f"module 'relukit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES, *_REGISTRY, *_INTERCEPT])

"""relukit: the Rectified Linear Unit and its family, exact and lean."""

# Generated from the runtime by `python -m relukit.stubs` (make stubs); do not edit.
from relukit import array as array
from relukit import catalog as catalog
from relukit import cli as cli
from relukit import data as data
from relukit import diagnostics as diagnostics
from relukit import fewbit as fewbit
from relukit import functional as functional
from relukit import intercept as intercept
from relukit import kaf as kaf
from relukit import nn as nn
from relukit import registry as registry
from relukit import sparse as sparse
from relukit.fewbit import fewbit_table as fewbit_table
from relukit.intercept import lean_mode as lean_mode
from relukit.registry import available_activations as available_activations
from relukit.registry import convert as convert
from relukit.registry import get_activation as get_activation
from relukit.registry import lean as lean
from relukit.registry import lean_report as lean_report
from relukit.registry import param_groups as param_groups

__all__ = [
    "available_activations",
    "backend",
    "convert",
    "fewbit_table",
    "get_activation",
    "lean",
    "lean_mode",
    "lean_report",
    "param_groups",
    "array",
    "catalog",
    "cli",
    "data",
    "diagnostics",
    "fewbit",
    "functional",
    "intercept",
    "kaf",
    "nn",
    "registry",
    "sparse",
]

__version__: str

def backend() -> str:
    """Which CPU path the lean piecewise ops take: ``"native"`` (the compiled C++ kernels) or ``"python"`` (torch's
    ops plus a NumPy packing pass: no compiler, a failed build, or ``RELUKIT_NATIVE=0``)."""

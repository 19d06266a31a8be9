"""relukit.functional: the ReLU family for torch tensors, with torch's signatures."""

# Generated from the runtime by `python -m relukit.stubs` (make stubs); do not edit.
from collections.abc import Callable
from typing import Any

import torch

import relukit.catalog
from relukit._ops.kaf import kaf as kaf

__all__ = [
    "kaf",
    "relu",
    "relu6",
    "hardtanh",
    "threshold",
    "rectify",
    "leaky_relu",
    "rrelu",
    "prelu",
    "elu",
    "celu",
    "selu",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "bias_act",
]

def relu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """The default: cheap, sparse, non-saturating for x > 0; units can die."""

def relu6(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """ReLU capped at 6: bounded range for low-precision inference."""

def hardtanh(input: torch.Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> torch.Tensor:
    """Linear inside [min_val, max_val], clipped outside."""

def threshold(input: torch.Tensor, threshold: float, value: float, inplace: bool = False) -> torch.Tensor:
    """Replaces every x <= threshold by value."""

def rectify(
    input: torch.Tensor, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> torch.Tensor:
    """Keras' general rectifier; jumps at threshold when threshold != 0."""

def leaky_relu(input: torch.Tensor, negative_slope: float = 0.01, inplace: bool = False) -> torch.Tensor:
    """A small slope for x < 0 keeps every unit trainable (no dead units)."""

def rrelu(
    input: torch.Tensor,
    lower: float = 0.125,
    upper: float = 0.3333333333333333,
    training: bool = False,
    inplace: bool = False,
) -> torch.Tensor:
    """Randomized leaky slope in training; this is the deterministic eval form."""

def prelu(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with a learned slope per channel."""

def elu(input: torch.Tensor, alpha: float = 1.0, inplace: bool = False, *, bits: int | None = None) -> torch.Tensor:
    """Smooth negative saturation at -alpha; mean activations nearer zero."""

def celu(input: torch.Tensor, alpha: float = 1.0, inplace: bool = False, *, bits: int | None = None) -> torch.Tensor:
    """ELU made continuously differentiable for every alpha."""

def selu(input: torch.Tensor, inplace: bool = False, *, bits: int | None = None) -> torch.Tensor:
    """Self-normalizing ELU (alpha ~ 1.6733, lambda ~ 1.0507)."""

def gelu(input: torch.Tensor, approximate: str = "none", *, bits: int | None = None) -> torch.Tensor:
    """x weighted by the Gaussian CDF; 'tanh' is the fast approximation."""

def silu(input: torch.Tensor, inplace: bool = False, *, bits: int | None = None) -> torch.Tensor:
    """Smooth, non-monotonic self-gated ReLU."""

def mish(input: torch.Tensor, inplace: bool = False, *, bits: int | None = None) -> torch.Tensor:
    """Smooth, non-monotonic; minimum ~ -0.30884 at x ~ -1.1924."""

def softplus(
    input: torch.Tensor, beta: float = 1.0, threshold: float = 20.0, *, bits: int | None = None
) -> torch.Tensor:
    """Smooth ReLU; linear where beta x > threshold (as torch)."""

def bias_act(
    input: torch.Tensor, bias: torch.Tensor, name: str = "relu", *, dim: int = -1, **params: Any
) -> torch.Tensor:
    """``act(input + bias)``, the epilogue of a Linear (``dim=-1``) or channels-first Conv (``dim=1``) layer."""

CHECKED: dict[str, Callable[..., dict[str, Any]]]

def apply(
    entry: relukit.catalog.Activation,
    x: torch.Tensor,
    params: dict[str, Any],
    *,
    inplace: bool = False,
    training: bool = False,
    bits: int | None = None,
) -> torch.Tensor:
    """Runs a member on a tensor with already-checked ``params`` (the module and functional path)."""

def lean_applies(x: torch.Tensor) -> bool:
    """True when autograd will record this call, so saving packed codes pays off."""

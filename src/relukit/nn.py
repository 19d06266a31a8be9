"""relukit.nn: drop-in activation modules.

Each class subclasses torch's own module of the same name (``relukit.nn.ReLU`` is a
``torch.nn.ReLU``), so constructor signatures, defaults, ``extra_repr`` and ``state_dict`` keys are
torch's by construction; only ``forward`` changes, to ``relukit.functional``'s lean path. ``Rectify``
(Keras' general rectifier) has no torch module and is defined here; ``KAF`` and ``KAF2D`` (Kafnets,
Scardapane et al. 2017) come from :mod:`relukit.kaf`, ``BatchNormAct1d/2d/3d`` (in-place activated
BatchNorm) from :mod:`relukit.batchnorm_act`. The smooth members' modules (ELU, CELU, SELU, GELU,
SiLU, Mish, Softplus) take a keyword ``bits`` (None, or 1..8): with it, backward multiplies the gradient by a
``bits``-bit table of the derivative and autograd keeps ``bits`` bits per element (see
``relukit.functional``); ``extra_repr`` shows it. PReLU's weight is tagged so that
``relukit.param_groups`` keeps it out of weight decay (He et al. 2015 advise against decaying it).

Example::

    >>> import torch, relukit.nn as rnn
    >>> act = rnn.LeakyReLU(0.1, inplace=True)
    >>> act
    LeakyReLU(negative_slope=0.1, inplace=True)
    >>> act(torch.tensor([-1.0, 2.0]))
    tensor([-0.1000,  2.0000])
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from relukit import catalog, functional
from relukit._ops import fewbit_lean
from relukit.batchnorm_act import BatchNormAct1d, BatchNormAct2d, BatchNormAct3d
from relukit.kaf import KAF, KAF2D

__all__ = ["KAF", "KAF2D", "NO_WEIGHT_DECAY", "activation_name", "module_entry"]
__all__ += ["BatchNormAct1d", "BatchNormAct2d", "BatchNormAct3d"]

NO_WEIGHT_DECAY = "_relukit_no_weight_decay"  # attribute set on parameters to keep out of weight decay


def _params(module: nn.Module, entry: catalog.Activation) -> dict[str, Any]:
    return {p.name: getattr(module, p.name) for p in entry.params}


def _forward(self, input: torch.Tensor) -> torch.Tensor:
    entry = catalog.BY_NAME[self.activation_name]
    # attributes may change after __init__: checked on every call (remembered per value by functional)
    params = functional.CHECKED[entry.name](_params(self, entry), type(self).__name__)
    bits = getattr(self, "bits", None)
    if bits is not None:  # set after __init__ (relukit.lean does): checked here
        bits = fewbit_lean.check_bits(type(self).__name__, bits)
    inplace = getattr(self, "inplace", False)
    return functional.apply(entry, input, params, inplace=inplace, training=self.training, bits=bits)


def _init(base: type[nn.Module], entry: catalog.Activation):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        entry.bind(type(self).__name__, _params(self, entry))

    return __init__


def _smooth_init(base: type[nn.Module], entry: catalog.Activation):
    """``base``'s constructor plus a keyword ``bits`` (the few-bit backward; None: exact)."""

    def __init__(self, *args: Any, bits: int | None = None, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        entry.bind(type(self).__name__, _params(self, entry))
        self.bits = fewbit_lean.check_bits(type(self).__name__, bits)

    signature = inspect.signature(base.__init__)
    bits = inspect.Parameter("bits", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=int | None)
    __init__.__signature__ = signature.replace(parameters=[*signature.parameters.values(), bits])
    return __init__


def _smooth_extra_repr(base: type[nn.Module]):
    def extra_repr(self) -> str:
        text = base.extra_repr(self)
        bits = getattr(self, "bits", None)
        return text if bits is None else f"{text}, bits={bits}" if text else f"bits={bits}"

    return extra_repr


class Rectify(nn.Module):
    r"""Keras 3's general rectifier: :math:`\operatorname{clip}(x, 0, m)` for :math:`x > t`, else :math:`s (x - t)`.

    It jumps at ``threshold`` when ``threshold != 0``. Without ``max_value`` there is no clip (x > t gives
    x, negative too when t < 0); with one, (t, 0] maps to 0 when t < 0, as in Keras.

    Args:
        negative_slope: slope s below the threshold (>= 0). Default: 0.0
        max_value: saturation m (>= 0), or None. Default: None
        threshold: t. Default: 0.0

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, same shape.

    Examples::

        >>> Rectify(negative_slope=0.5, threshold=5.0)(torch.tensor([-10.0, 5.1]))
        tensor([-7.5000,  5.1000])
    """

    activation_name = "rectify"

    def __init__(self, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> None:
        super().__init__()
        given = {"negative_slope": negative_slope, "max_value": max_value, "threshold": threshold}
        params = catalog.BY_NAME["rectify"].bind("Rectify", given)
        self.negative_slope, self.max_value, self.threshold = params.values()

    forward = _forward

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}, max_value={self.max_value}, threshold={self.threshold}"


class PReLU(nn.PReLU):
    __doc__ = nn.PReLU.__doc__
    activation_name = "prelu"

    def reset_parameters(self) -> None:
        super().reset_parameters()
        setattr(self.weight, NO_WEIGHT_DECAY, True)


def _make(entry: catalog.Activation) -> type[nn.Module]:
    base = getattr(nn, entry.module)
    namespace = {
        "__doc__": base.__doc__,
        "__module__": __name__,
        "activation_name": entry.name,
        "forward": _forward,
        "__init__": _init(base, entry),
    }
    if entry.name in fewbit_lean.SMOOTH:
        namespace["__init__"] = _smooth_init(base, entry)
        namespace["extra_repr"] = _smooth_extra_repr(base)
        namespace["bits"] = None  # also what a torch module swapped in by relukit.lean (no __init__ run) has
        namespace["__annotations__"] = {"bits": int | None}
    return type(entry.module, (base,), namespace)


for _entry in catalog.MEMBERS:
    if _entry.name not in ("rectify", "prelu"):
        globals()[_entry.module] = _make(_entry)
    __all__.append(_entry.module)
del _entry


def activation_name(module: nn.Module) -> str | None:
    """The relukit name of an activation module (relukit's, KAF included, or torch's), else None."""
    return getattr(type(module), "activation_name", None) or _TORCH_CLASSES.get(type(module))


def module_entry(module: nn.Module) -> catalog.Activation | None:
    """The catalog entry of a relukit or torch activation module, else None (KAF has none)."""
    return catalog.BY_NAME.get(activation_name(module) or "")


_TORCH_CLASSES = {getattr(nn, e.module): e.name for e in catalog.MEMBERS if hasattr(nn, e.module)}

"""relukit.functional: the ReLU family for torch tensors, with torch's signatures.

Values are torch's own (the stock ATen op; ``rectify`` has none and uses the catalog formula). When
autograd records, the piecewise-linear members (relu, relu6, hardtanh, threshold, rectify, leaky_relu,
rrelu in eval) run as ``relukit::piecewise_forward`` and save only their bit-packed derivative codes
(1 bit per element; 2 for rectify with both a slope and a max) instead of a full tensor: gradients are
bit-identical to torch's, and ``inplace=True`` stays safe when the result is modified in place later.
The smooth members use torch's own autograd (they need the input in backward and save what torch saves);
``mish`` on float32 CPU tensors of >= 2^14 elements runs ``relukit::mish``, fused from the catalog's
single-exponential form (``relukit._ops.mish``; same saved tensor, ~1e-7 relative from torch's values).
``kaf`` is the Kafnets kernel activation (``relukit._ops.kaf``).

Under ``torch.onnx.export``/``torch.export`` the stock ops are used, so exported graphs hold standard ops.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F

from relukit import catalog
from relukit._ops import mish as _mish
from relukit._ops import piecewise as _piecewise
from relukit._ops.kaf import kaf

__all__: list[str] = ["kaf"]

_P = inspect.Parameter


def _exporting() -> bool:
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()


def lean_applies(x: torch.Tensor) -> bool:
    """True when autograd will record this call, so saving packed codes pays off."""
    return torch.is_grad_enabled() and x.requires_grad and not _exporting()


def _stock(entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any], inplace: bool, training: bool):
    if entry.name == "rrelu":
        return F.rrelu(x, training=training, inplace=inplace, **params)
    if entry.torch_op is None:
        return entry.forward(x, _piecewise.xp_torch, **params)
    if entry.torch_inplace:
        params = {**params, "inplace": inplace}
    return getattr(F, entry.torch_op)(x, **params)


def apply(
    entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any], *, inplace: bool = False, training: bool = False
) -> torch.Tensor:
    """Runs a member on a tensor with already-checked ``params`` (the module and functional path)."""
    if entry.piecewise_linear and not training and lean_applies(x):
        y, _ = torch.ops.relukit.piecewise_forward(x, entry.name, _piecewise.encode(entry, params))
        return x.copy_(y) if inplace else y
    if entry.name == "mish" and not _exporting() and _mish.applies(x):  # fused single-exponential kernel
        return _mish.mish(x, inplace)
    return _stock(entry, x, params, inplace, training)


def _signature(entry: catalog.Activation) -> inspect.Signature:
    parameters = [_P("input", _P.POSITIONAL_OR_KEYWORD)]
    if entry.name == "prelu":
        parameters.append(_P("weight", _P.POSITIONAL_OR_KEYWORD))
    for p in entry.params:
        default = _P.empty if p.default is catalog.REQUIRED else p.default
        parameters.append(_P(p.name, _P.POSITIONAL_OR_KEYWORD, default=default))
    if entry.name == "rrelu":
        parameters.append(_P("training", _P.POSITIONAL_OR_KEYWORD, default=False))
    if entry.torch_inplace:
        parameters.append(_P("inplace", _P.POSITIONAL_OR_KEYWORD, default=False))
    return inspect.Signature(parameters)


def _make(entry: catalog.Activation):
    signature = _signature(entry)
    name = entry.name

    def function(*args: Any, **kwargs: Any) -> torch.Tensor:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{name}: {error}") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        x = arguments.pop("input")
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: input must be a torch.Tensor, got {type(x).__name__}")
        inplace = arguments.pop("inplace", False)
        training = arguments.pop("training", False)
        if name == "prelu":
            return F.prelu(x, arguments["weight"])
        return apply(entry, x, entry.bind(name, arguments), inplace=inplace, training=training)

    function.__name__ = function.__qualname__ = name
    function.__signature__ = signature
    function.__doc__ = f"{entry.summary}\n\n.. math:: {entry.formula}\n\nReference: {entry.reference or 'torch'}.\n"
    return function


for _entry in catalog.MEMBERS:
    globals()[_entry.name] = _make(_entry)
    __all__.append(_entry.name)
del _entry

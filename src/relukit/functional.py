"""relukit.functional: the ReLU family for torch tensors, with torch's signatures.

Values are torch's own (the stock ATen op; ``rectify`` has none and uses the catalog formula). When
autograd records, the piecewise-linear members (relu, relu6, hardtanh, threshold, rectify, leaky_relu,
rrelu in eval) run as ``relukit::piecewise_forward`` and save only their bit-packed derivative codes
(1 bit per element; 2 for rectify with both a slope and a max) instead of a full tensor: gradients are
bit-identical to torch's, and ``inplace=True`` stays safe when the result is modified in place later.
The smooth members (elu, celu, selu, gelu, silu, mish, softplus) use torch's own autograd by default (they
need the input in backward and save what torch saves); with ``bits=k`` (1..8) they keep k-bit codes of the
input instead and backward is ``grad * levels[code]`` from ``relukit.fewbit_table(member, k)``: an
approximate gradient, k/32 of an fp32 input saved (``relukit._ops.fewbit_lean``; values stay torch's,
double backward raises). The piecewise-linear members take no ``bits``: their backward is already exact.
``mish`` on float32 CPU tensors of >= 2^10 elements (``relukit._ops.mish.MIN_NUMEL``) runs relukit's
native kernels of the catalog's single-exponential form from the first call (``relukit._ops.mish``; same
saved tensor, within 1 ulp of the float64 value where torch's float32 Mish is ~1e-5 relative off).
``kaf`` is the Kafnets kernel activation (``relukit._ops.kaf``). Like torch's own functions, each member
and ``bias_act`` dispatch through ``__torch_function__``, so torch-function modes (``relukit.intercept``:
DeadUnitMonitor, lean_mode) and tensor subclasses see the call.

Under ``torch.onnx.export``/``torch.export`` the stock ops are used, so exported graphs hold standard ops;
under ``torch.func`` transforms (grad, vmap, jacrev) too, so those work (without the memory saving).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import handle_torch_function, has_torch_function

from relukit import catalog
from relukit._bias import bias_view_shape, check_bias
from relukit._ops import fewbit_lean as _fewbit
from relukit._ops import mish as _mish
from relukit._ops import native as _native
from relukit._ops import piecewise as _piecewise
from relukit._ops.kaf import kaf

__all__: list[str] = ["kaf"]

_P = inspect.Parameter
# False when run; Dynamo traces it as True, so a traced call takes the full path. The native hot paths need
# no more: anything else that traces (export, make_fx) does so with a mode or a tensor subclass, for which
# the C++ entries decline.
_dynamo_tracing = torch.compiler.is_dynamo_compiling


def _exporting() -> bool:
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()


def lean_applies(x: torch.Tensor) -> bool:
    """True when autograd will record this call, so saving packed codes pays off.

    Under torch.func transforms (grad, vmap, jacrev, ...) the stock op runs instead: same values and
    gradients, torch's saved memory.
    """
    return (
        torch.is_grad_enabled()
        and x.requires_grad
        and not _exporting()
        and not torch._C._are_functorch_transforms_active()
    )


# torch ops that ONNX exporters reject (non-zero threshold in the TorchScript exporter): under export the
# catalog formula runs instead, which traces to standard ops (Where, LessOrEqual).
_EXPORT_AS_FORMULA = {"threshold"}


def _stock(entry: catalog.Activation, x: torch.Tensor, params: dict[str, Any], inplace: bool, training: bool):
    if entry.name == "rrelu":
        if training:
            return F.rrelu(x, training=True, inplace=inplace, **params)
        # torch's eval rrelu is leaky_relu with the mean slope; calling it directly exports as LeakyRelu
        negative_slope, _ = entry.slopes(**params)  # the catalog's mean slope (lower + upper) / 2
        return F.leaky_relu(x, negative_slope, inplace=inplace)
    if entry.torch_op is None or (entry.name in _EXPORT_AS_FORMULA and _exporting()):
        return entry.forward(x, _piecewise.xp_torch, **params)
    if entry.torch_inplace:
        params = {**params, "inplace": inplace}
    return getattr(F, entry.torch_op)(x, **params)


def apply(
    entry: catalog.Activation,
    x: torch.Tensor,
    params: dict[str, Any],
    *,
    inplace: bool = False,
    training: bool = False,
    bits: int | None = None,
) -> torch.Tensor:
    """Runs a member on a tensor with already-checked ``params`` (the module and functional path).

    ``training`` matters for rrelu only: it then samples its slopes (torch's op and autograd). ``bits`` (a
    smooth member's, checked) asks for the few-bit backward where autograd records (``_ops.fewbit_lean``).
    """
    if bits is not None and _fewbit.applies(x):
        return _fewbit.apply(entry, x, params, bits, inplace)
    sampled = training and entry.name == "rrelu"
    if entry.piecewise_linear and not sampled and _piecewise.native_eager(x):  # the hot path: one C++ call
        call = _native.call(entry, params)
        if call is not None:
            return _native.module().lean(x, call.handle, inplace)
    if entry.piecewise_linear and not sampled and lean_applies(x):
        y = _piecewise.lean_forward(entry, x, params, inplace)
    elif entry.name == "mish" and not _exporting() and _mish.applies(x):  # native single-exponential kernel
        y = _mish.mish(x, inplace)
    else:
        y = _stock(entry, x, params, inplace, training)
    return y


def _signature(entry: catalog.Activation) -> inspect.Signature:
    parameters = [_P("input", _P.POSITIONAL_OR_KEYWORD)]
    if entry.takes_weight:
        parameters.append(_P("weight", _P.POSITIONAL_OR_KEYWORD))
    for p in entry.params:
        default = _P.empty if p.default is catalog.REQUIRED else p.default
        parameters.append(_P(p.name, _P.POSITIONAL_OR_KEYWORD, default=default))
    if entry.name == "rrelu":
        parameters.append(_P("training", _P.POSITIONAL_OR_KEYWORD, default=False))
    if entry.torch_inplace:
        parameters.append(_P("inplace", _P.POSITIONAL_OR_KEYWORD, default=False))
    if entry.name in _fewbit.SMOOTH:
        parameters.append(_P("bits", _P.KEYWORD_ONLY, default=None, annotation=int | None))
    return inspect.Signature(parameters)


def _binder(name: str, signature: inspect.Signature) -> Callable[[tuple, dict], dict[str, Any]]:
    """``signature.bind`` + ``apply_defaults`` as a dict, a few times faster (BENCHMARKS.md, "Choices in the
    code") for a call that fits (every parameter is positional-or-keyword); any other goes to
    ``signature.bind`` itself, for its error."""
    names = tuple(signature.parameters)
    positional = tuple(n for n, p in signature.parameters.items() if p.kind is _P.POSITIONAL_OR_KEYWORD)
    allowed = frozenset(names)
    defaults = {n: p.default for n, p in signature.parameters.items() if p.default is not _P.empty}

    def bind(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        # plain dict and loop operations only: torch.compile traces this
        given = dict(zip(positional, args))
        given.update(kwargs)
        if len(args) <= len(positional) and len(given) == len(args) + len(kwargs) and all(k in allowed for k in kwargs):
            arguments = {**defaults, **given}
            if len(arguments) == len(names):
                return arguments
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{name}: {error}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    return bind


def _checker(entry: catalog.Activation) -> Callable[..., dict[str, Any]]:
    """``entry.bind`` with its result remembered per parameter values (and their types: True == 1, but
    True is rejected): a call with parameters seen before skips the checks. ``fn`` names the caller in
    errors (a module passes its class name)."""
    seen: dict[tuple, dict[str, Any]] = {}

    def checked(arguments: dict[str, Any], fn: str = entry.name) -> dict[str, Any]:
        try:
            key = tuple((k, type(v), v) for k, v in arguments.items())
            return seen[key]
        except (KeyError, TypeError):  # new, or unhashable (checked every time)
            bound = entry.bind(fn, arguments)
            if len(seen) < 256 and all(isinstance(v, (int, float, str, type(None))) for v in arguments.values()):
                seen[key] = bound
            return bound

    return checked


CHECKED: dict[str, Callable[..., dict[str, Any]]] = {}  # checked(arguments, fn) per member (see _make)


def _remember(calls: dict, known_call: list, args: tuple, kwargs: dict, value: tuple[int, bool]) -> None:
    """Keeps a checked call's native handle for ``known_call`` (up to 256 argument tuples per member)."""
    extension = _native.module()
    key = extension.call_key(args, kwargs)
    if key is not None and len(calls) < 256:
        known_call[:] = [extension.known_call]
        calls[key] = value


def _make(entry: catalog.Activation):
    signature = _signature(entry)
    bind = _binder(entry.name, signature)
    checked = CHECKED.setdefault(entry.name, _checker(entry))
    name = entry.name
    piecewise = entry.piecewise_linear
    # native calls by their exact arguments after the input (values and types: True is not 1), remembered
    # once the full path has checked them: a repeated call skips binding and checks (C++: known_call)
    native_calls: dict[tuple, tuple[int, bool]] = {}
    known_call: list = []  # the extension's known_call, looked up on first use
    _piecewise.ROUTING_CHANGED.append(native_calls.clear)  # kernels_on("cpu"): CPU calls go to Triton
    smooth = name in _fewbit.SMOOTH

    def function(*args: Any, **kwargs: Any) -> torch.Tensor:
        if piecewise and not _dynamo_tracing() and native_calls:  # (so Dynamo puts no guard on the dict)
            y = known_call[0](native_calls, args, kwargs)  # the hot path: one C++ call, or None
            if y is not None:
                return y
        if name == "mish" and len(args) == 1 and not kwargs and not _dynamo_tracing():
            y = _mish.try_native(args[0])  # mish(x): straight to the native kernels (one C++ call), or None
            if y is not None:
                return y
        arguments = bind(args, kwargs)
        x = arguments.pop("input")
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: input must be a torch.Tensor, got {type(x).__name__}")
        relevant = (x, arguments["weight"]) if entry.takes_weight else (x,)
        if has_torch_function(relevant):  # torch-function modes (relukit.intercept) see the call, as F.relu's
            return handle_torch_function(function, relevant, *args, **kwargs)
        inplace = arguments.pop("inplace", False)
        training = arguments.pop("training", False)
        bits = _fewbit.check_bits(name, arguments.pop("bits")) if smooth else None
        if piecewise and not training and _piecewise.native_eager(x):
            call = _native.call(entry, checked(arguments))  # the hot path: checks remembered, one C++ call
            if call is not None:
                _remember(native_calls, known_call, args, kwargs, (call.handle, inplace))
                return _native.module().lean(x, call.handle, inplace)
        elif piecewise and not training and not inplace and _piecewise.native_values(x):
            call = _native.call(entry, checked(arguments))  # not recorded: known_call runs the values kernel
            if call is not None:
                _remember(native_calls, known_call, args, kwargs, (call.handle, inplace))
        if entry.takes_weight:
            return F.prelu(x, arguments["weight"])
        return apply(entry, x, checked(arguments), inplace=inplace, training=training, bits=bits)

    function.__name__ = function.__qualname__ = name
    function.__signature__ = signature
    function.__doc__ = f"{entry.summary}\n\n.. math:: {entry.formula}\n\nReference: {entry.reference or 'torch'}.\n"
    return function


for _entry in catalog.MEMBERS:
    globals()[_entry.name] = _make(_entry)
    __all__.append(_entry.name)
del _entry


def bias_act(
    input: torch.Tensor, bias: torch.Tensor, name: str = "relu", *, dim: int = -1, **params: Any
) -> torch.Tensor:
    r"""``act(input + bias)``, the epilogue of a Linear (``dim=-1``) or channels-first Conv (``dim=1``) layer.

    ``bias`` is 1-D and broadcast along ``dim``; ``name`` is any member and ``params`` its parameters. On
    CUDA tensors (with triton installed) a piecewise-linear member runs one fused kernel
    (``relukit.kernels``): the add and the activation stream the tensor once instead of twice, and autograd
    keeps only the bit-packed derivative codes. Elsewhere this is torch's ``input + bias`` followed by
    relukit's activation. Values and gradients (input and bias) are those of ``act(input + bias)`` either way.

    Examples::

        >>> y = bias_act(torch.randn(8, 16), torch.zeros(16), "leaky_relu", negative_slope=0.2)
    """
    fn = "bias_act"
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{fn}: input must be a torch.Tensor, got {type(input).__name__}")
    try:
        entry = catalog.lookup(name)
    except ValueError as error:
        raise ValueError(f"{fn}: {error}") from None
    if entry.takes_weight:
        raise ValueError(f"{fn}: prelu takes a weight tensor; use relukit.functional.prelu(input + bias, weight)")
    if has_torch_function((input, bias)):
        return handle_torch_function(bias_act, (input, bias), input, bias, name, dim=dim, **params)
    bound = entry.bind(fn, params)
    check_bias(fn, input, bias, dim)
    if entry.piecewise_linear and not _exporting() and _piecewise.fused(input, bias):
        needs_codes = torch.is_grad_enabled() and (input.requires_grad or bias.requires_grad)
        return _piecewise._kernel_ops().forward(entry, bound, input, bias, dim, needs_codes)[0]
    return apply(entry, input + bias.view(bias_view_shape(input, dim)), bound)


__all__.append("bias_act")

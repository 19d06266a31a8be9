"""relukit.intercept: one ``TorchFunctionMode`` that sees every call of the ReLU family, whatever its style.

``F.relu(x)``, ``torch.relu(x)``, ``x.relu()``, ``x.relu_()``, ``nn.ReLU()(x)`` (its forward calls
``F.relu``), ``F.gelu(x)``, ..., and ``relukit.functional.relu(x)`` all reach ``__torch_function__`` of the
mode on top of torch's function-mode stack, once per call (torch pops a mode while it handles a call, so the
ops an activation runs inside are not seen again). :data:`FORMS` maps each of those callables to its member;
:class:`ActivationMode` sends them to ``activation()`` and every other torch call straight on, at the cost
of one dict lookup. Two modes use it:

* ``DeadUnitMonitor`` observes the outputs (relukit.diagnostics.dead);
* :class:`LeanMode` runs the piecewise-linear members' torch forms as ``relukit.functional`` (1-bit codes
  saved instead of a full tensor; values and gradients bit-identical). Smooth members stay torch's, unless
  the mode was given ``bits``: then their torch forms (``F.gelu``, ``torch.nn.functional.silu``, ...) run
  with relukit's few-bit backward (``relukit.functional.<member>(..., bits=bits)``).

Nothing is installed globally: a mode is active only inside ``with mode:`` or, with :func:`around_forward`,
during a model's forward (hooks on that model; the monitor's own forward hooks track which of its modules
encloses each call, for names such as ``"block1/relu#0"``). Other modes compose: a mode beneath ours sees
the calls it saw without ours (LeanMode runs its substitute beneath them), one above sees them first.
torch.autocast and FlopCounterMode work at the dispatcher level, below every function mode, and see what
relukit's ops dispatch. Like torch's ``F.relu``, ``relukit.functional``'s functions dispatch through
``__torch_function__``, so any mode sees ``relukit.functional.relu`` as one call (not the ops it runs).

Where the mode stays out of the way: inside torch.compile/torch.export tracing (``is_compiling()``) and
under torch.func transforms every call passes through unchanged, and :func:`around_forward` does not enter
the mode in a compiled forward, so compiled graphs hold torch's ops (a model's relukit modules still trace
their lean custom ops). Calls with a non-tensor input, a tensor subclass or arguments the lean path does not
take (a tensor slope, rrelu in training, ...) run torch's own function, with torch's own errors.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from relukit import catalog, functional
from relukit._ops import fewbit_lean as _fewbit

__all__ = ["FORMS", "ActivationMode", "Form", "LeanMode", "around_forward", "lean_forward", "lean_mode"]

_NO_DEFAULT = inspect.Parameter.empty


@dataclass(frozen=True)
class Form:
    """One callable of the family: its member, torch's parameters (name, default) in positional order with
    the input first, whether it writes into its input (the ``relu_`` forms) and whether LeanMode may run
    relukit's lean op for it (torch's forms of the piecewise-linear members)."""

    member: str | None  # None: bias_act, whose member is its ``name`` argument
    parameters: tuple[tuple[str, Any], ...] = ()
    inplace: bool = False
    lean: bool = False

    def arguments(self, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The call's arguments by name with defaults filled in, or None when it is not a plain call."""
        names = [name for name, _ in self.parameters]
        if len(args) > len(names) or any(name in kwargs for name in names[: len(args)]):
            return None
        if any(name not in names for name in kwargs):
            return None
        bound = {**dict(self.parameters), **dict(zip(names, args)), **kwargs}
        return None if any(value is _NO_DEFAULT for value in bound.values()) else bound

    def member_of(self, args: tuple, kwargs: dict[str, Any]) -> str:
        if self.member is not None:
            return self.member
        name = args[2] if len(args) > 2 else kwargs.get("name", "relu")  # bias_act(input, bias, name)
        return catalog.lookup(name).name


def _python_parameters(function: Callable) -> tuple[tuple[str, Any], ...]:
    return tuple((p.name, p.default) for p in inspect.signature(function).parameters.values())


def _builtin_parameters(entry: catalog.Activation, first: str) -> tuple[tuple[str, Any], ...]:
    """ATen's signature of a member (same parameters and defaults as the catalog's, which follows torch)."""
    params = [(p.name, _NO_DEFAULT if p.default is catalog.REQUIRED else p.default) for p in entry.params]
    if entry.name == "rrelu":
        params += [("training", False), ("generator", None)]
    return ((first, _NO_DEFAULT), *params)


def _forms() -> dict[Callable, Form]:
    forms: dict[Callable, Form] = {}
    for entry in catalog.MEMBERS:
        name, lean = entry.name, entry.piecewise_linear
        for suffix in ("", "_"):
            inplace = suffix == "_"
            places = ((F, "input"), (torch, "input"), (torch._C._nn, "input"), (torch.Tensor, "self"))
            for namespace, first in places:
                function = getattr(namespace, name + suffix, None)
                if function is None or function in forms:
                    continue
                if inspect.isfunction(function):
                    parameters = _python_parameters(function)
                elif entry.takes_weight:
                    parameters = ((first, _NO_DEFAULT), ("weight", _NO_DEFAULT))
                else:
                    parameters = _builtin_parameters(entry, first)
                forms[function] = Form(name, parameters, inplace, lean and not entry.takes_weight)
        forms[getattr(functional, name)] = Form(name)  # already lean; seen by observers
    forms[functional.bias_act] = Form(None)
    return forms


FORMS: dict[Callable, Form] = _forms()


def _stay_out() -> bool:
    """Tracing (torch.compile, export) and torch.func transforms see torch's own calls."""
    return torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()


class ActivationMode(TorchFunctionMode):
    """Sends every call in :data:`FORMS` to ``self.activation(form, func, args, kwargs)``; every other torch
    call runs unchanged. Subclasses override ``activation``; the default runs the call."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            form = FORMS.get(func)
        except TypeError:  # an unhashable callable (a method bound to an unhashable object): not ours
            form = None
        if form is None or _stay_out():
            return func(*args, **(kwargs or {}))
        return self.activation(form, func, args, kwargs or {})

    def activation(self, form: Form, func: Callable, args: tuple, kwargs: dict[str, Any]) -> Any:
        return func(*args, **kwargs)


def _lean_call(form: Form, args: tuple, kwargs: dict[str, Any], bits: int | None = None) -> tuple | None:
    """(entry, input, params, inplace) for relukit's lean op, or None to run torch's own call; with ``bits``
    the smooth members' torch forms are taken too."""
    fewbit = bits is not None and form.member in _fewbit.SMOOTH and bool(form.parameters)
    arguments = form.arguments(args, kwargs) if form.lean or fewbit else None
    if arguments is None:
        return None
    x = arguments.pop(form.parameters[0][0])
    if type(x) not in (torch.Tensor, torch.nn.Parameter) or not x.is_floating_point():
        return None
    if not functional.lean_applies(x):
        return None  # no autograd record: nothing to save, torch's op is the fastest
    inplace = bool(arguments.pop("inplace", False)) or form.inplace
    if arguments.pop("training", False) or arguments.pop("generator", None) is not None:
        return None  # rrelu in training samples its slopes: torch's op
    if inplace and x.is_leaf:
        return None  # torch's own error for an in-place op on a leaf that requires grad
    if any(isinstance(v, bool) or not isinstance(v, (int, float, str)) for v in arguments.values()):
        return None
    entry = catalog.BY_NAME[form.member]
    try:
        params = entry.bind(entry.name, arguments)
    except (TypeError, ValueError):
        return None  # torch decides what these values mean (or raises its own error)
    return entry, x, params, inplace


# Per thread: > 0 while a module runs that relukit.lean chose to keep stock; LeanMode then runs torch's calls.
STOCK = threading.local()


def _stack() -> list[TorchFunctionMode]:
    return [torch._C._get_function_stack_at(i) for i in range(torch._C._len_torch_function_stack())]


def only_lean_modes() -> bool:
    """Whether every torch-function mode on the stack is a :class:`LeanMode`: none of them needs to see
    calls outside the ReLU family (relukit's C++ routes of other ops may then run under them)."""
    return all(isinstance(mode, LeanMode) for mode in _stack())


class LeanMode(ActivationMode):
    """Runs torch's piecewise-linear activation calls (``F.relu``, ``torch.relu_``, ``x.relu()``,
    ``F.leaky_relu``, ``F.hardtanh``, ``F.relu6``, ``F.threshold``, ``F.rrelu`` in eval) as
    ``relukit.functional``'s lean ops when autograd records them: the backward keeps 1-bit derivative codes
    instead of a full tensor; values and gradients are bit-identical. With ``bits`` (1..8), torch's calls of
    the smooth members (``F.gelu``, ``F.silu``, ``torch.nn.functional.elu``, ...) get the few-bit backward
    (approximate gradients, ``bits`` bits saved per element); without, everything else is torch's own call."""

    def __init__(self, bits: int | None = None) -> None:
        super().__init__()
        self.bits = _fewbit.check_bits("LeanMode", bits)

    def activation(self, form: Form, func: Callable, args: tuple, kwargs: dict[str, Any]) -> Any:
        if getattr(STOCK, "depth", 0):  # inside a module relukit.lean keeps torch's (relukit.leanplan)
            return func(*args, **kwargs)
        with torch._C.DisableTorchFunction():  # the checks on the input are no calls for other modes to see
            call = _lean_call(form, args, kwargs, self.bits)
        if call is None:
            return func(*args, **kwargs)
        below = _stack()  # this mode is popped while it handles the call
        if all(isinstance(mode, LeanMode) for mode in below):
            entry, x, params, inplace = call
            bits = self.bits if entry.name in _fewbit.SMOOTH else None
            return functional.apply(entry, x, params, inplace=inplace, bits=bits)
        return self._beneath(below, func, args, kwargs)

    def _beneath(self, below: list[TorchFunctionMode], func: Callable, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Runs the original call with this mode moved under the others, so that they see the call they
        would see without relukit, and their own ``func(*args)`` reaches the substitution here."""
        for _ in below:
            torch._C._pop_torch_function_stack()
        for mode in [self, *below]:
            torch._C._push_on_torch_function_stack(mode)
        try:
            return func(*args, **kwargs)
        finally:
            for _ in range(len(below) + 1):
                torch._C._pop_torch_function_stack()
            for mode in below:
                torch._C._push_on_torch_function_stack(mode)


def lean_mode(bits: int | None = None) -> LeanMode:
    """A context manager in which torch's piecewise-linear activation calls are lean (see LeanMode); with
    ``bits``, torch's smooth activation calls get the few-bit backward too.

    Example::

        >>> with relukit.lean_mode():
        ...     loss = loss_fn(model(x), y)   # F.relu / x.relu() / nn.ReLU inside save 1-bit codes
        >>> loss.backward()
    """
    return LeanMode(bits)


class _Scope:
    """Forward pre-hook and always-called forward hook that keep ``mode`` entered during each outermost
    forward of a module (per thread; a recursive or nested call of the same module enters it once)."""

    def __init__(self, mode: TorchFunctionMode) -> None:
        self.mode = mode
        self._local = threading.local()

    def enter(self, module: torch.nn.Module, args: Any) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0 and torch.compiler.is_compiling():
            return  # compiled forward: no mode in the graph
        self._local.depth = depth + 1
        if depth == 0:
            self.mode.__enter__()

    def exit(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            return
        self._local.depth = depth - 1
        if depth == 1:
            _remove(self.mode)

    def __getstate__(self) -> dict[str, Any]:  # copy.deepcopy and torch.save of a model carrying the hooks
        return {"mode": self.mode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["mode"])


def _remove(mode: TorchFunctionMode) -> None:
    """Takes ``mode`` off the stack, wherever it is: forward hooks of several scopes on one module need not
    run in the reverse order of their pre-hooks."""
    above = []
    while torch._C._len_torch_function_stack():
        top = torch._C._pop_torch_function_stack()
        if top is mode:
            break
        above.append(top)
    for other in reversed(above):
        torch._C._push_on_torch_function_stack(other)


class _Handle:
    def __init__(self, *handles: Any) -> None:
        self._handles = handles

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def around_forward(module: torch.nn.Module, mode: TorchFunctionMode) -> _Handle:
    """Keeps ``mode`` entered while ``module`` runs its forward (hooks on ``module`` only); returns a
    handle whose ``remove()`` takes the hooks off."""
    scope = _Scope(mode)
    pre = module.register_forward_pre_hook(scope.enter)
    post = module.register_forward_hook(scope.exit, always_call=True, prepend=True)  # last in, first out
    return _Handle(pre, post)


def lean_forward(module: torch.nn.Module, bits: int | None = None) -> torch.nn.Module:
    """Makes the functional activation calls in ``module``'s forward lean (LeanMode around its forward;
    idempotent; ``bits`` given sets the mode's bits). ``relukit.lean(model)`` calls this after swapping the
    activation modules."""
    scopes = [getattr(hook, "__self__", None) for hook in module._forward_pre_hooks.values()]
    modes = [scope.mode for scope in scopes if isinstance(scope, _Scope) and isinstance(scope.mode, LeanMode)]
    if not modes:
        around_forward(module, LeanMode(bits))
    elif bits is not None:
        for mode in modes:
            mode.bits = _fewbit.check_bits("lean_forward", bits)
    return module

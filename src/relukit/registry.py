"""Names to modules, and swapping activations in any model.

* ``get_activation("leaky", negative_slope=0.1)`` -> ``relukit.nn.LeakyReLU(0.1)``
* ``convert(model, "mish")`` replaces every activation module (torch's or relukit's) by ``to``
* ``lean(model)`` swaps each stock torch activation module for relukit's and makes the functional calls in
  its forward lean too: same outputs and gradients, less memory
* ``param_groups(model, weight_decay)`` keeps PReLU slopes out of weight decay (He et al. 2015)
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

from torch import nn

from relukit import catalog
from relukit import nn as rnn
from relukit.kaf import KAF, KAF2D, infer_kaf

Factory = Callable[[nn.Module], nn.Module]
# Modules defined outside the catalog; those that need the layer before them to be built (KAF infers its
# number of units from it) take ``previous=`` in convert.
_EXTRA: dict[str, Callable[..., nn.Module]] = {"kaf": KAF, "kaf2d": KAF2D}
_NEEDS_PREVIOUS = {"kaf", "kaf2d"}


def _resolve(name: str, fn: str = "get_activation") -> tuple[str, Callable[..., nn.Module]]:
    key = str(name).lower().replace("-", "_")
    if key in _EXTRA:
        return key, _EXTRA[key]
    try:
        entry = catalog.lookup(key)
    except ValueError:
        raise ValueError(
            f"{fn}: unknown activation {name!r}; available: {', '.join(available_activations())}"
        ) from None
    return entry.name, getattr(rnn, entry.module)


def available_activations() -> list[str]:
    """Every name ``get_activation`` takes (aliases such as 'swish' and 'leaky' too)."""
    names = {m.name for m in catalog.MEMBERS} | {a for m in catalog.MEMBERS for a in m.aliases} | set(_EXTRA)
    return sorted(names)


def get_activation(name: str, **kwargs: Any) -> nn.Module:
    """A new relukit activation module by name (case-insensitive; aliases allowed)."""
    _, factory = _resolve(name)
    return factory(**kwargs)


def _as_factory(to: str | type[nn.Module] | Factory) -> Callable[[nn.Module, nn.Module | None], nn.Module]:
    """A ``(old module, the layer before it) -> new module`` maker."""
    if isinstance(to, str):
        name, factory = _resolve(to, "convert")  # fails early on unknown names

        def from_name(old: nn.Module, previous: nn.Module | None = None) -> nn.Module:
            if rnn.activation_name(old) == name and name in catalog.BY_NAME:
                return _lean_copy(old)  # same member: every parameter carries over
            if name in _NEEDS_PREVIOUS:
                return factory(**infer_kaf(previous, name))
            return factory()

        return from_name
    if isinstance(to, type) and issubclass(to, nn.Module):
        return lambda old, previous: to()
    if callable(to):
        return lambda old, previous: to(old)
    raise TypeError(f"convert: to must be a name, an nn.Module class or a factory, got {to!r}")


def _selected(name: str, module: nn.Module, patterns: Iterable[str | type] | None) -> bool:
    for pattern in patterns or ():
        if isinstance(pattern, type) and isinstance(module, pattern):
            return True
        if isinstance(pattern, str) and fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _carry(old: nn.Module, new: nn.Module, like: Any) -> nn.Module:
    """Keeps device, dtype, train/eval mode and ``inplace``."""
    if hasattr(old, "inplace") and hasattr(new, "inplace"):
        new.inplace = old.inplace
    reference = next(old.parameters(), like)  # else the model's own device and dtype
    if reference is not None:
        new.to(device=reference.device, dtype=reference.dtype)
    return new.train(old.training)


def convert(
    model: nn.Module,
    to: str | type[nn.Module] | Factory,
    *,
    include: Iterable[str | type] | None = None,
    exclude: Iterable[str | type] | None = None,
) -> nn.Module:
    """Replaces activation modules anywhere in ``model`` by ``to`` (in place; returns ``model``).

    ``include``/``exclude`` take glob patterns over qualified module names ("features.*") or module
    classes. A bare activation module passed as ``model`` is returned converted.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"convert: model must be an nn.Module, got {type(model).__name__}")
    factory = _as_factory(to)
    like = next(model.parameters(), None)

    def replace(name: str, module: nn.Module, previous: nn.Module | None) -> nn.Module | None:
        if rnn.activation_name(module) is None:
            return None
        if include is not None and not _selected(name, module, include):
            return None
        if _selected(name, module, exclude):
            return None
        return _carry(module, factory(module, previous), like)

    root = replace("", model, None)
    if root is not None:
        return root
    for parent_name, parent in list(model.named_modules()):
        previous = None
        for child_name, child in list(parent.named_children()):
            qualified = f"{parent_name}.{child_name}" if parent_name else child_name
            new = replace(qualified, child, previous)
            if new is not None:
                setattr(parent, child_name, new)
            previous = _last_leaf(new if new is not None else child)
    return model


def _last_leaf(module: nn.Module) -> nn.Module:
    """The layer whose output a module's successor sees: the last leaf of a container."""
    children = list(module.children())
    return _last_leaf(children[-1]) if children else module


def _lean_copy(old: nn.Module) -> nn.Module:
    new = copy.copy(old)  # every attribute and hook carried over; only the class (forward) changes
    new.__class__ = getattr(rnn, catalog.BY_NAME[rnn.activation_name(old)].module)
    return new


def lean(
    model: nn.Module,
    *,
    bits: int | None = None,
    sparse: bool = False,
    abn: bool = False,
    example_inputs: tuple | None = None,
    report: bool = False,
) -> nn.Module:
    """Makes every activation of ``model`` lean (in place; returns ``model``); same outputs, and gradients without bits.

    Stock torch activation modules are swapped for relukit's equivalents, and the functional calls in its
    forward (``F.relu(x)``, ``x.relu()``, ``F.leaky_relu``, ...) run relukit's lean ops through
    ``relukit.intercept.LeanMode``, entered for each forward of ``model`` (hooks on ``model`` itself).
    Piecewise-linear members then save 1-bit derivative codes; smooth members stay torch's (exact) unless
    ``bits`` (1..8) is given: then every smooth member's module gets ``bits`` (replacing its own) and their
    functional calls too, i.e. the few-bit backward (approximate gradients, ``bits`` bits saved per element;
    ``relukit.fewbit_table``). Outputs stay unchanged.

    With ``sparse=True``, saved ReLU-family outputs are kept as a mask and their non-zeros
    (``relukit.sparse``), and the first forward under autograd traces the model (``relukit.leanplan``): an
    activation module whose stock form saves a tensor another op saves anyway (a ReLU before a convolution)
    goes back to torch's module, so the model never keeps more than stock. ``example_inputs`` runs that
    trace now on a copy of ``model`` (``lean_report(model)`` then tells what was done; ``report=True``
    prints it). It is off by default: the packing costs step time (BENCHMARKS.md, "Sparse storage").

    With ``abn=True`` (needs ``example_inputs``: the traced forward finds the pairs), each torch
    ``BatchNorm1d/2d/3d`` whose output goes only to an invertible activation module (leaky_relu with a
    positive slope, elu, celu, selu) becomes a :class:`relukit.nn.BatchNormAct2d` (in-place activated
    BatchNorm: only the activation's output is kept for backward) sharing its parameters and buffers, and
    the activation an ``nn.Identity``; ``state_dict`` keys stay. relu and relu6 pairs fuse too (the BN
    outputs they hide are kept compacted; with ``sparse=True`` the BN output is kept instead and the next
    layer's save of the activation's output costs nothing), also where one relu / relu6 module is called
    more than once (torchvision's BasicBlock): it then stays for its other calls, wrapped in a
    :class:`relukit.batchnorm_act.SkipActivated`. It never keeps more than stock, but it is
    opt-in: its gradients equal stock's to float rounding, not bit for bit (BENCHMARKS.md, "In-place
    activated BatchNorm"), its statistics are per process (a ``SyncBatchNorm`` is never fused), and a
    BatchNorm weight exactly 0 then raises in training.
    """
    from relukit import intercept
    from relukit._ops import fewbit_lean

    if not isinstance(model, nn.Module):
        raise TypeError(f"lean: model must be an nn.Module, got {type(model).__name__}")
    bits = fewbit_lean.check_bits("lean", bits)
    if report and example_inputs is None and sparse:
        raise ValueError("lean: report=True needs example_inputs (the trace that decides runs a forward)")
    if abn and example_inputs is None:
        raise ValueError("lean: abn=True needs example_inputs (the traced forward finds BN -> act pairs), got None")
    relukit_classes = [getattr(rnn, m.module) for m in catalog.MEMBERS]
    stock = {name: type(m) for name, m in model.named_modules() if type(m) in rnn._TORCH_CLASSES}
    model = convert(model, _lean_copy, include=list(rnn._TORCH_CLASSES), exclude=relukit_classes)
    if bits is not None:
        for module in model.modules():
            if rnn.activation_name(module) in fewbit_lean.SMOOTH:
                module.bits = bits
    model = intercept.lean_forward(model, bits)
    if sparse or abn:
        from relukit.leanplan import attach_plan

        attach_plan(model, stock, example_inputs, sparse=sparse, abn=abn)
    if report:
        from relukit.leanplan import print_report

        print_report(lean_report(model))
    return model


def lean_report(model: nn.Module) -> dict[str, Any]:
    """What ``lean(model)`` did, per pattern: count, module names, bytes stock vs lean in the traced
    forward (``{"traced": False, ...}`` until a forward under autograd has run)."""
    from relukit.leanplan import plan_of

    plan = plan_of(model)
    if plan is None:
        raise ValueError(
            f"lean_report: model was not made lean with sparse=True or abn=True, got {type(model).__name__}"
        )
    return plan.report()


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer groups: PReLU slopes (torch's or relukit's, and any tagged parameter) get no decay."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"param_groups: model must be an nn.Module, got {type(model).__name__}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)):
        raise TypeError(f"param_groups: weight_decay must be a number, got {weight_decay!r}")
    if not weight_decay >= 0 or weight_decay == float("inf"):
        raise ValueError(f"param_groups: weight_decay must be a finite number >= 0, got {weight_decay!r}")
    exempt: set[int] = set()
    for module in model.modules():
        if isinstance(module, nn.PReLU):
            exempt.update(id(p) for p in module.parameters(recurse=False))
    decay, no_decay = [], []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        if id(parameter) in exempt or getattr(parameter, rnn.NO_WEIGHT_DECAY, False):
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

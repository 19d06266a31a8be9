r"""DeadUnitMonitor and scan: which units of a model never fire, over a whole dataset and across ranks.

For a unit :math:`u` (a feature of a 2-D output, a channel of an output with ndim >= 3) and the
:math:`n_u` elements :math:`a_{u,j}` it produced since ``reset()`` (all batches, samples, positions):

.. math::

    \text{rate}_u = \#\{j : a_{u,j} > 0\} / n_u, \qquad
    \text{dead}_u = [\text{rate}_u = 0], \qquad
    s_u = \frac{\operatorname{mean}_j |a_{u,j}|}{\operatorname{mean}_v \operatorname{mean}_j |a_{v,j}|},
    \quad \text{dormant}_u = [s_u \le \tau]

A fresh ReLU layer fires on about half of its inputs (Glorot, Bordes & Bengio 2011); a dead unit passes no
gradient to its incoming weights and, with ReLU, never recovers (Lu, Shin, Su & Karniadakis 2020). The
score :math:`s_u` is ReDo's (Sokar, Agarwal, Castro & Evci 2023). ``dead`` is reported for the ReLU-like
(piecewise-linear) members only; for a leaky member (leaky_relu, prelu, rrelu) a "dead" unit is stuck in
the negative region and still passes slope * g backward. Smooth members (elu, gelu, silu, mish, KAF, ...)
get ``dead = None`` and report rate and dormancy.

What is seen: torch's and relukit's activation modules (forward hooks; a module called again in the
same forward, such as one shared ``self.act``, gives the layers ``"act"``, ``"act#1"``, ...), and every
functional call of the family made inside a module's ``forward`` — ``F.relu(x)``, ``torch.relu(x)``,
``x.relu()``, ``x.relu_()``, ``F.gelu(x)``, ``relukit.functional.relu(x)``, ... (``relukit.intercept``'s
torch-function mode, entered for the model's forward only) — named ``"<enclosing module>/<member>#<k>"``
(k counts that member's calls in one forward of the enclosing module; ``"relu#0"`` at the root).

Cost: per observed call, the count of positives and the sum of |a| per unit, on the output's device: one
pass of relukit's native kernel on CPU, a few torch reductions elsewhere; no host synchronization until
``report()``.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from relukit import intercept
from relukit import nn as rnn
from relukit.diagnostics import distributed
from relukit.diagnostics.reports import DeadUnitReport, ShowsReport, dead_unit_report
from relukit.diagnostics.tally import Tally

__all__ = ["DeadUnitMonitor", "scan", "activation_kind"]

# torch activations outside the catalog that the monitor observes too (all smooth or saturating)
_EXTRA_TORCH = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid"}
_EXTRA_TORCH |= {nn.Softsign: "softsign", nn.LogSigmoid: "logsigmoid"}
_PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)  # layers whose rows `revive` re-initializes
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def activation_kind(module: nn.Module) -> str | None:
    """The name the monitor reports for an activation module ("relu", "kaf", "tanh"), else None."""
    return rnn.activation_name(module) or _EXTRA_TORCH.get(type(module))


def unwrap(model: nn.Module) -> nn.Module:
    """The wrapped module of DistributedDataParallel/DataParallel, so names carry no "module." prefix."""
    parallel = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    return model.module if isinstance(model, parallel) else model


def _out_units(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, _PRODUCERS):
        return module.out_channels
    if isinstance(module, nn.LayerNorm):
        shape = module.normalized_shape
        return shape[0] if len(shape) == 1 and module.weight is not None else None
    if isinstance(module, nn.GroupNorm):
        return module.num_channels if module.affine else None
    return module.num_features if module.affine else None


def _check_model(fn: str, model: Any) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be an nn.Module, got {type(model).__name__}")
    return model


def _check_modules(modules: Any) -> list | None:
    if modules is None:
        return None
    if isinstance(modules, (str, type, nn.Module)):
        modules = [modules]
    if not isinstance(modules, Iterable):
        raise TypeError(f"DeadUnitMonitor: modules must be names, module classes or modules, got {modules!r}")
    patterns = list(modules)
    for pattern in patterns:
        if not isinstance(pattern, (str, type, nn.Module)):
            raise TypeError(f"DeadUnitMonitor: modules must be names, module classes or modules, got {pattern!r}")
    return patterns


def _check_axis(unit_axis: Any) -> int | dict[str, int] | None:
    values = unit_axis.values() if isinstance(unit_axis, dict) else [] if unit_axis is None else [unit_axis]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"DeadUnitMonitor: unit_axis must be an int or a {{layer name: int}} dict, got {value!r}")
    return unit_axis


class DeadUnitMonitor(ShowsReport):
    """Counts, per unit of every activation, how often it fired since ``reset()`` (see the module doc).

    Args:
        model: the model to observe (a DistributedDataParallel wrapper is unwrapped).
        modules: observe only these layers: glob patterns over layer names ("features.*", "block/relu#*"),
            module classes or module instances. Default: every activation.
        unit_axis: the unit dimension: an int for every layer, or ``{layer name: int}``. Default: dim 1 for
            outputs with ndim >= 3, the last dim otherwise.
        tau: the ReDo dormancy threshold on :math:`s_u`. Default: 0.1

    Example::

        >>> with DeadUnitMonitor(model) as monitor:
        ...     for x, y in loader:
        ...         train_step(x, y)
        >>> monitor.report().to_dict()["layers"][0]["dead_fraction"]
    """

    def __init__(self, model: nn.Module, *, modules: Any = None, unit_axis: Any = None, tau: float = 0.1) -> None:
        self.model = _check_model("DeadUnitMonitor", model)
        self._root = unwrap(model)
        self._patterns = _check_modules(modules)
        self._unit_axis = _check_axis(unit_axis)
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau < 0:
            raise ValueError(f"DeadUnitMonitor: tau must be a finite number >= 0, got {tau!r}")
        self.tau = float(tau)
        self._tallies: dict[str, Tally] = {}
        self._scratch: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}  # shared by all layers
        self._handles: list[Any] = []
        self._stack: list[tuple[nn.Module, str, bool, dict[str, int]]] = []
        self._calls: dict[str, int] = {}  # calls of each activation module in this top-level forward
        self._producer: tuple[str, int] | None = None
        self._norm: tuple[str, int] | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def attach(self) -> DeadUnitMonitor:
        """Registers the hooks (idempotent); statistics keep accumulating across attach/detach."""
        if self._handles:
            return self
        for name, module in self._root.named_modules():
            kind = activation_kind(module)
            self._handles.append(module.register_forward_pre_hook(self._enter_hook(name, kind is not None)))
            self._handles.append(module.register_forward_hook(self._exit_hook(name, kind)))
        self._handles.append(intercept.around_forward(self._root, _Observer(self)))
        return self

    def detach(self) -> None:
        """Removes every hook; the statistics stay for ``report()``."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._stack.clear()

    def reset(self) -> None:
        """Forgets every batch seen so far."""
        self._tallies.clear()

    def __enter__(self) -> DeadUnitMonitor:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    # -- hooks -----------------------------------------------------------------------------------
    def _enter_hook(self, name: str, is_activation: bool):
        def hook(module: nn.Module, args: Any) -> None:
            if module is self._root:  # a new top-level forward: drop frames an exception may have left
                self._stack.clear()
                self._calls.clear()
            self._stack.append((module, name, is_activation, {}))

        return hook

    def _exit_hook(self, name: str, kind: str | None):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            while self._stack and self._stack.pop()[0] is not module:
                pass
            if kind is not None:
                if self._selected(name, module):
                    k = self._calls[name] = self._calls.get(name, -1) + 1
                    self._record(name if k == 0 else f"{name}#{k}", kind, output)
            elif isinstance(module, _PRODUCERS):
                self._producer, self._norm = (name, _out_units(module)), None
            elif isinstance(module, _NORMS):
                self._norm = (name, _out_units(module))

        return hook

    def _on_functional(self, kind: str, output: torch.Tensor) -> None:
        if not self._stack:
            return  # not inside this model's forward
        _, enclosing, is_activation, counts = self._stack[-1]
        if is_activation:
            return  # a relukit.nn module's own call: its forward hook records it
        k = counts.get(kind, 0)
        counts[kind] = k + 1
        name = f"{enclosing}/{kind}#{k}" if enclosing else f"{kind}#{k}"
        if self._selected(name, None):
            self._record(name, kind, output)

    def _selected(self, name: str, module: nn.Module | None) -> bool:
        if self._patterns is None:
            return True
        for pattern in self._patterns:
            if isinstance(pattern, str) and fnmatch.fnmatchcase(name, pattern):
                return True
            if isinstance(pattern, type) and isinstance(module, pattern) or pattern is module:
                return True
        return False

    def _axis(self, name: str, y: torch.Tensor) -> int:
        axis = self._unit_axis.get(name) if isinstance(self._unit_axis, dict) else self._unit_axis
        if axis is None:
            return 1 if y.ndim >= 3 else y.ndim - 1
        if not -y.ndim <= axis < y.ndim:
            raise ValueError(
                f"DeadUnitMonitor: unit_axis {axis} is out of range for layer {name!r} with output shape "
                f"{tuple(y.shape)}"
            )
        return axis % y.ndim

    def _record(self, name: str, kind: str, y: Any) -> None:
        with torch._C.DisableTorchFunction():  # the monitor's own work is no call for torch-function modes
            self._tally(name, kind, y)

    def _tally(self, name: str, kind: str, y: Any) -> None:
        if not isinstance(y, torch.Tensor) or y.ndim == 0 or y.numel() == 0 or not y.is_floating_point():
            return
        axis = self._axis(name, y)
        units = y.shape[axis]
        tally = self._tallies.get(name)
        if tally is None:
            tally = self._tallies[name] = Tally(name, kind, units, y.device)
            if self._producer is not None and self._producer[1] == units:
                tally.producer = self._producer[0]
                tally.norm = self._norm[0] if self._norm is not None and self._norm[1] == units else None
        elif tally.units != units:
            raise ValueError(
                f"DeadUnitMonitor: layer {name!r} had {tally.units} units and now has {units} "
                f"(output shape {tuple(y.shape)}, unit axis {axis}); pass unit_axis"
            )
        tally.add(y, axis, self._scratch)

    # -- results ---------------------------------------------------------------------------------
    def report(self, *, local: bool = False) -> DeadUnitReport:
        """The statistics since ``reset()``, layers in forward order.

        When torch.distributed is initialized (and ``local`` is False) this is a collective: call it on
        every rank; each gets the global report (alive flags reduced by MAX, counts and sums by SUM).
        """
        layers = distributed.reduce_tallies(list(self._tallies.values()), local=local)
        return dead_unit_report(layers, self.tau)


class _Observer(intercept.ActivationMode):
    """The monitor's torch-function mode: every activation call in the model's forward, after it ran."""

    def __init__(self, monitor: DeadUnitMonitor) -> None:
        super().__init__()
        self.monitor = monitor

    def activation(self, form: intercept.Form, func: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
        output = func(*args, **kwargs)
        self.monitor._on_functional(form.member_of(args, kwargs), output)
        return output


def _input(batch: Any) -> torch.Tensor:
    if isinstance(batch, (tuple, list)) and batch:
        batch = batch[0]
    if not isinstance(batch, torch.Tensor):
        raise TypeError(
            f"scan: each batch must be a tensor or a tuple/list starting with one, got {type(batch).__name__}"
        )
    return batch


def _progress(data: Iterable, total: int | None, enabled: bool):
    if not enabled:
        yield from data
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scanning activations", total=total)
        for batch in data:
            yield batch
            bar.advance(task)


def scan(
    model: nn.Module,
    data: Iterable,
    *,
    max_batches: int | None = None,
    progress: bool = True,
    modules: Any = None,
    unit_axis: Any = None,
    tau: float = 0.1,
) -> DeadUnitReport:
    """Runs ``model`` in eval mode under ``torch.no_grad()`` over ``data`` and returns the dead-unit report.

    ``data`` is a DataLoader or any iterable of batches: a tensor, or a tuple/list whose first element is
    the input (moved to the device of the model's first parameter). Every module's train/eval mode is
    restored afterwards. Under torch.distributed each rank scans its own shard and gets the global report.
    """
    _check_model("scan", model)
    if max_batches is not None and (isinstance(max_batches, bool) or not isinstance(max_batches, int)):
        raise TypeError(f"scan: max_batches must be an int or None, got {max_batches!r}")
    if max_batches is not None and max_batches < 0:
        raise ValueError(f"scan: max_batches must be >= 0, got {max_batches}")
    monitor = DeadUnitMonitor(model, modules=modules, unit_axis=unit_axis, tau=tau)
    modes = [(module, module.training) for module in model.modules()]
    parameter = next(model.parameters(), None)
    total = len(data) if hasattr(data, "__len__") else None
    if max_batches is not None:
        total = max_batches if total is None else min(total, max_batches)
    batches = data if max_batches is None else itertools.islice(data, max_batches)
    try:
        model.eval()
        with monitor, torch.no_grad():
            for batch in _progress(batches, total, progress):
                x = _input(batch)
                model(x if parameter is None else x.to(parameter.device))
    finally:
        for module, training in modes:
            module.training = training
    return monitor.report()

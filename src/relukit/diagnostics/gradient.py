r"""GradientFlowMonitor: per-layer gradient norms after each backward, and whether they vanish or explode.

For each layer :math:`l` (a module with parameters of its own, in registration order) and each recorded
backward:

.. math::

    \|g_l\|_2 = \Big(\sum_{p \in l} \|\nabla_p\|_2^2\Big)^{1/2}, \qquad
    \max_l = \max_{p \in l} \|\nabla_p\|_\infty, \qquad
    r = \|g_{\text{first}}\|_2 / \|g_{\text{last}}\|_2

The verdict is "vanishing" when :math:`r < 10^{-3}`, "exploding" when :math:`r > 10^{3}`, "non-finite"
when any gradient holds NaN/inf (named in ``nonfinite``), else "ok". A deep sigmoid net vanishes, a
He-initialized ReLU net does not (Glorot & Bengio 2010; He et al. 2015).

When is "after each backward": the first gradient accumulated into a parameter queues an autograd-engine
callback that queues a second one; callbacks run in order when the backward pass ends, so the second runs
after DistributedDataParallel's own end-of-backward callback has written the all-reduced gradients into
``.grad``. Norms stay on the device until ``report()`` (no host synchronization per step).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from relukit.diagnostics.dead import unwrap
from relukit.diagnostics.reports import GradientFlowReport, GradientStep, ShowsReport, verdict

__all__ = ["GradientFlowMonitor"]


class GradientFlowMonitor(ShowsReport):
    """Records gradient norms per layer and per parameter after every ``every``-th backward in its block.

    Example::

        >>> with GradientFlowMonitor(model) as flow:
        ...     loss_fn(model(x), y).backward()
        >>> flow.report().to_dict()["verdict"]
        'ok'
    """

    def __init__(self, model: nn.Module, *, every: int = 1) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"GradientFlowMonitor: model must be an nn.Module, got {type(model).__name__}")
        if isinstance(every, bool) or not isinstance(every, int):
            raise TypeError(f"GradientFlowMonitor: every must be an int, got {every!r}")
        if every < 1:
            raise ValueError(f"GradientFlowMonitor: every must be >= 1, got {every}")
        self.model, self.every = model, every
        self._parameters: list[tuple[str, str, nn.Parameter]] = []  # (layer, parameter name, parameter)
        seen: set[int] = set()
        for layer, module in unwrap(model).named_modules():
            for name, parameter in module.named_parameters(recurse=False):
                if parameter.requires_grad and id(parameter) not in seen:
                    seen.add(id(parameter))
                    self._parameters.append((layer, f"{layer}.{name}" if layer else name, parameter))
        self._handles: list[Any] = []
        self._queued = -1  # graph task whose end-of-backward callback is queued
        self.backward_count = 0
        self._pending: list[tuple[int, list[int], torch.Tensor]] = []  # (step, parameter indices, norms)
        self._history: list[GradientStep] = []

    def attach(self) -> GradientFlowMonitor:
        """Registers a post-accumulate-grad hook on every trainable parameter (idempotent)."""
        if not self._handles:
            for _, _, parameter in self._parameters:
                self._handles.append(parameter.register_post_accumulate_grad_hook(self._on_gradient))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def reset(self) -> None:
        """Forgets the history (the backward count keeps running)."""
        self._pending.clear()
        self._history.clear()

    def __enter__(self) -> GradientFlowMonitor:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def _on_gradient(self, parameter: torch.Tensor) -> None:
        task = torch._C._current_graph_task_id()  # once per backward, even after one that raised
        if task == self._queued:
            return
        self._queued = task
        engine = torch.autograd.Variable._execution_engine
        engine.queue_callback(lambda: engine.queue_callback(self._after_backward))

    def _after_backward(self) -> None:
        step = self.backward_count
        self.backward_count += 1
        if step % self.every:
            return
        indices, norms = [], []
        with torch.no_grad():
            for index, (_, _, parameter) in enumerate(self._parameters):
                grad = parameter.grad
                if grad is None:
                    continue
                grad = grad.coalesce().values() if grad.is_sparse else grad
                l2 = torch.linalg.vector_norm(grad, dtype=torch.float64)
                largest = torch.linalg.vector_norm(grad, math.inf, dtype=torch.float64)
                indices.append(index)
                norms.append(torch.stack([l2, largest]))
        if indices:
            device = norms[0].device
            self._pending.append((step, indices, torch.stack([n.to(device) for n in norms])))

    def _step(self, step: int, indices: list[int], values: list[list[float]]) -> GradientStep:
        layers: dict[str, dict[str, Any]] = {}
        nonfinite = []
        for index, (l2, largest) in zip(indices, values):
            layer, name, _ = self._parameters[index]
            entry = layers.setdefault(layer, {"name": layer, "norm": 0.0, "max_abs": 0.0, "parameters": []})
            entry["parameters"].append({"name": name, "norm": l2, "max_abs": largest})
            entry["norm"] += l2 * l2
            entry["max_abs"] = max(entry["max_abs"], largest) if not math.isnan(largest) else math.nan
            if not (math.isfinite(l2) and math.isfinite(largest)):
                nonfinite.append(name)
        ordered = list(layers.values())
        for entry in ordered:
            entry["norm"] = math.sqrt(entry["norm"])
        ratio, word = verdict(ordered[0]["norm"], ordered[-1]["norm"], not nonfinite)
        return GradientStep(step, ordered, ratio, word, nonfinite)

    def report(self) -> GradientFlowReport:
        """Every recorded step (one host transfer per step not yet converted)."""
        for step, indices, norms in self._pending:
            self._history.append(self._step(step, indices, norms.cpu().tolist()))
        self._pending.clear()
        return GradientFlowReport(list(self._history))

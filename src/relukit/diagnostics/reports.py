"""Plain-data reports of the diagnostics monitors: numbers in, ``to_dict()`` out; rendering on request.

``print()``, ``plot(path)`` and ``log_to_tensorboard(writer, step)`` import rich, matplotlib and nothing
of tensorboard (the writer is passed in) only when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relukit import catalog
from relukit.diagnostics import render


def relu_like(kind: str) -> bool:
    """True for the piecewise-linear members, where "never > 0" means dead."""
    entry = catalog.BY_NAME.get(kind)
    return entry is not None and (entry.piecewise_linear or kind == "prelu")


@dataclass(frozen=True)
class LayerStats:
    """Dead-unit statistics of one layer since the monitor's ``reset()``.

    ``dead``, ``dead_fraction``, ``dead_units`` and ``batch_zero_fraction`` are None for smooth members.
    ``batch_zero_fraction`` is the mean over batches of the fraction of units with no positive output in
    that batch (a single-batch detector's view). ``unit_rate[u]`` is unit u's activation rate and
    ``unit_score[u]`` its ReDo score; ``producer``/``norm`` name the Linear/Conv and normalization layer
    feeding it (what ``revive`` re-initializes), when found.
    """

    name: str
    kind: str
    units: int
    dead: int | None
    dead_fraction: float | None
    activation_rate: float
    unit_rate_min: float
    unit_rate_mean: float
    unit_rate_max: float
    dormant: int
    dormant_fraction: float
    batch_zero_fraction: float | None
    samples_seen: int
    batches: int
    dead_units: tuple[int, ...] | None
    dormant_units: tuple[int, ...]
    producer: str | None = None
    norm: str | None = None
    unit_rate: tuple[float, ...] = field(default=(), repr=False)
    unit_score: tuple[float, ...] = field(default=(), repr=False)

    def to_dict(self, *, per_unit: bool = False) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k not in ("unit_rate", "unit_score")}
        data["dead_units"] = None if self.dead_units is None else list(self.dead_units)
        data["dormant_units"] = list(self.dormant_units)
        if per_unit:
            data["unit_rate"], data["unit_score"] = list(self.unit_rate), list(self.unit_score)
        return data


@dataclass(frozen=True)
class DeadUnitReport:
    """Per-layer statistics in forward order, and totals over all layers."""

    layers: list[LayerStats]
    totals: dict[str, Any]
    tau: float

    def to_dict(self, *, per_unit: bool = False) -> dict[str, Any]:
        """``{"layers": [...], "totals": {...}, "tau": tau}``; ``per_unit`` adds per-unit rates and scores."""
        return {
            "layers": [s.to_dict(per_unit=per_unit) for s in self.layers],
            "totals": dict(self.totals),
            "tau": self.tau,
        }

    def layer(self, name: str) -> LayerStats:
        for stats in self.layers:
            if stats.name == name:
                return stats
        raise KeyError(f"DeadUnitReport: no layer {name!r}; layers: {[s.name for s in self.layers]}")

    def print(self) -> None:
        render.print_dead_units(self)

    def plot(self, path: Any):
        return render.plot_dead_units(self, path)

    def log_to_tensorboard(self, writer: Any, step: int) -> None:
        render.log_dead_units(self, writer, step)


def _layer_stats(layer: dict[str, Any], tau: float, applies: bool) -> LayerStats:
    meta, units, elements = layer["meta"], layer["meta"]["units"], layer["elements"]
    rate = layer["positive"] / elements if elements else np.zeros(units)
    mean_abs = layer["abs_sum"] / elements if elements else np.zeros(units)
    finite = np.isfinite(mean_abs)  # a unit that produced NaN/inf gets a NaN score and leaves the mean alone
    layer_mean = float(mean_abs[finite].mean()) if finite.any() else 0.0
    score = np.where(finite, mean_abs / layer_mean if layer_mean > 0 else 0.0, np.nan)
    dormant = np.flatnonzero(score <= tau)
    dead = np.flatnonzero(~layer["alive"]) if applies else None
    batches = layer["batches"]
    return LayerStats(
        name=meta["name"],
        kind=meta["kind"],
        units=units,
        dead=None if dead is None else len(dead),
        dead_fraction=None if dead is None else len(dead) / units,
        activation_rate=float(layer["positive"].sum() / (elements * units)) if elements else 0.0,
        unit_rate_min=float(rate.min()),
        unit_rate_mean=float(rate.mean()),
        unit_rate_max=float(rate.max()),
        dormant=len(dormant),
        dormant_fraction=len(dormant) / units,
        batch_zero_fraction=(layer["batch_dead"] / (batches * units) if batches else 0.0) if applies else None,
        samples_seen=layer["samples"],
        batches=batches,
        dead_units=None if dead is None else tuple(int(u) for u in dead),
        dormant_units=tuple(int(u) for u in dormant),
        producer=meta["producer"],
        norm=meta["norm"],
        unit_rate=tuple(float(r) for r in rate),
        unit_score=tuple(float(s) for s in score),
    )


def dead_unit_report(layers: list[dict[str, Any]], tau: float) -> DeadUnitReport:
    """Builds the report from reduced per-layer sums (see ``distributed.reduce_tallies``)."""
    stats = [_layer_stats(layer, tau, relu_like(layer["meta"]["kind"])) for layer in layers]
    applicable = [s for s in stats if s.dead is not None]
    units = sum(s.units for s in stats)
    elements = sum(layer["elements"] * layer["meta"]["units"] for layer in layers)
    positive = sum(int(layer["positive"].sum()) for layer in layers)
    dead_units = sum(s.dead for s in applicable) if applicable else None
    totals = {
        "layers": len(stats),
        "units": units,
        "dead": dead_units,
        "dead_fraction": None if dead_units is None else dead_units / sum(s.units for s in applicable),
        "dormant": sum(s.dormant for s in stats),
        "dormant_fraction": sum(s.dormant for s in stats) / units if units else 0.0,
        "activation_rate": positive / elements if elements else 0.0,
        "samples_seen": max((s.samples_seen for s in stats), default=0),
        "batches": max((s.batches for s in stats), default=0),
    }
    return DeadUnitReport(stats, totals, tau)


# ------------------------------------------------------------------------------------------------
# Gradient flow
# ------------------------------------------------------------------------------------------------
VANISHING, EXPLODING = 1e-3, 1e3


def verdict(first: float, last: float, finite: bool) -> tuple[float, str]:
    """``(first / last, verdict)``: "non-finite" when a gradient holds NaN/inf, "vanishing" when the ratio
    is < 1e-3 (or no gradient reaches the first layer), "exploding" when > 1e3, else "ok"."""
    ratio = first / last if last > 0 else (math.inf if first > 0 else math.nan)
    if not finite:
        return ratio, "non-finite"
    if first == 0 or ratio < VANISHING:
        return ratio, "vanishing"
    return ratio, "exploding" if ratio > EXPLODING else "ok"


@dataclass(frozen=True)
class GradientStep:
    """Gradients after one backward: per layer ``{"name", "norm", "max_abs", "parameters": [...]}``."""

    step: int
    layers: list[dict[str, Any]]
    first_to_last_ratio: float
    verdict: str
    nonfinite: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "first_to_last_ratio": self.first_to_last_ratio,
            "verdict": self.verdict,
            "nonfinite": list(self.nonfinite),
            "layers": [{**layer, "parameters": [dict(p) for p in layer["parameters"]]} for layer in self.layers],
        }


@dataclass(frozen=True)
class GradientFlowReport:
    """The recorded steps; the top-level fields are those of the latest one."""

    history: list[GradientStep]

    @property
    def latest(self) -> GradientStep | None:
        return self.history[-1] if self.history else None

    @property
    def first_to_last_ratio(self) -> float | None:
        return None if self.latest is None else self.latest.first_to_last_ratio

    @property
    def verdict(self) -> str | None:
        return None if self.latest is None else self.latest.verdict

    @property
    def layers(self) -> list[dict[str, Any]]:
        return [] if self.latest is None else self.latest.layers

    def to_dict(self) -> dict[str, Any]:
        """The latest step's ``step``, ``first_to_last_ratio``, ``verdict``, ``nonfinite``, ``layers``, and
        ``history``: per recorded step ``{"step", "first_to_last_ratio", "verdict", "norms": {layer: norm}}``."""
        latest = self.latest.to_dict() if self.latest else {"step": None, "first_to_last_ratio": None}
        latest.setdefault("verdict", None)
        latest.setdefault("nonfinite", [])
        latest.setdefault("layers", [])
        latest["history"] = [
            {
                "step": s.step,
                "first_to_last_ratio": s.first_to_last_ratio,
                "verdict": s.verdict,
                "norms": {layer["name"]: layer["norm"] for layer in s.layers},
            }
            for s in self.history
        ]
        return latest

    def print(self) -> None:
        render.print_gradient_flow(self)

    def plot(self, path: Any):
        return render.plot_gradient_flow(self, path)

    def log_to_tensorboard(self, writer: Any, step: int) -> None:
        render.log_gradient_flow(self, writer, step)


class ShowsReport:
    """``print``/``plot``/``log_to_tensorboard`` of a monitor: those of its latest ``report()``."""

    def print(self) -> None:
        """The report as a rich table."""
        self.report().print()

    def plot(self, path: Any):
        """A per-layer figure (PNG, written atomically); returns its path."""
        return self.report().plot(path)

    def log_to_tensorboard(self, writer: Any, step: int) -> None:
        """The report's scalars and histograms on a ``SummaryWriter``."""
        self.report().log_to_tensorboard(writer, step)

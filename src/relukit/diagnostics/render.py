"""Rendering of diagnostics reports: rich tables, matplotlib figures, TensorBoard scalars.

rich and matplotlib are imported inside each function; the TensorBoard ``writer`` is passed in (any object
with ``add_scalar(tag, value, step)`` and ``add_histogram(tag, values, step)``, e.g. a ``SummaryWriter``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _console():
    from rich.console import Console

    return Console()


def print_dead_units(report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"dead and dormant units (ReDo tau = {report.tau:g})")
    for column in ("layer", "kind", "units", "dead", "dead %", "rate", "unit rate min/mean/max", "dormant"):
        table.add_column(column, justify="left" if column in ("layer", "kind") else "right")
    table.add_column("batch-zero %", justify="right")
    table.add_column("samples", justify="right")
    for s in report.layers:
        table.add_row(
            s.name,
            s.kind,
            str(s.units),
            "n/a" if s.dead is None else str(s.dead),
            _percent(s.dead_fraction),
            f"{s.activation_rate:.3f}",
            f"{s.unit_rate_min:.3f} / {s.unit_rate_mean:.3f} / {s.unit_rate_max:.3f}",
            str(s.dormant),
            _percent(s.batch_zero_fraction),
            f"{s.samples_seen:,}",
        )
    t = report.totals
    table.add_row(
        "total",
        f"{t['layers']} layers",
        str(t["units"]),
        "n/a" if t["dead"] is None else str(t["dead"]),
        _percent(t["dead_fraction"]),
        f"{t['activation_rate']:.3f}",
        "",
        str(t["dormant"]),
        "",
        f"{t['samples_seen']:,}",
        style="bold",
    )
    _console().print(table)


def print_gradient_flow(report: Any) -> None:
    from rich.table import Table

    latest = report.latest
    if latest is None:
        _console().print("gradient flow: no backward recorded")
        return
    table = Table(title=f"gradient flow after backward #{latest.step}")
    table.add_column("layer")
    table.add_column("‖g‖₂", justify="right")
    table.add_column("max |g|", justify="right")
    for layer in latest.layers:
        table.add_row(layer["name"] or "(root)", f"{layer['norm']:.3e}", f"{layer['max_abs']:.3e}")
    table.caption = f"first/last = {latest.first_to_last_ratio:.3e}: {latest.verdict}"
    if latest.nonfinite:
        table.caption += f"; non-finite: {', '.join(latest.nonfinite)}"
    _console().print(table)


def _save(figure: Any, path: Any):
    from relukit.report.figures import _pyplot, save_atomically

    saved = save_atomically(figure, path)
    _pyplot().close(figure)
    return saved.resolve()


def plot_dead_units(report: Any, path: Any):
    """Left: dead, dormant fractions and activation rate per layer. Right: per-unit rates per layer."""
    from relukit.report.figures import _pyplot

    plt = _pyplot()
    names = [s.name for s in report.layers]
    at = np.arange(len(names))
    figure, (left, right) = plt.subplots(1, 2, figsize=(max(8.0, 1.2 * len(names) + 4), 3.8))
    dead = [np.nan if s.dead_fraction is None else s.dead_fraction for s in report.layers]
    left.bar(at - 0.2, dead, 0.4, label="dead", color="C3")
    left.bar(
        at + 0.2, [s.dormant_fraction for s in report.layers], 0.4, label=f"dormant (tau={report.tau:g})", color="C1"
    )
    left.plot(at, [s.activation_rate for s in report.layers], "o-", color="C0", label="activation rate")
    left.set_ylim(0, 1.02)
    left.set_ylabel("fraction")
    left.set_title("per layer")
    if report.layers:
        right.boxplot([list(s.unit_rate) for s in report.layers], positions=at)
    right.set_ylim(-0.02, 1.02)
    right.set_ylabel("unit activation rate")
    right.set_title("per unit")
    for axis in (left, right):
        axis.set_xticks(at, names, rotation=45, ha="right", fontsize=8)
        axis.grid(alpha=0.3)
    left.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_gradient_flow(report: Any, path: Any):
    """Left: per-layer gradient norm (log scale), first and latest step. Right: first/last ratio per step."""
    from relukit.report.figures import _pyplot

    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    shown = report.history[:1] + report.history[1:][-1:]  # the first and the latest step
    for index, step in enumerate(shown):
        norms = [max(layer["norm"], 1e-300) for layer in step.layers]
        left.semilogy(range(len(norms)), norms, "o-", color=f"C{index}", label=f"backward #{step.step}")
    if report.latest is not None:
        names = [layer["name"] for layer in report.latest.layers]
        left.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        left.legend(fontsize=8)
    left.set_ylabel("‖g‖₂ per layer")
    ratios = [(s.step, s.first_to_last_ratio) for s in report.history if math.isfinite(s.first_to_last_ratio)]
    if ratios:
        right.semilogy(*zip(*ratios), color="C2")
    for bound in (1e-3, 1e3):
        right.axhline(bound, color="0.6", ls="--", lw=0.8)
    right.set_xlabel("backward")
    right.set_ylabel("first / last layer")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _tag(name: str) -> str:
    return name.replace("#", "_") or "root"


def log_dead_units(report: Any, writer: Any, step: int) -> None:
    for s in report.layers:
        prefix = f"dead_units/{_tag(s.name)}"
        if s.dead_fraction is not None:
            writer.add_scalar(f"{prefix}/dead_fraction", s.dead_fraction, step)
        writer.add_scalar(f"{prefix}/dormant_fraction", s.dormant_fraction, step)
        writer.add_scalar(f"{prefix}/activation_rate", s.activation_rate, step)
        writer.add_histogram(f"{prefix}/unit_rate", np.asarray(s.unit_rate), step)
    totals = report.totals
    if totals["dead_fraction"] is not None:
        writer.add_scalar("dead_units/total/dead_fraction", totals["dead_fraction"], step)
    writer.add_scalar("dead_units/total/dormant_fraction", totals["dormant_fraction"], step)


def log_gradient_flow(report: Any, writer: Any, step: int) -> None:
    latest = report.latest
    if latest is None:
        return
    for layer in latest.layers:
        writer.add_scalar(f"gradient_flow/norm/{_tag(layer['name'])}", layer["norm"], step)
        writer.add_scalar(f"gradient_flow/max_abs/{_tag(layer['name'])}", layer["max_abs"], step)
    writer.add_scalar("gradient_flow/first_to_last_ratio", latest.first_to_last_ratio, step)

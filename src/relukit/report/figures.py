"""Matplotlib figures (imported only when a figure is drawn)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relukit import array, catalog


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_atomically(figure, path: str | os.PathLike) -> Path:
    """Writes a figure next to ``path`` and renames it into place: never a half-written PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".png.tmp")
    os.close(handle)
    try:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")
        os.chmod(temporary, 0o644)  # mkstemp creates it private; a figure is meant to be read
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _defaults(entry: catalog.Activation) -> dict:
    if entry.name == "threshold":
        return {"threshold": 0.5, "value": 0.0}
    if entry.takes_weight:
        return {"weight": 0.25}
    return {}


def plot_activations(
    entries: Sequence[catalog.Activation], *, low: float, high: float, derivative: bool, out: str | os.PathLike
) -> Path:
    """One panel per member: f (and f' when asked) on [low, high]."""
    plt = _pyplot()
    x = np.linspace(low, high, 1001)
    columns = min(len(entries), 3)
    rows = -(-len(entries) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis, entry in zip(axes.flat, entries):
        params = _defaults(entry)
        axis.plot(x, getattr(array, entry.name)(x, **params), label=f"{entry.name}(x)", color="C0", lw=2)
        if derivative:
            d = getattr(array, f"{entry.name}_derivative")(x, **params)
            axis.plot(x, d, label="derivative", color="C1", lw=1.5, ls="--")
        axis.axhline(0, color="0.8", lw=0.8)
        axis.axvline(0, color="0.8", lw=0.8)
        axis.set_title(entry.name, fontsize=10)
        axis.legend(fontsize=8, loc="upper left")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(entries) :]:
        axis.set_visible(False)
    figure.tight_layout()
    path = save_atomically(figure, out)
    plt.close(figure)
    return path.resolve()

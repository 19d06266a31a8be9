"""One figure per study, drawn from its results dict alone (matplotlib, Agg). Nothing here trains."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from relukit.report.figures import _pyplot, save_atomically
from relukit.studies import statistics as stats


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _finish(figure, path: Path) -> Path:
    figure.tight_layout()
    save_atomically(figure, path)
    _pyplot().close(figure)
    return path


def nonlinearity(result: dict, path: Path) -> Path:
    plt = _pyplot()
    boundary, points = result["boundary"], result["points"]
    x, y = np.array(boundary["x"]), np.array(boundary["y"])
    models = list(result["models"])
    figure, axes = plt.subplots(1, len(models), figsize=(4.4 * len(models), 4.1), squeeze=False)
    xy, labels = np.array(points["x"]), np.array(points["y"])
    for axis, name in zip(axes.flat, models):
        probability = np.array(boundary["probability"][name], dtype=float).reshape(len(y), len(x))
        axis.contourf(x, y, probability, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
        axis.contour(x, y, probability, levels=[0.5], colors="k", linewidths=1.2)
        axis.scatter(*xy[labels == 0].T, s=9, c="tab:blue", edgecolors="white", linewidths=0.3, label="class 0")
        axis.scatter(*xy[labels == 1].T, s=9, c="tab:red", edgecolors="white", linewidths=0.3, label="class 1")
        accuracy = result["models"][name]["test_accuracy"]
        axis.set_title(f"{name}: test accuracy {100 * accuracy:.1f}%", fontsize=10)
        axis.set_aspect("equal")
        axis.set_xticks([])
        axis.set_yticks([])
    axes.flat[0].legend(fontsize=8, loc="lower left")
    return _finish(figure, path)


def vanishing(result: dict, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for index, (name, r) in enumerate(result["activations"].items()):
        for axis, key in zip(axes[:2], ("at_init", "after_training")):
            norms = np.array([np.nan if n is None else n for n in r[key]["layer_norms"]], dtype=float)
            layers = np.arange(1, len(norms) + 1)
            label = f"{name} ({r['init']})" if key == "at_init" else f"{name} (lr {r['best_lr']})"
            axis.semilogy(layers, np.where(norms > 0, norms, np.nan), marker="o", ms=3, color=f"C{index}", label=label)
        best = next(g for g in r["grid"] if g["lr"] == r["best_lr"])
        dead = best["runs"][0]["dead_per_layer"]
        if dead and all(v is not None for v in dead):
            axes[2].plot(np.arange(1, len(dead) + 1), 100 * np.array(dead), marker="o", ms=3, color=f"C{index}",
                         label=name)  # fmt: skip
    axes[0].set_title("at initialization", fontsize=10)
    axes[1].set_title("after training (chosen learning rate, first seed)", fontsize=10)
    axes[2].set_title("dead units after training (first seed)", fontsize=10)
    for axis in axes[:2]:
        axis.set_xlabel("Linear layer (1 = input side)")
        axis.set_ylabel("gradient L2 norm (training split)")
    axes[2].set_xlabel("hidden layer (1 = input side)")
    axes[2].set_ylabel("% of the layer's units never > 0")
    for axis in axes:
        axis.xaxis.set_major_locator(_integer_ticks())
        axis.grid(alpha=0.3, which="both")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    return _finish(figure, path)


def born_dead(result: dict, path: Path) -> Path:
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    widths = sorted({c["width"] for c in result["grid"]})
    depths = np.geomspace(1, max(c["hidden_layers"] for c in result["grid"]), 200)
    for index, width in enumerate(widths):
        cells = [c for c in result["grid"] if c["width"] == width]
        h = np.array([c["hidden_layers"] for c in cells])
        measured = np.array([c["measured"] for c in cells])
        error = np.array([[c["measured"] - c["ci_low"] for c in cells], [c["ci_high"] - c["measured"] for c in cells]])
        left.errorbar(h, measured, yerr=np.clip(error, 0, None), fmt="o", ms=4, capsize=3, color=f"C{index}",
                      label=f"N = {width}")  # fmt: skip
        left.plot(depths, -np.expm1(depths * math.log1p(-(2.0**-width))), color=f"C{index}", lw=1, alpha=0.7)
    left.set_xscale("log")
    left.set_xlabel("hidden layers H")
    left.set_ylabel("fraction of nets dead at the input")
    left.set_title("measured (dots, 95% interval) vs 1 - (1 - 2^-N)^H (lines)", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3, which="both")
    variants = list(dict.fromkeys(c["variant"] for c in result["constant"]))
    const_widths = sorted({c["width"] for c in result["constant"]})
    bar = 0.8 / len(variants)
    for index, variant in enumerate(variants):
        values = {c["width"]: c["constant_fraction"] for c in result["constant"] if c["variant"] == variant}
        positions = np.arange(len(const_widths)) + (index - (len(variants) - 1) / 2) * bar
        right.bar(positions, [values.get(w, 0) for w in const_widths], bar, label=variant, color=f"C{index}")
    right.set_xticks(np.arange(len(const_widths)), [f"N = {w}" for w in const_widths])
    right.set_ylabel("fraction of nets constant on the data")
    right.set_title(f"constant on all inputs, H = {result['config']['constant_hidden_layers']}", fontsize=10)
    right.legend(fontsize=7)
    right.grid(alpha=0.3, axis="y")
    return _finish(figure, path)


def init(result: dict, path: Path) -> Path:
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for index, (scheme, r) in enumerate(result["schemes"].items()):
        for number, run in enumerate(r["runs"]):
            losses = np.array([np.nan if v is None else v for v in run["step_loss"]], dtype=float)
            window = max(1, len(losses) // max(1, len(run["epoch_loss"])))  # about one epoch
            smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
            left.plot(losses, color=f"C{index}", lw=0.5, alpha=0.3)
            steps = np.arange(window - 1, len(losses))
            left.plot(
                steps,
                smooth,
                color=f"C{index}",
                lw=1.5,
                label=f"{scheme} (mean over an epoch)" if number == 0 else None,
            )
            moments = np.array(run["activation_moments"][1:])
            right.semilogy(np.arange(1, len(moments) + 1), moments / moments[0], color=f"C{index}", lw=1,
                           alpha=0.8, label=f"{scheme} (measured)" if number == 0 else None)  # fmt: skip
        layers = np.arange(1, result["config"]["hidden_layers"] + 1)
        per_layer = r["predicted_ratio"] ** (1 / max(1, len(layers) - 1))
        right.semilogy(
            layers, per_layer ** (layers - 1), color=f"C{index}", ls="--", lw=1.5, label=f"{scheme} (theory)"
        )
    left.axhline(result["chance_loss"], color="0.4", ls=":", lw=1, label="chance (ln K)")
    left.set_xlabel("training step")
    left.set_ylabel("training loss (minibatch)")
    left.set_title(f"{result['config']['hidden_layers']}-layer ReLU MLP", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.xaxis.set_major_locator(_integer_ticks())
    right.set_xlabel("hidden layer")
    right.set_ylabel("E[a^2] relative to layer 1")
    right.set_title("forward signal at initialization", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3, which="both")
    return _finish(figure, path)


def _error(interval: dict | None) -> tuple[float, float]:
    """(mean, half-width) in percent; half-width 0 for a single run."""
    if interval is None:
        return np.nan, 0.0
    return 100 * interval["mean"], 0.0 if interval["half_width"] is None else 100 * interval["half_width"]


def dying(result: dict, path: Path) -> Path:
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    series = list(result["activations"].items()) + [("relu, lr " + str(result["config"]["control_lr"]),
                                                     result["control"]["relu"])]  # fmt: skip
    for index, (name, r) in enumerate(series):
        key, label = ("dead_fraction", "dead") if r["dead_applicable"] else ("dormant_fraction", "dormant")
        style = ":" if name.startswith("relu, lr") else "-"
        curves = 100 * np.array([run[key] for run in r["runs"]], dtype=float)
        epochs = np.arange(curves.shape[1])
        for curve in curves:
            left.plot(epochs, curve, lw=0.6, alpha=0.35, ls=style, color=f"C{index}")
        left.plot(epochs, curves.mean(axis=0), marker="o", ms=3, ls=style, color=f"C{index}", label=f"{name} ({label})")
    left.set_xlabel("epoch (0 = initialization)")
    left.xaxis.set_major_locator(_integer_ticks())
    left.set_ylabel("% of hidden units")
    left.set_title(f"dead units over the training set, lr {result['config']['lr']}", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    revived = [name for name, r in result["activations"].items() if r.get("revive_runs")]
    labels = ["after training", "after revive", "revive + fine-tune", "fine-tune only"]
    keys = ["dead_fraction_before", "dead_fraction_after", "dead_fraction_finetuned",
            "dead_fraction_finetuned_without_revive"]  # fmt: skip
    bar = 0.8 / len(keys)
    for index, (label, key) in enumerate(zip(labels, keys)):
        values = []
        for name in revived:
            effects = [run["revive"][key] for run in result["activations"][name]["runs"] if run.get("revive")]
            values.append(stats.t_interval(effects) if None not in effects else None)
        means, halves = (np.array(v, dtype=float) for v in zip(*(_error(v) for v in values))) if values else ([], [])
        clipped = [
            np.minimum(halves, means),
            np.minimum(halves, 100 - means),
        ]  # fractions: the interval within [0, 100]
        right.bar(np.arange(len(revived)) + (index - 1.5) * bar, means, bar, yerr=clipped, capsize=2, label=label,
                  color=f"C{index}")  # fmt: skip
    right.set_xticks(np.arange(len(revived)), revived)
    right.set_ylabel("% of hidden units dead")
    right.set_title(f"revive(model, report), then {result['config']['finetune_epochs']} epochs at lr "
                    f"{result['config']['finetune_lr']}", fontsize=10)  # fmt: skip
    right.legend(fontsize=8)
    right.grid(alpha=0.3, axis="y")
    return _finish(figure, path)


def compare(result: dict, path: Path) -> Path:
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(result["activations"])
    means, halves = zip(*(_error(result["activations"][n]["test_accuracy_interval"]) for n in names))
    for index, name in enumerate(names):  # dots, not bars: the axis does not start at 0
        runs = [100 * r["test_accuracy"] for r in result["activations"][name]["runs"]]
        left.scatter([index] * len(runs), runs, s=10, color=f"C{index}", alpha=0.5)
        left.errorbar(index, means[index], yerr=halves[index], fmt="o", ms=7, capsize=4, color=f"C{index}")
    left.set_xticks(range(len(names)), names)
    everything = [100 * r["test_accuracy"] for n in names for r in result["activations"][n]["runs"]]
    everything += [m - h for m, h in zip(means, halves)] + [m + h for m, h in zip(means, halves)]
    left.set_ylim(max(0.0, min(everything) - 0.5), min(100.5, max(everything) + 0.5))
    left.set_ylabel("test accuracy (%)")
    left.set_title(f"small {result['model'].upper()} on {result['data']['name']}: {result['config']['seeds']} seeds "
                   "(dots), mean ± 95% t interval", fontsize=10)  # fmt: skip
    left.tick_params(axis="x", rotation=45)
    left.grid(alpha=0.3, axis="y")
    ours = np.array([result["activations"][n]["saved_bytes_per_step"] for n in names], dtype=float) / 1024
    torch_bytes = [result["activations"][n]["saved_bytes_per_step_torch"] for n in names]
    theirs = np.array([np.nan if b is None else b for b in torch_bytes], dtype=float) / 1024
    positions = np.arange(len(names))
    right.bar(positions - 0.2, theirs, 0.4, label="torch modules", color="0.6")
    right.bar(positions + 0.2, ours, 0.4, label="relukit modules", color="C0")
    right.set_xticks(positions, names, rotation=45)
    right.set_ylabel("KiB saved for backward per step")
    right.set_title(f"memory of one training step (batch {result['config']['batch_size']})", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3, axis="y")
    return _finish(figure, path)


def fewbit(result: dict, path: Path) -> Path:
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    bits = result["config"]["bits"]
    for index, (member, variants) in enumerate(result["members"].items()):
        names = [f"{k}bit" for k in bits]
        offset = (index - 1) * 0.08
        cosine = [_error(variants[n]["gradient_cosine_interval"]) for n in names]
        left.errorbar([k + offset for k in bits], [1 - m / 100 for m, _ in cosine], yerr=[h / 100 for _, h in cosine],
                      fmt="o-", capsize=3, color=f"C{index}", label=member)  # fmt: skip
        difference = [_error(variants[n]["difference_to_exact"]) for n in names]
        right.errorbar([k + offset for k in bits], [m for m, _ in difference], yerr=[h for _, h in difference],
                       fmt="o", capsize=3, color=f"C{index}", label=member)  # fmt: skip
    left.set_yscale("log")
    left.set_xticks(bits)
    left.set_xlabel("bits per element")
    left.set_ylabel("1 - cosine(k-bit gradient, exact gradient)")
    left.set_title("gradient direction during training (lower: closer to exact)", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.axhline(0, color="0.4", ls="--", lw=1)
    right.set_xticks(bits)
    right.set_xlabel("bits per element")
    right.set_ylabel("test accuracy minus exact backward (points)")
    right.set_title(f"{result['config']['seeds']} paired seeds, mean ± 95% t interval", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3, axis="y")
    return _finish(figure, path)


FIGURES: dict[str, Callable[[dict, Path], Path]] = {
    "nonlinearity": nonlinearity,
    "vanishing": vanishing,
    "born_dead": born_dead,
    "init": init,
    "dying": dying,
    "compare": compare,
    "fewbit": fewbit,
}


def draw(key: str, result: dict, directory: Path) -> list[str]:
    """Draws the study's figure(s) into ``directory``; returns the file names."""
    name = f"{key}.png"
    FIGURES[key](result, directory / name)
    return [name]

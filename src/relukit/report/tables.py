"""Summary tables of each study's results: plain (title, columns, rows of strings).

The CLI prints them with rich and the HTML report renders them: one source for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _bytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:,.1f} KiB"


def nonlinearity(result: dict) -> list[Table]:
    rows = [
        [name, _pct(m["train_accuracy"]), _pct(m["test_accuracy"]), _num(m["affine_residual"], ".2e")]
        for name, m in result["models"].items()
    ]
    columns = ["activation", "train accuracy", "test accuracy", "distance from an affine map"]
    return [Table("two spirals: identity vs ReLU", columns, rows)]


def interval_text(interval: dict | None, digits: int = 1) -> str:
    """'96.4% [95.9, 96.9]': the mean and its 95% t interval, clipped to [0, 1] (every interval here is of a
    fraction: accuracy, dead or dormant units)."""
    if interval is None:
        return "-"
    if interval["low"] is None:
        return _pct(interval["mean"], digits)
    low, high = max(0.0, interval["low"]), min(1.0, interval["high"])
    return f"{100 * interval['mean']:.{digits}f}% [{100 * low:.{digits}f}, {100 * high:.{digits}f}]"


def _difference(interval: dict | None) -> str:
    """'+0.8 [+0.2, +1.4]' percentage points, with the verdict of the claim rule."""
    if interval is None:
        return "-"
    mean = f"{100 * interval['mean']:+.1f}"
    if interval["low"] is None:
        return mean
    verdict = {"higher": "higher", "lower": "lower", None: "not resolved"}[interval["resolved"]]
    low, high = max(-1.0, interval["low"]), min(1.0, interval["high"])  # a difference of fractions
    return f"{mean} [{100 * low:+.1f}, {100 * high:+.1f}] {verdict}"


def vanishing(result: dict) -> list[Table]:
    rows = []
    for name, r in result["activations"].items():
        rows.append(
            [
                name,
                r["init"],
                str(r["best_lr"]),
                _pct(r["test_accuracy"]),
                ", ".join(_pct(v) for v in r["test_accuracy_runs"]),
                _pct(r["dead_fraction"]) if r["dead_fraction"] is not None else "n/a",
                _pct(r["dormant_fraction"]),
                f"{_num(r['at_init']['first_to_last_ratio'], '.2e')} {r['at_init']['verdict']}",
                ", ".join(f"{_num(v, '.2e')} {verdict}" for v, verdict in zip(r["first_to_last_ratio_runs"],
                                                                              r["verdict_runs"])),
            ]
        )  # fmt: skip
    columns = ["activation", "init", "chosen lr", "test accuracy", "per seed", "dead after", "dormant after",
               "first/last at init", "first/last trained (per seed)"]  # fmt: skip
    grid_rates = [g["lr"] for g in next(iter(result["activations"].values()))["grid"]]
    grid = [
        [name, *(f"{_pct(g['validation_accuracy'])} / {_pct(g['test_accuracy'])}" for g in r["grid"])]
        for name, r in result["activations"].items()
    ]
    depth = result["config"]["hidden_layers"]
    return [
        Table(f"{depth}-layer MLP, each activation at its chosen learning rate", columns, rows),
        Table(
            "validation / test accuracy per learning rate (mean over seeds; the rate is chosen on validation)",
            ["activation", *(f"lr {lr}" for lr in grid_rates)],
            grid,
        ),
    ]


def born_dead(result: dict) -> list[Table]:
    level = _pct(result["config"]["ci_level"], 0)
    grid = [
        [str(c["width"]), str(c["hidden_layers"]), str(c["trials"]), f"{c['measured']:.4f}", f"{c['exact']:.4f}",
         f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}]", "yes" if c["ci_low"] <= c["exact"] <= c["ci_high"] else "NO"]
        for c in result["grid"]
    ]  # fmt: skip
    columns = ["width N", "hidden layers H", "nets", "measured", "exact 1-(1-2^-N)^H", f"{level} interval", "inside"]
    title = f"dead at a fixed input ({result['inside_interval']}/{len(result['grid'])} exact values inside)"
    widths = sorted({c["width"] for c in result["constant"]})
    by_variant: dict[str, dict[int, float]] = {}
    for c in result["constant"]:
        by_variant.setdefault(c["variant"], {})[c["width"]] = c["constant_fraction"]
    constant = [[variant, *(_pct(v.get(w)) for w in widths)] for variant, v in by_variant.items()]
    depth = result["config"]["constant_hidden_layers"]
    constant_title = f"nets constant on all {result['constant_samples']} inputs (H = {depth})"
    return [
        Table(title, columns, grid),
        Table(constant_title, ["initialization", *(f"N={w}" for w in widths)], constant),
    ]


def init(result: dict) -> list[Table]:
    rows = []
    for scheme, r in result["schemes"].items():
        measured = [run["measured_ratio"] for run in r["runs"]]
        finals = [run["final_train_loss"] for run in r["runs"]]
        rows.append(
            [
                scheme,
                _num(r["predicted_ratio"], ".2e"),
                ", ".join(_num(m, ".2e") for m in measured),
                ", ".join(_num(f, ".3f") for f in finals),
                f"{r['stalled_runs']}/{len(r['runs'])}",
                _pct(r["mean_test_accuracy"]),
            ]
        )
    columns = [
        "init",
        "E[a_L^2]/E[a_1^2] theory",
        "measured (per seed)",
        "final train loss",
        "stalled",
        "test accuracy",
    ]
    title = f"{result['config']['hidden_layers']}-layer ReLU MLP (chance loss ln K = {result['chance_loss']:.3f})"
    return [Table(title, columns, rows)]


def dying(result: dict) -> list[Table]:
    rows = []
    for name, r in result["activations"].items():
        rows.append(
            [
                name,
                interval_text(r["dead_fraction_interval"]) if r["dead_applicable"] else "n/a",
                interval_text(r["dormant_fraction_interval"]),
                interval_text(r["test_accuracy_interval"]),
                _difference(r.get("difference_to_relu")),
                _difference(r.get("revive_accuracy_difference")),
                _difference(r.get("revive_dead_difference")),
            ]
        )
    control = result["control"]["relu"]
    fractions = [interval_text(control[key]) for key in ("dead_fraction_interval", "dormant_fraction_interval")]
    label = f"relu, lr {result['config']['control_lr']}"
    rows.append([label, *fractions, interval_text(control["test_accuracy_interval"]), "-", "-", "-"])
    columns = ["activation", "dead after", "dormant after", "test accuracy", "vs relu (points)",
               "revive: accuracy (points)", "revive: dead units (points)"]  # fmt: skip
    seeds = result["config"]["seeds"]
    title = (
        f"training at lr {result['config']['lr']}, {seeds} seeds: mean [95% t interval]; revive = revive + fine-tune "
    )
    title += "minus fine-tune only, paired per seed"
    return [Table(title, columns, rows)]


def compare(result: dict) -> list[Table]:
    rows = []
    for name, r in result["activations"].items():
        seconds = result["timing"].get(name, {}).get("seconds_per_epoch")
        rows.append(
            [
                name,
                interval_text(r["test_accuracy_interval"], 2),
                _difference(r.get("difference_to_relu")),
                str(len(r["runs"])),
                _num(seconds, ".3f"),
                _bytes(r["saved_bytes_per_step"]),
                _bytes(r["saved_bytes_per_step_torch"]),
            ]
        )
    columns = [
        "activation",
        "test accuracy [95% interval]",
        "minus relu, paired (points)",
        "seeds",
        "s/epoch",
        "saved/step (relukit)",
        "saved/step (torch)",
    ]
    return [Table(f"small {result['model'].upper()} on {result['data']['name']}", columns, rows)]


def fewbit(result: dict) -> list[Table]:
    rows = []
    for member, variants in result["members"].items():
        for variant, r in variants.items():
            cosine = r.get("gradient_cosine_interval")
            rows.append(
                [
                    member,
                    variant,
                    interval_text(r["test_accuracy_interval"], 2),
                    _difference(r.get("difference_to_exact")),
                    "1" if cosine is None else f"{cosine['mean']:.5f} ± {cosine['half_width'] or 0:.5f}",
                    _num(r.get("relative_derivative_rms_error"), ".3f"),
                    f"{r['saved_bytes_per_element']:.3f}",
                    _bytes(r["saved_bytes_per_step"]),
                ]
            )
    columns = [
        "member",
        "backward",
        "test accuracy [95% interval]",
        "minus exact, paired (points)",
        "gradient cosine to exact [95%]",
        "derivative RMS error / RMS f'",
        "saved bytes per element (fp32)",
        "saved/step",
    ]
    return [Table(f"few-bit backward: small {result['model'].upper()} on {result['data']['name']}", columns, rows)]


SUMMARIES: dict[str, Callable[[dict], list[Table]]] = {
    "nonlinearity": nonlinearity,
    "vanishing": vanishing,
    "born_dead": born_dead,
    "init": init,
    "dying": dying,
    "compare": compare,
    "fewbit": fewbit,
}


def summaries(key: str, result: dict) -> list[Table]:
    return SUMMARIES[key](result)

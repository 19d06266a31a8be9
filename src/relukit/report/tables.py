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


def vanishing(result: dict) -> list[Table]:
    rows = []
    for name, r in result["activations"].items():
        rows.append(
            [
                name,
                r["init"],
                _num(r["at_init"]["first_to_last_ratio"], ".2e"),
                r["at_init"]["verdict"],
                _num(r["after_training"]["first_to_last_ratio"], ".2e"),
                r["after_training"]["verdict"],
                _pct(r["test_accuracy"]),
            ]
        )
    columns = ["activation", "init", "first/last at init", "verdict", "first/last trained", "verdict", "test accuracy"]
    return [
        Table(
            f"{result['config']['hidden_layers']}-layer MLP: gradient norm of the first layer / the last", columns, rows
        )
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
        revive = r.get("revive") or {}
        rows.append(
            [
                name,
                _pct(r["dead_fraction"][0]) if r["dead_applicable"] else "n/a",
                _pct(r["dead_fraction"][-1]) if r["dead_applicable"] else "n/a",
                _pct(r["dormant_fraction"][-1]),
                _pct(r["test_accuracy"]),
                _pct(revive.get("dead_fraction_after")) if revive else "-",
                _pct(revive.get("accuracy_finetuned")) if revive else "-",
                _pct(revive.get("accuracy_finetuned_without_revive")) if revive else "-",
            ]
        )
    columns = ["activation", "dead at init", "dead after", "dormant after", "test accuracy",
               "dead after revive", "revive + fine-tune", "fine-tune only"]  # fmt: skip
    return [Table(f"training at lr {result['config']['lr']}: dead units over the training set", columns, rows)]


def compare(result: dict) -> list[Table]:
    rows = []
    for name, r in result["activations"].items():
        seconds = result["timing"].get(name, {}).get("seconds_per_epoch")
        rows.append(
            [
                name,
                f"{100 * r['mean_test_accuracy']:.2f} ± {100 * r['std_test_accuracy']:.2f}%",
                str(len(r["runs"])),
                _num(seconds, ".3f"),
                _bytes(r["saved_bytes_per_step"]),
                _bytes(r["saved_bytes_per_step_torch"]),
            ]
        )
    columns = [
        "activation",
        "test accuracy (mean ± std)",
        "seeds",
        "s/epoch",
        "saved/step (relukit)",
        "saved/step (torch)",
    ]
    return [Table(f"small {result['model'].upper()} on {result['data']['name']}", columns, rows)]


SUMMARIES: dict[str, Callable[[dict], list[Table]]] = {
    "nonlinearity": nonlinearity,
    "vanishing": vanishing,
    "born_dead": born_dead,
    "init": init,
    "dying": dying,
    "compare": compare,
}


def summaries(key: str, result: dict) -> list[Table]:
    return SUMMARIES[key](result)

"""One-line findings computed from the results: what was measured, and no claim its intervals do not allow.

A sentence names an activation better or worse than ReLU only when the 95% t interval of the paired
difference excludes 0 (``relukit.studies.statistics.resolved``); otherwise it says the difference is not
resolved and how wide the interval is.
"""

from __future__ import annotations

import math

from relukit.report.tables import interval_text as _interval


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _difference(interval: dict) -> str:
    """'+0.8 points [+0.2, +1.4]'."""
    if interval["low"] is None:
        return f"{_points(interval['mean'])} points (one seed, no interval)"
    low, high = max(-1.0, interval["low"]), min(1.0, interval["high"])  # a difference of fractions
    return f"{_points(interval['mean'])} points [{_points(low)}, {_points(high)}]"


def differences_to_relu(results: dict, what: str) -> list[str]:
    """Sentences on the paired differences to ReLU: winners/losers only where the interval excludes 0."""
    compared = {name: r["difference_to_relu"] for name, r in results.items() if "difference_to_relu" in r}
    if not compared:
        return []
    level = round(100 * next(iter(compared.values()))["level"])
    seeds = next(iter(compared.values()))["n"]
    higher = [f"{name} {_difference(d)}" for name, d in compared.items() if d["resolved"] == "higher"]
    lower = [f"{name} {_difference(d)}" for name, d in compared.items() if d["resolved"] == "lower"]
    open_ = [name for name, d in compared.items() if d["resolved"] is None]
    lines = []
    if higher:
        lines.append(
            f"{what} higher than ReLU ({level}% interval of the paired difference excludes 0): {'; '.join(higher)}"
        )
    if lower:
        lines.append(f"{what} lower than ReLU ({level}% interval excludes 0): {'; '.join(lower)}")
    if open_:
        widths = [compared[n]["half_width"] for n in open_ if compared[n]["half_width"] is not None]
        spread = ""
        if widths:
            low, high = f"{100 * min(widths):.1f}", f"{100 * max(widths):.1f}"
            spread = (
                f" (interval half-width {low} points)"
                if low == high
                else f" (interval half-widths {low}-{high} points)"
            )
        lines.append(
            f"not resolved from ReLU with {seeds} paired seeds{spread}: {', '.join(open_)}; no ranking among these "
            "is claimed"
        )
    if higher or lower:
        lines.append(
            f"{len(compared)} comparisons at {level}% each: about {len(compared) * (100 - level) / 100:.1f} would "
            "exclude 0 by chance alone if no activation differed from ReLU"
        )
    return lines


def _nonlinearity(result: dict) -> list[str]:
    return [
        f"{name}: test accuracy {_pct(m['test_accuracy'])}; largest deviation from an affine map "
        f"{m['affine_residual']:.1e} (relative)"
        for name, m in result["models"].items()
    ]


def _ratio(value) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def _vanishing(result: dict) -> list[str]:
    lines = []
    for name, r in result["activations"].items():
        runs = ", ".join(_pct(v) for v in r["test_accuracy_runs"])
        dead = "" if r["dead_fraction"] is None else f"dead {_pct(r['dead_fraction'])}, "
        lines.append(
            f"{name} ({r['init']} init): chosen lr {r['best_lr']} (validation {_pct(r['validation_accuracy'])}); "
            f"test accuracy {_pct(r['test_accuracy'])} (seeds: {runs}); after training {dead}dormant "
            f"{_pct(r['dormant_fraction'])}; first/last gradient norm {_ratio(r['at_init']['first_to_last_ratio'])} "
            f"at init ({r['at_init']['verdict']}), after training "
            f"{', '.join(_ratio(v) for v in r['first_to_last_ratio_runs'])} ({', '.join(r['verdict_runs'])})"
        )
    return lines + vanishing_explanation(result)


def _grid_spread(activation: dict) -> tuple[float, float, float]:
    """(worst mean test accuracy over the grid, best, largest gap between seeds at any one rate)."""
    means = [g["test_accuracy"] for g in activation["grid"]]
    gaps = [max(r["test_accuracy"] for r in g["runs"]) - min(r["test_accuracy"] for r in g["runs"])
            for g in activation["grid"] if g.get("runs")]  # fmt: skip
    return min(means), max(means), max(gaps, default=0.0)


def vanishing_explanation(result: dict) -> list[str]:
    """Why ReLU ends where it ends against tanh, from the numbers: gradients, dead units, rates, seeds."""
    acts = result["activations"]
    if "relu" not in acts or "tanh" not in acts:
        return []
    relu, tanh = acts["relu"], acts["tanh"]
    depth = result["config"]["hidden_layers"]
    gap = tanh["test_accuracy"] - relu["test_accuracy"]
    per_rate = ", ".join(f"lr {g['lr']} {_pct(g['test_accuracy'])}" for g in relu["grid"])
    if gap <= 0:
        return [
            f"with its own learning rate ReLU reaches {_pct(relu['test_accuracy'])} against tanh's "
            f"{_pct(tanh['test_accuracy'])} at depth {depth} (ReLU per rate: {per_rate}): given the same chance, "
            "ReLU does not trail tanh here"
        ]
    lines = [
        f"explanation: with each activation's own learning rate ReLU still trails tanh by {100 * gap:.1f} points at "
        f"depth {depth} without normalization ({_pct(relu['test_accuracy'])} vs {_pct(tanh['test_accuracy'])}; "
        f"ReLU per rate: {per_rate})"
    ]
    rates = [g["lr"] for g in relu["grid"]]
    if len(rates) > 1 and relu["best_lr"] in (min(rates), max(rates)):
        edge = "smallest" if relu["best_lr"] == min(rates) else "largest"
        lines.append(f"ReLU's chosen rate is the grid's {edge}: rates beyond it were not tried")
    if set(relu["verdict_runs"]) == {"ok"}:
        lines.append(
            "the gradient is not the cause: ReLU's first/last gradient-norm ratio after training is "
            f"{', '.join(_ratio(v) for v in relu['first_to_last_ratio_runs'])} ('ok' on every seed), so the first "
            "layer still gets a gradient of the last layer's order"
        )
    else:
        lines.append(f"ReLU's gradient verdicts after training: {', '.join(relu['verdict_runs'])}")
    if relu["dead_fraction"]:
        lines.append(
            f"units die: after training {_pct(relu['dead_fraction'])} of ReLU's hidden units are dead (never > 0 on "
            f"the training split, so they pass no gradient to their weights) and {_pct(relu['dormant_fraction'])} "
            f"dormant, against {_pct(tanh['dormant_fraction'])} dormant for tanh, whose units cannot die"
        )
    best = next((g for g in relu["grid"] if g["lr"] == relu["best_lr"] and g.get("runs")), None)
    per_layer = best["runs"][0].get("dead_per_layer") if best else None
    if per_layer and len(per_layer) > 1 and None not in per_layer:
        half = len(per_layer) // 2
        shallow, deep = sum(per_layer[:half]) / half, sum(per_layer[half:]) / (len(per_layer) - half)
        lines.append(
            f"where they die (first seed): {_pct(shallow)} of the units in hidden layers 1-{half} on average, "
            f"{_pct(deep)} in layers {half + 1}-{len(per_layer)}"
        )
    ranked = sorted(acts.items(), key=lambda item: -item[1]["test_accuracy"])
    lines.append(
        "dormant units after training / test accuracy, best first: "
        + ", ".join(f"{name} {_pct(r['dormant_fraction'])} / {_pct(r['test_accuracy'])}" for name, r in ranked)
    )
    relu_low, relu_high, relu_seeds = _grid_spread(relu)
    tanh_low, tanh_high, tanh_seeds = _grid_spread(tanh)
    fragile = relu_low < tanh_low and relu_seeds > tanh_seeds
    lines.append(
        f"{'ReLU is the more fragile to train: ' if fragile else ''}over the grid ReLU's accuracy ranges "
        f"{_pct(relu_low)}-{_pct(relu_high)} (tanh {_pct(tanh_low)}-{_pct(tanh_high)}), and its seeds end up to "
        f"{100 * relu_seeds:.1f} points apart at one rate (tanh up to {100 * tanh_seeds:.1f})"
    )
    lines.append(
        "the literature does not promise more: He et al. 2015 show a 30-layer plain ReLU net starting to train with "
        "their initialization where Xavier's stalls (Fig. 3), a result about starting, not about final accuracy "
        "against other activations; Hanin & Rolnick 2018 prove "
        "that fully connected ReLU nets at this initialization can still fail early when the sum of reciprocal "
        f"widths is large (here {depth}/{result['config'].get('width', 64)}); this study leaves normalization out on "
        "purpose"
    )
    return lines


def _born_dead(result: dict) -> list[str]:
    level = round(100 * result["config"]["ci_level"])
    cells = len(result["grid"])
    worst = max(result["grid"], key=lambda c: abs(c["measured"] - c["exact"]))
    return [
        f"{result['inside_interval']} of {cells} exact probabilities lie inside the {level}% interval of the measured "
        f"fraction ({result['expected_inside']:.2f} expected by chance alone).",
        f"Largest gap: N = {worst['width']}, H = {worst['hidden_layers']}: measured {worst['measured']:.4f}, exact "
        f"{worst['exact']:.4f}, over {worst['trials']} nets.",
    ]


def _init(result: dict) -> list[str]:
    lines = []
    for scheme, r in result["schemes"].items():
        measured = ", ".join(f"{run['measured_ratio']:.2g}" for run in r["runs"])
        lines.append(
            f"{scheme}: signal ratio E[a_L^2]/E[a_1^2] at init {measured} (theory {r['predicted_ratio']:.2g}); "
            f"{r['stalled_runs']}/{len(r['runs'])} runs stalled at chance loss; mean test accuracy "
            f"{_pct(r['mean_test_accuracy'])}"
        )
    return lines


def _dying(result: dict) -> list[str]:
    lines = []
    for name, r in result["activations"].items():
        measure, interval = (
            ("dead", r["dead_fraction_interval"])
            if r["dead_applicable"]
            else ("dormant", r["dormant_fraction_interval"])
        )
        accuracy_text = _interval(r["test_accuracy_interval"])
        line = f"{name}: {measure} {_interval(interval)} after training, test accuracy {accuracy_text}"
        if "revive_accuracy_difference" in r:
            accuracy, dead = r["revive_accuracy_difference"], r["revive_dead_difference"]
            effect = {"higher": "revive helps", "lower": "revive hurts", None: "effect not resolved"}[
                accuracy["resolved"]
            ]
            line += (
                f"; revive then fine-tune vs fine-tune only ({r['revive_runs']} paired runs): accuracy "
                f"{_difference(accuracy)} ({effect}), dead units {_difference(dead)}"
            )
        lines.append(line)
    lines += differences_to_relu(result["activations"], f"test accuracy at lr {result['config']['lr']}")
    control = result["control"]["relu"]
    dead = _interval(control["dead_fraction_interval"])
    lines.append(
        f"control (relu, lr {result['config']['control_lr']}): dead {dead} "
        f"after training, test accuracy {_interval(control['test_accuracy_interval'])}"
    )
    return lines


def _compare(result: dict) -> list[str]:
    acts = result["activations"]
    seeds = len(next(iter(acts.values()))["runs"])
    means = [r["mean_test_accuracy"] for r in acts.values()]
    lines = [
        f"mean test accuracy {_pct(min(means))} to {_pct(max(means))} over {len(acts)} activations, {seeds} seeds each"
    ]
    lines += differences_to_relu(acts, "test accuracy")
    for name, r in acts.items():
        ours, theirs = r["saved_bytes_per_step"], r["saved_bytes_per_step_torch"]
        if theirs and not math.isclose(ours, theirs):
            lines.append(f"{name}: relukit saves {ours / theirs:.2f}x the bytes torch's module saves per step")
    return lines


def _fewbit(result: dict) -> list[str]:
    lines = []
    for member, variants in result["members"].items():
        compared = {name: r["difference_to_exact"] for name, r in variants.items() if "difference_to_exact" in r}
        seeds = next(iter(compared.values()))["n"]
        named = [f"{name} {_difference(d)}" for name, d in compared.items() if d["resolved"]]
        open_ = [name for name, d in compared.items() if d["resolved"] is None]
        cosines = ", ".join(f"{name} {r['gradient_cosine_interval']['mean']:.4f}" for name, r in variants.items()
                            if "gradient_cosine_interval" in r)  # fmt: skip
        text = f"{member}: mean gradient cosine to exact {cosines}"
        if named:
            text += f"; test accuracy differs from exact (95% interval excludes 0): {'; '.join(named)}"
        if open_:
            text += f"; not resolved from exact with {seeds} paired seeds: {', '.join(open_)}"
        lines.append(text)
    worst = max(((m, v, r["relative_derivative_rms_error"]) for m, vs in result["members"].items()
                 for v, r in vs.items() if "relative_derivative_rms_error" in r), key=lambda t: t[2])  # fmt: skip
    lines.append(f"largest derivative error under N(0, 1): {worst[0]} {worst[1]}, RMS {100 * worst[2]:.1f}% of RMS f'")
    return lines


_FINDINGS = {
    "nonlinearity": _nonlinearity,
    "vanishing": _vanishing,
    "born_dead": _born_dead,
    "init": _init,
    "dying": _dying,
    "compare": _compare,
    "fewbit": _fewbit,
}


def findings(key: str, result: dict) -> list[str]:
    """Plain sentences stating what was measured (numbers only, claims only where intervals allow)."""
    return _FINDINGS[key](result)

"""The README's study table, written from a results.json (``relukit study --quick``'s, seed 0).

``python -m relukit.report.readme relukit-report/results.json README.md`` replaces the table between the
``<!-- studies:begin -->`` and ``<!-- studies:end -->`` markers. Claims follow the report's rule: a
difference to ReLU is named only when its 95% interval excludes 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BEGIN, END = "<!-- studies:begin -->", "<!-- studies:end -->"
QUESTIONS = {
    "nonlinearity": "does depth help without a nonlinearity?",
    "vanishing": "does the gradient survive 20 layers, and how does each member train given its own learning rate?",
    "born_dead": "how often is a random ReLU net dead at birth?",
    "init": "Xavier vs He in a 30-layer ReLU MLP",
    "dying": "what does lr 0.03 kill, and does `revive` help?",
    "compare": "the family on one small CNN, paired seeds",
    "fewbit": "does a 1-4 bit derivative of GELU/SiLU/Mish change training?",
}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(interval: dict) -> str:
    if interval["low"] is None:
        return f"{100 * interval['mean']:+.1f} points"
    return f"{100 * interval['mean']:+.1f} points [{100 * interval['low']:+.1f}, {100 * interval['high']:+.1f}]"


def _nonlinearity(r: dict) -> str:
    identity, relu = r["models"]["identity"], r["models"]["relu"]
    return (
        f"two spirals: identity net {_pct(identity['test_accuracy'])} test (it *is* one affine map: "
        f"{identity['affine_residual']:.0e} deviation), ReLU {_pct(relu['test_accuracy'])}"
    )


def _vanishing(r: dict) -> str:
    acts = r["activations"]
    at_init = ", ".join(f"{n} {a['at_init']['first_to_last_ratio']:.2g}" for n, a in acts.items())
    trained = ", ".join(f"{n} {_pct(a['test_accuracy'])}" for n, a in acts.items())
    text = f"first/last gradient norm at init: {at_init}; test accuracy at each one's rate (chosen on validation): "
    text += trained
    if "relu" in acts and "tanh" in acts:
        relu, gap = acts["relu"], acts["tanh"]["test_accuracy"] - acts["relu"]["test_accuracy"]
        verdicts = "'ok' on every seed" if set(relu["verdict_runs"]) == {"ok"} else ", ".join(relu["verdict_runs"])
        dead = "" if relu["dead_fraction"] is None else f"{_pct(relu['dead_fraction'])} dead units, "
        standing = f"trails tanh by {100 * gap:.1f} points" if gap > 0 else "does not trail tanh"
        text += f"; ReLU {standing}, with {dead}gradient after training {verdicts}"
    return text


def _born_dead(r: dict) -> str:
    return (
        f"{r['inside_interval']}/{len(r['grid'])} exact values 1 - (1 - 2^-N)^H inside the "
        f"{round(100 * r['config']['ci_level'])}% interval (Lu et al. 2020)"
    )


def _init(r: dict) -> str:
    xavier, he = r["schemes"]["xavier"], r["schemes"]["he"]
    worst = max(run["measured_ratio"] for run in xavier["runs"])
    return (
        f"Xavier: signal shrinks to ~{worst:.0e} (theory 2^-29), {xavier['stalled_runs']}/{len(xavier['runs'])} runs "
        f"stall at ln 10; He: {he['stalled_runs']}/{len(he['runs'])} stall, {_pct(he['mean_test_accuracy'])} test"
    )


def _claims(acts: dict) -> str:
    resolved = [f"{n} {_points(a['difference_to_relu'])}" for n, a in acts.items()
                if a.get("difference_to_relu", {}).get("resolved")]  # fmt: skip
    return "differences to ReLU resolved at 95%: " + ("; ".join(resolved) if resolved else "none")


def _dying(r: dict) -> str:
    relu, control = r["activations"]["relu"], r["control"]["relu"]
    seeds = r["config"]["seeds"]
    text = (
        f"ReLU {_pct(relu['dead_fraction_interval']['mean'])} dead at lr {r['config']['lr']} "
        f"({_pct(control['dead_fraction_interval']['mean'])} at lr {r['config']['control_lr']}), {seeds} seeds"
    )
    if "revive_accuracy_difference" in relu:
        effect = relu["revive_accuracy_difference"]
        verdict = {"higher": "helps", "lower": "hurts", None: "not resolved"}[effect["resolved"]]
        text += f"; revive + fine-tune vs fine-tune only: {_points(effect)} accuracy ({verdict})"
    return text


def _compare(r: dict) -> str:
    acts = r["activations"]
    means = [a["mean_test_accuracy"] for a in acts.values()]
    seeds = len(next(iter(acts.values()))["runs"])
    text = f"{_pct(min(means))}-{_pct(max(means))} mean test accuracy for all {len(acts)}, {seeds} paired seeds; "
    text += _claims(acts)
    leaky = acts.get("leaky_relu")
    if leaky and leaky["saved_bytes_per_step_torch"]:
        ratio = leaky["saved_bytes_per_step"] / leaky["saved_bytes_per_step_torch"]
        text += f"; relukit's LeakyReLU saves {ratio:.2f}x the bytes of torch's"
    return text


def _fewbit(r: dict) -> str:
    parts, resolved = [], []
    for member, variants in r["members"].items():
        cosines = [f"{v} {a['gradient_cosine_interval']['mean']:.3f}" for v, a in variants.items()
                   if "gradient_cosine_interval" in a]  # fmt: skip
        parts.append(f"{member} gradient cosine {', '.join(cosines)}")
        resolved += [f"{member} {v} {_points(a['difference_to_exact'])}" for v, a in variants.items()
                     if a.get("difference_to_exact", {}).get("resolved")]  # fmt: skip
    seeds = r["config"]["seeds"]
    return (
        "; ".join(parts)
        + f"; accuracy differences to exact resolved at 95% ({seeds} paired seeds): "
        + ("; ".join(resolved) if resolved else "none")
    )


_ROWS = {"nonlinearity": _nonlinearity, "vanishing": _vanishing, "born_dead": _born_dead, "init": _init,
         "dying": _dying, "compare": _compare, "fewbit": _fewbit}  # fmt: skip


def study_table(results: dict) -> str:
    """The markdown table: one row per study present in ``results``."""
    seed = results.get("meta", {}).get("seed", 0)
    lines = [f"| study | question | what `--quick` measured here (seed {seed}) |", "|---|---|---|"]
    for key, row in _ROWS.items():
        if key in results:
            lines.append(f"| `{key.replace('_', '-')}` | {QUESTIONS[key]} | {row(results[key])} |")
    return "\n".join(lines)


def update(readme: str, results: dict) -> str:
    """``readme`` with the table between the markers replaced."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"update: the README lacks the {BEGIN} ... {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{study_table(results)}\n{END}{tail}"


if __name__ == "__main__":
    results_path, readme_path = Path(sys.argv[1]), Path(sys.argv[2])
    readme_path.write_text(update(readme_path.read_text(), json.loads(results_path.read_text())))

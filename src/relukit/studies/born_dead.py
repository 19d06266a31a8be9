"""Study ``born-dead``: how often is a freshly initialized deep ReLU net dead before it sees any data?

Lu, Shin, Su, Karniadakis 2020 ("Dying ReLU and Initialization", arXiv:1903.06733): with zero biases and
symmetric continuous weights, each unit of a width-N layer is zero with probability 1/2 independently
(its pre-activation w . z is symmetric and almost surely non-zero for z != 0), so the layer is all zero
with probability 2^-N, and a net is dead at a fixed input by hidden layer H with probability exactly

    P(N, H) = 1 - (1 - 2^-N)^H.

Part 1 measures that fraction by Monte Carlo over a grid of (N, H), with a binomial (Wilson score)
interval. Part 2 counts the nets whose last hidden layer is *constant on the whole digits set* (a dead
net is; so is any net that collapsed all inputs to one point) for variants of the initialization.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import torch

from relukit import data
from relukit.studies import _common

KEY = "born_dead"
COST = 16  # relative run time (the runner starts the costliest studies first)
_VARIANTS = [
    {"name": "relu, N(0,1) weights, zero bias", "activation": "relu", "weights": "gaussian", "bias": 0.0},
    {"name": "relu, He weights, zero bias", "activation": "relu", "weights": "he", "bias": 0.0},
    {"name": "relu, N(0,1) weights, N(0,1) bias", "activation": "relu", "weights": "gaussian", "bias": "gaussian"},
    {"name": "relu, N(0,1) weights, bias +0.1", "activation": "relu", "weights": "gaussian", "bias": 0.1},
    {"name": "relu, He weights, bias +0.1", "activation": "relu", "weights": "he", "bias": 0.1},
    {"name": "leaky_relu(0.01), N(0,1) weights, zero bias", "activation": "leaky_relu", "weights": "gaussian",
     "bias": 0.0},
]  # fmt: skip
CONFIGS = {
    "tiny": {"widths": [2, 3, 5, 8], "hidden_layers": [2, 10, 50], "trials": 2000, "ci_level": 0.95,
             "constant_widths": [2, 5], "constant_hidden_layers": 10, "constant_trials": 60, "variants": _VARIANTS},
    "quick": {"widths": [2, 3, 4, 5, 8], "hidden_layers": [2, 5, 10, 20, 50], "trials": 4000, "ci_level": 0.95,
              "constant_widths": [2, 3, 4, 5, 8], "constant_hidden_layers": 10, "constant_trials": 400,
              "variants": _VARIANTS},
    "full": {"widths": [2, 3, 4, 5, 8], "hidden_layers": [2, 5, 10, 20, 50], "trials": 40000, "ci_level": 0.95,
             "constant_widths": [2, 3, 4, 5, 8], "constant_hidden_layers": 10, "constant_trials": 4000,
             "variants": _VARIANTS},
}  # fmt: skip


def exact_dead_probability(width: int, hidden_layers: int) -> float:
    """1 - (1 - 2^-N)^H (Lu et al. 2020), computed without cancellation for large N."""
    return -math.expm1(hidden_layers * math.log1p(-(2.0**-width)))


def wilson_interval(successes: int, trials: int, level: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); never outside [0, 1]."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval: need 0 <= successes <= trials, trials > 0; got {successes}, {trials}")
    if not 0 < level < 1:
        raise ValueError(f"wilson_interval: level must be in (0, 1), got {level!r}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, center - half)  # exact ends: rounding must not exclude p = 0 or 1
    high = 1.0 if successes == trials else min(1.0, center + half)
    return low, high


def _weights(generator: torch.Generator, shape: tuple[int, ...], scheme: str) -> torch.Tensor:
    weights = torch.randn(shape, generator=generator, dtype=torch.float64)
    return weights * math.sqrt(2.0 / shape[-2]) if scheme == "he" else weights  # shape (..., fan_in, fan_out)


def dead_at_input(x: torch.Tensor, width: int, hidden_layers: int, trials: int, generator: torch.Generator) -> int:
    """How many of ``trials`` zero-bias ReLU nets with N(0, 1) weights output all zeros at ``x`` (1-D)."""
    z = x.to(torch.float64).expand(trials, 1, -1)
    for _ in range(hidden_layers):
        z = torch.relu(z @ _weights(generator, (trials, z.shape[-1], width), "gaussian"))
    return int((z == 0).all(dim=(1, 2)).sum())


def constant_nets(x: torch.Tensor, variant: dict, width: int, hidden_layers: int, trials: int, generator) -> int:
    """How many of ``trials`` random nets have a last hidden layer that is the same for every row of ``x``."""
    constant, chunk = 0, max(1, 2_000_000 // (len(x) * width))
    x = x.to(torch.float64)
    for start in range(0, trials, chunk):
        count = min(chunk, trials - start)
        h = x.expand(count, -1, -1)
        for _ in range(hidden_layers):
            h = h @ _weights(generator, (count, h.shape[-1], width), variant["weights"])
            if variant["bias"] == "gaussian":
                h = h + torch.randn((count, 1, width), generator=generator, dtype=torch.float64)
            else:
                h = h + float(variant["bias"])
            h = torch.relu(h) if variant["activation"] == "relu" else torch.nn.functional.leaky_relu(h, 0.01)
        constant += int((h == h[:, :1]).all(dim=(1, 2)).sum())
    return constant


def run(config: dict, *, seed: int, device: str = "cpu", progress=_common.no_progress) -> dict:
    """Everything runs in float64 on the CPU: the study is cheap and exactness matters more than speed."""
    digits = data.load(config.get("data"))
    x_all = torch.as_tensor(np.concatenate(digits.flat("train")[:1] + digits.flat("test")[:1]))
    fixed_input = x_all[0]
    level, trials = config["ci_level"], config["trials"]
    cells = [(w, h) for w in config["widths"] for h in config["hidden_layers"]]
    grid = []
    for width, hidden_layers in progress(cells, f"{KEY}: dead at one input"):
        generator = torch.Generator().manual_seed(_common.derive_seed(seed, KEY, width, hidden_layers))
        dead = dead_at_input(fixed_input, width, hidden_layers, trials, generator)
        low, high = wilson_interval(dead, trials, level)
        grid.append(
            {
                "width": width,
                "hidden_layers": hidden_layers,
                "trials": trials,
                "measured": dead / trials,
                "exact": exact_dead_probability(width, hidden_layers),
                "ci_low": low,
                "ci_high": high,
            }
        )
    inside = sum(cell["ci_low"] <= cell["exact"] <= cell["ci_high"] for cell in grid)

    constant = []
    jobs = [(v, w) for v in config["variants"] for w in config["constant_widths"]]
    depth, count = config["constant_hidden_layers"], config["constant_trials"]
    for variant, width in progress(jobs, f"{KEY}: constant on the data"):
        generator = torch.Generator().manual_seed(_common.derive_seed(seed, KEY, variant["name"], width, "constant"))
        nets = constant_nets(x_all, variant, width, depth, count, generator)
        low, high = wilson_interval(nets, count, level)
        constant.append(
            {"variant": variant["name"], "width": width, "hidden_layers": depth, "trials": count,
             "constant_fraction": nets / count, "ci_low": low, "ci_high": high}
        )  # fmt: skip
    return {
        "data": digits.describe(),
        "fixed_input": "the first digits training image (standardized)",
        "ci_method": "wilson",
        "grid": grid,
        "inside_interval": inside,
        "expected_inside": level * len(grid),
        "constant": constant,
        "constant_samples": len(x_all),
    }

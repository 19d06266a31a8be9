r"""Intervals over seeds: Student's t interval of a mean and of paired differences, and the rule for a claim.

For values :math:`v_1..v_n` (one per seed) with mean :math:`\bar v` and sample standard deviation :math:`s`,

.. math::

    \bar v \pm t_{n-1}\, s / \sqrt{n}, \qquad P(|T_{n-1}| \le t_{n-1}) = \text{level}

The quantile comes from the closed form of Student's t for integer degrees of freedom :math:`\nu`
(Abramowitz & Stegun 26.7.3-4), with :math:`\theta = \arctan(t/\sqrt\nu)`:

.. math::

    A(t|\nu) = \begin{cases}
      \frac{2}{\pi}\big(\theta + \sin\theta \sum_{k=0}^{(\nu-3)/2} c_k \cos^{2k+1}\theta\big) & \nu \text{ odd},
        \ c_0 = 1,\ c_k = c_{k-1} \frac{2k}{2k+1} \\
      \sin\theta \sum_{k=0}^{(\nu-2)/2} d_k \cos^{2k}\theta & \nu \text{ even},
        \ d_0 = 1,\ d_k = d_{k-1} \frac{2k-1}{2k}
    \end{cases}

solved for :math:`\theta` by bisection (A is increasing in :math:`\theta`), so no SciPy is needed.
A paired difference (each activation against ReLU trained from the same weights on the same data order)
names a winner only when its interval excludes 0 and the differences vary at all (identical differences
give a zero-width interval, which says nothing about the spread over seeds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

LEVEL = 0.95


def _two_sided_mass(theta: float, df: int) -> float:
    """A(t|df) = P(|T| <= t) at theta = atan(t / sqrt(df))."""
    sin, cos = math.sin(theta), math.cos(theta)
    if df % 2:
        total, term = 0.0, cos
        for k in range(0, (df - 1) // 2):
            if k:
                term *= cos * cos * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + sin * total) if df > 1 else 2 * theta / math.pi
    total, term = 0.0, 1.0
    for k in range(0, df // 2):
        if k:
            term *= cos * cos * (2 * k - 1) / (2 * k)
        total += term
    return sin * total


def t_quantile(level: float, df: int) -> float:
    """The two-sided Student t quantile: t with P(|T_df| <= t) = level (12.706 for df=1, level 0.95)."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"t_quantile: df must be an int >= 1, got {df!r}")
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"t_quantile: level must be in (0, 1), got {level!r}")
    low, high = 0.0, math.pi / 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if _two_sided_mass(middle, df) < level else (low, middle)
    return math.sqrt(df) * math.tan((low + high) / 2)


def t_interval(values: Sequence[float], level: float = LEVEL) -> dict:
    """Mean and its t interval over ``values`` (one per seed): {mean, low, high, half_width, std, n, level}.

    With one value there is no interval: low, high and half_width are None.
    """
    values = [float(v) for v in values]
    if not values or any(not math.isfinite(v) for v in values):
        raise ValueError(f"t_interval: values must be a non-empty list of finite numbers, got {values!r}")
    n, mean = len(values), statistics.fmean(values)
    if n == 1:
        return {"mean": mean, "low": None, "high": None, "half_width": None, "std": None, "n": 1, "level": level}
    std = statistics.stdev(values)
    half = t_quantile(level, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "half_width": half, "std": std, "n": n,
            "level": level}  # fmt: skip


def resolved(interval: dict) -> str | None:
    """ "higher" or "lower" when the interval excludes 0 and has positive width, else None (no claim)."""
    if interval.get("low") is None or not interval.get("std"):
        return None
    if interval["low"] > 0:
        return "higher"
    if interval["high"] < 0:
        return "lower"
    return None


def paired_difference(values: Sequence[float], baseline: Sequence[float], level: float = LEVEL) -> dict:
    """The t interval of values[i] - baseline[i] (run i of both from the same seed), and its verdict."""
    if len(values) != len(baseline):
        raise ValueError(
            f"paired_difference: values and baseline must pair up, got {len(values)} and {len(baseline)} runs"
        )
    interval = t_interval([v - b for v, b in zip(values, baseline)], level)
    return {**interval, "resolved": resolved(interval)}


def add_differences(results: dict, baseline: str, values: Callable[[dict], Sequence[float]]) -> None:
    """Adds ``difference_to_<baseline>`` to every other entry of ``results``: the paired interval of
    values(entry) - values(results[baseline]), run i against run i (nothing when the baseline is absent)."""
    if baseline not in results:
        return
    reference = values(results[baseline])
    for name, result in results.items():
        if name != baseline:
            result[f"difference_to_{baseline}"] = paired_difference(values(result), reference)

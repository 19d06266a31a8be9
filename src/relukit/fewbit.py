"""Few-bit derivative tables for the smooth members (Novikov et al. 2023, "Few-Bit Backward", arXiv:2202.00441).

A k-bit table replaces f'(x) by a step function with K = 2^k steps, one level per interval,

.. math:: s(x) = s_c \\text{ for } b_c < x \\le b_{c+1}, \\quad -\\infty = b_0 < b_1 < \\dots < b_K = \\infty,

chosen to minimise :math:`E[(f'(x) - s(x))^2]` for :math:`x \\sim N(0, 1)`. A backward pass then keeps the
k-bit code c of each element instead of x and returns ``grad * levels[c]``.

Solver (deterministic, float64, NumPy; f' is the catalog's own derivative, never re-written here):

1. Moments. [-12, 12] is cut into panels of width 1/64, plus the points where the member's derivative
   jumps or bends (0 for elu/celu/selu, threshold/beta for softplus); an 8-point Gauss-Legendre rule per
   panel gives the cumulative :math:`\\int \\varphi`, :math:`\\int f' \\varphi`, :math:`\\int f'^2 \\varphi` up to
   any point. The Gaussian mass beyond +-12 (3.6e-33) is left out; the end intervals hold the tails.
2. Exact dynamic program over cut points: for a given set of boundaries the best levels are the
   conditional means, and an interval costs its weighted variance :math:`Q - M^2 / W`. Up to 4 bits the
   cut points are every 1/16 in [-8, 8] (plus the kinks), and the DP is the global optimum on that grid.
   Beyond 4 bits the cut points divide each interval of the (bits - 1) table in 8: a DP on a grid
   adapted to the solution one bit coarser (a local optimum, not a proven global one).
3. Refinement ("zoom"): the same DP over windows of 33 points around each boundary; a window whose best
   point is inside shrinks 8-fold, one whose best point is on its edge moves; it stops when the windows
   are 1e-9 wide. The error is flat to float64 precision within ~1e-8 of the optimum, so boundaries are
   determined to about that; a boundary on a kink (selu's jump at 0) stays exactly there.

The table's ``rms_error`` is integrated directly, :math:`\\int (f' - s)^2 \\varphi` panel by panel with the
boundaries added to the edges (no cancellation). Each table is computed once per argument set and
cached (a table of more than 4 bits computes those with fewer bits first).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_compat
import array_api_compat.numpy as xp_numpy
import numpy as np

from relukit import catalog

TAIL = 12.0  # integration range [-TAIL, TAIL]
SPAN = 8.0  # the DP places boundaries in [-SPAN, SPAN]
PANEL = 1.0 / 64
NODES = 8  # Gauss-Legendre points per panel
GRID = 1.0 / 16  # spacing of the global DP's cut points
WINDOW = 16  # the refinement's windows have 2 WINDOW + 1 points
TOLERANCE = 1e-9  # the refinement stops when its windows are this narrow
MAX_ROUNDS = 200
SUBDIVIDE = 8  # beyond DP_BITS, the DP's cut points divide each interval of the (bits - 1) table in 8
DP_BITS = 4  # up to 4 bits the DP is global; more bits start from the (bits - 1) table split in two
MAX_BITS = 8

# Points where a member's derivative is not smooth: panel edges and DP cut points, so that the quadrature
# never integrates across a jump (selu's derivative jumps at 0; softplus's where beta x = threshold).
_KINKS: dict[str, Callable[..., tuple[float, ...]]] = {
    "elu": lambda alpha: (0.0,),
    "celu": lambda alpha: (0.0,),
    "selu": lambda: (0.0,),
    "softplus": lambda beta, threshold: (threshold / beta,),
}


@dataclass(frozen=True)
class FewBitTable:
    """A k-bit piecewise-constant approximation of a member's derivative.

    ``codes(x)`` is the number of boundaries below x (x equal to a boundary takes the lower code, as
    torch takes elu's negative branch at 0; NaN takes the top code, whose level is the derivative's value
    for large x, as relu's codes let NaN pass); ``derivative(x) = levels[codes(x)]`` exactly, what a
    few-bit backward multiplies the gradient by. ``rms_error`` is :math:`\\sqrt{E[(f' - s)^2]}` under N(0, 1),
    ``derivative_rms`` is :math:`\\sqrt{E[f'^2]}` for scale.
    """

    member: str
    params: tuple[tuple[str, Any], ...]
    bits: int
    boundaries: tuple[float, ...]
    levels: tuple[float, ...]
    rms_error: float
    derivative_rms: float

    def codes(self, x: Any, xp: Any = None) -> Any:
        """uint8 code of each element: k comparisons of a binary search over the boundaries."""
        xp = xp or array_api_compat.array_namespace(x)
        device = array_api_compat.device(x)
        # Boundaries padded by one so that index (code + step - 1) always exists; x's dtype so that the
        # comparison is the one a kernel would make on x as given.
        dtype = x.dtype if xp.isdtype(x.dtype, "real floating") else xp.float64
        boundaries = xp.asarray((*self.boundaries, math.inf), dtype=dtype, device=device)
        code = xp.zeros(x.shape, dtype=xp.int64, device=device)
        for level in range(self.bits):
            step = 1 << (self.bits - 1 - level)
            below = xp.reshape(xp.take(boundaries, xp.reshape(code + (step - 1), (-1,)), axis=0), x.shape)
            above = ~(x <= below)  # NaN is above every boundary
            code = xp.where(above, code + step, code)
        return xp.astype(code, xp.uint8)

    def derivative(self, x: Any, xp: Any = None) -> Any:
        """``levels[codes(x)]`` in x's floating dtype (the default float for integer x)."""
        xp = xp or array_api_compat.array_namespace(x)
        dtype = x.dtype if xp.isdtype(x.dtype, "real floating") else xp.float64
        levels = xp.asarray(self.levels, dtype=dtype, device=array_api_compat.device(x))
        codes = xp.astype(self.codes(x, xp), xp.int64)
        return xp.reshape(xp.take(levels, xp.reshape(codes, (-1,)), axis=0), x.shape)

    def format(self) -> str:
        """The table as text: one row per code with its interval and level."""
        lines = [
            f"{self.title()}: rms error {self.rms_error:.4g} (derivative rms {self.derivative_rms:.4g}, "
            f"relative {self.rms_error / self.derivative_rms:.2%})",
            f"{'code':>4}  {'from':>10}  {'to':>10}  {'level':>10}",
        ]
        for code, (low, high, level) in enumerate(self.rows()):
            lines.append(f"{code:>4}  {low:>10}  {high:>10}  {level:>10}")
        return "\n".join(lines)

    def title(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"{self.member}({params}) {self.bits}-bit derivative table"

    def rows(self, decimals: int = 5) -> list[tuple[str, str, str]]:
        """(from, to, level) of each code as text with ``decimals`` decimals (boundaries and levels are
        determined to ~1e-8, so a solved 0 prints as 0)."""
        edges = ("-inf", *(_fixed(b, decimals) for b in self.boundaries), "inf")
        return [(edges[c], edges[c + 1], _fixed(level, decimals)) for c, level in enumerate(self.levels)]

    __str__ = format


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def smooth_members() -> tuple[str, ...]:
    """Members whose derivative is not piecewise constant: the ones few-bit tables are for."""
    return tuple(m.name for m in catalog.MEMBERS if m.derivative is not None and not m.takes_weight)


def fewbit_table(member: str, bits: int = 3, **params: Any) -> FewBitTable:
    """The optimal ``bits``-bit derivative table of a smooth member (computed once per argument set, then cached).

    ``member`` is a name or alias from the catalog (elu, celu, selu, gelu, silu, mish, softplus); ``params``
    are the member's own (``alpha``, ``beta``/``threshold``, ``approximate``), defaults as torch. Piecewise-linear
    members are rejected: their backward is already exact with 1- or 2-bit codes.

    Example::

        >>> print(relukit.fewbit_table("gelu", bits=3))
    """
    fn = "fewbit_table"
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{fn}: bits must be an int in 1..{MAX_BITS}, got {bits!r}")
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"{fn}: bits must be in 1..{MAX_BITS}, got {bits!r}")
    entry = catalog.lookup(member)
    if entry.name not in smooth_members():
        raise ValueError(
            f"{fn}: {entry.name} is piecewise-linear: its derivative takes a few exact values and needs no "
            f"table; few-bit tables are for {', '.join(smooth_members())}, got member={member!r}"
        )
    bound = entry.bind(fn, params)
    key = tuple((k, v if isinstance(v, str) else float(v)) for k, v in bound.items())
    return _solve(entry.name, int(bits), key)


# ----------------------------------------------------------------------------------------------
# The solver
# ----------------------------------------------------------------------------------------------
def _density(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


class _Moments:
    """Cumulative :math:`\\int_{-T}^{b} (1, f', f'^2) \\varphi` at any b, by panel Gauss-Legendre."""

    def __init__(self, derivative: Callable[[np.ndarray], np.ndarray], kinks: tuple[float, ...]) -> None:
        self.derivative = derivative
        steps = round(2 * TAIL / PANEL)
        inner = [k for k in kinks if -TAIL < k < TAIL]
        self.edges = np.union1d(np.linspace(-TAIL, TAIL, steps + 1), inner)
        self.nodes, self.weights = np.polynomial.legendre.leggauss(NODES)
        per_panel = self._integrate(self.edges[:-1], self.edges[1:])
        self.cumulative = np.concatenate([np.zeros((3, 1)), np.cumsum(per_panel, axis=1)], axis=1)

    def _integrate(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        half, middle = (right - left)[:, None] / 2, (right + left)[:, None] / 2
        x = middle + half * self.nodes
        weight = half * self.weights * _density(x)
        d = self.derivative(x)
        return np.stack([weight.sum(1), (weight * d).sum(1), (weight * d * d).sum(1)])

    def at(self, b: np.ndarray) -> np.ndarray:
        """(3, len(b)) cumulative moments at the points b (each in [-TAIL, TAIL])."""
        b = np.asarray(b, dtype=np.float64)
        panel = np.clip(np.searchsorted(self.edges, b, side="right") - 1, 0, len(self.edges) - 1)
        return self.cumulative[:, panel] + self._integrate(self.edges[panel], b)


def _layered_dp(layers: list[np.ndarray], moments: _Moments) -> tuple[np.ndarray, list[int]]:
    """The best boundaries b_1 < ... < b_B with b_j taken from ``layers[j - 1]``, by an exact dynamic program.

    best[q] is the least error of the intervals left of point q of the current layer; moving to the next
    layer adds the weighted variance :math:`Q - M^2 / W` of one more interval. Returns the boundaries and
    the index each took in its layer. A layer that is the same object as the one before reuses its costs."""
    points = [np.array([-TAIL]), *layers, np.array([TAIL])]
    cumulative = np.split(moments.at(np.concatenate(points)), np.cumsum([len(p) for p in points])[:-1], axis=1)
    best, choices, cost = np.zeros(1), [], None
    for i in range(1, len(points)):
        if cost is None or points[i] is not points[i - 1] or points[i - 1] is not points[i - 2]:
            cost = _interval_cost(points[i - 1], cumulative[i - 1], points[i], cumulative[i])
        total = best[:, None] + cost
        choice = np.argmin(total, axis=0)
        best = total[choice, np.arange(len(points[i]))]
        choices.append(choice)
    index, chosen = 0, []
    for choice in reversed(choices[1:]):
        index = int(choice[index])
        chosen.append(index)
    chosen.reverse()
    return np.array([layer[i] for layer, i in zip(layers, chosen)]), chosen


def _interval_cost(left: np.ndarray, c_left: np.ndarray, right: np.ndarray, c_right: np.ndarray) -> np.ndarray:
    """cost[p, q] = weighted variance of f' on [left[p], right[q]] (inf unless left[p] < right[q])."""
    w, m, q = (c_right[k][None, :] - c_left[k][:, None] for k in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):  # an interval without float64 mass costs 0
        cost = np.where(w > 0, q - m * m / w, 0.0)
    return np.where(right[None, :] > left[:, None], cost, np.inf)


def _zoom(b: np.ndarray, moments: _Moments, half_width: float) -> np.ndarray:
    """Refines boundaries by DPs over windows of 2 WINDOW + 1 points around each: a window whose best point
    is inside shrinks 8-fold, one whose best point is on its edge moves; stops at half-width TOLERANCE."""
    offsets = np.linspace(-1.0, 1.0, 2 * WINDOW + 1)
    for _ in range(MAX_ROUNDS):
        layers = [np.clip(v + half_width * offsets, -SPAN, SPAN) for v in b]
        b, chosen = _layered_dp(layers, moments)
        if all(0 < i < 2 * WINDOW for i in chosen):
            if half_width <= TOLERANCE:
                break
            half_width /= WINDOW / 2
    return b


def _refined_grid(b: np.ndarray, kinks: tuple[float, ...]) -> np.ndarray:
    """Cut points for more than DP_BITS bits: each interval of the (bits - 1) table (within +-SPAN) in SUBDIVIDE."""
    outer = np.concatenate([[-SPAN], b, [SPAN]])
    inside = [np.linspace(lo, hi, SUBDIVIDE + 1)[:-1] for lo, hi in zip(outer, outer[1:])]
    return np.union1d(np.concatenate(inside)[1:], [k for k in kinks if abs(k) < SPAN])


def _levels_and_error(b: np.ndarray, moments: _Moments) -> tuple[np.ndarray, float]:
    w, m, q = np.diff(moments.at(np.concatenate([[-TAIL], b, [TAIL]])), axis=1)
    return m / w, float(np.sum(q - m * m / w))


def _direct_error(b: np.ndarray, levels: np.ndarray, moments: _Moments) -> float:
    """:math:`\\int (f' - s)^2 \\varphi` panel by panel, the boundaries added to the edges (no cancellation)."""
    edges = np.union1d(moments.edges, b)
    half, middle = np.diff(edges)[:, None] / 2, (edges[1:] + edges[:-1])[:, None] / 2
    x = middle + half * moments.nodes
    step = levels[np.searchsorted(b, middle[:, 0], side="left")][:, None]
    return float(np.sum(half * moments.weights * _density(x) * (moments.derivative(x) - step) ** 2))


@functools.lru_cache(maxsize=256)
def _solve(name: str, bits: int, params: tuple[tuple[str, Any], ...]) -> FewBitTable:
    entry, bound = catalog.BY_NAME[name], dict(params)
    kinks = _KINKS.get(name, lambda **p: ())(**bound)
    moments = _Moments(lambda x: entry.derivative(x, xp_numpy, **bound), kinks)
    if bits <= DP_BITS:
        grid = np.union1d(np.linspace(-SPAN, SPAN, round(2 * SPAN / GRID) + 1), [k for k in kinks if abs(k) < SPAN])
    else:
        grid = _refined_grid(np.array(_solve(name, bits - 1, params).boundaries), kinks)
    b, chosen = _layered_dp([grid] * ((1 << bits) - 1), moments)
    gaps = np.diff(grid)  # the refinement starts with windows reaching the next cut point on either side
    b = _zoom(
        b, moments, float(np.max(np.maximum(gaps[np.maximum(chosen, 1) - 1], gaps[np.minimum(chosen, len(gaps) - 1)])))
    )
    levels, _ = _levels_and_error(b, moments)
    return FewBitTable(
        member=name,
        params=params,
        bits=bits,
        boundaries=tuple(float(v) for v in b),
        levels=tuple(float(v) for v in levels),
        rms_error=math.sqrt(_direct_error(b, levels, moments)),
        derivative_rms=math.sqrt(float(moments.cumulative[2, -1])),
    )

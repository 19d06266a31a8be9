"""Parameters of the catalog's members: a name, a default and a check that names the caller in errors.

Each check returns the value unchanged or raises TypeError (not a real number) or ValueError (a bad value),
with the function, the argument and the value in the message. It imports neither NumPy nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _real(fn: str, arg: str, value: Any) -> float:
    """float(value) for a real scalar (Python or 0-d array); TypeError for bool, complex, arrays, strings."""
    is_complex = isinstance(value, complex) or "complex" in str(getattr(value, "dtype", ""))
    if (
        isinstance(value, bool)
        or is_complex
        or getattr(value, "ndim", 0) != 0
        or not isinstance(value, (int, float))
        and not hasattr(value, "__float__")
    ):
        raise TypeError(f"{fn}: {arg} must be a real number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {arg} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{fn}: {arg} must be finite, got {value!r}")
    return number


def finite(fn: str, arg: str, value: Any) -> Any:
    _real(fn, arg, value)
    return value


def nonzero(fn: str, arg: str, value: Any) -> Any:
    if _real(fn, arg, value) == 0:
        raise ValueError(f"{fn}: {arg} must be non-zero, got {value!r}")
    return value


def positive(fn: str, arg: str, value: Any) -> Any:
    if _real(fn, arg, value) <= 0:
        raise ValueError(f"{fn}: {arg} must be > 0, got {value!r}")
    return value


def non_negative(fn: str, arg: str, value: Any) -> Any:
    if _real(fn, arg, value) < 0:
        raise ValueError(f"{fn}: {arg} must be >= 0, got {value!r}")
    return value


def optional_non_negative(fn: str, arg: str, value: Any) -> Any:
    return None if value is None else non_negative(fn, arg, value)


def gelu_approximation(fn: str, arg: str, value: Any) -> Any:
    if value not in ("none", "tanh"):
        raise ValueError(f"{fn}: {arg} must be 'none' or 'tanh', got {value!r}")
    return value


REQUIRED = object()  # default of a parameter that has none (torch's threshold, value)


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    check: Callable[[str, str, Any], Any] = finite


def independent(fn: str, **p: Any) -> None:
    """The cross-parameter check of a member whose parameters are independent: none."""


def integral(**p: Any) -> bool:
    """Every parameter is a Python int (relu's empty set too): an integer input then stays integer."""
    return all(isinstance(v, int) and not isinstance(v, bool) for v in p.values())


def ordered(low: str, high: str) -> Callable[..., None]:
    """The check that parameter ``low`` is at most ``high`` (hardtanh's bounds, rrelu's)."""

    def check(fn: str, **p: Any) -> None:
        if p[low] > p[high]:
            raise ValueError(f"{fn}: {low} must be <= {high}, got {low}={p[low]!r}, {high}={p[high]!r}")

    return check

"""The parity matrix the tests share: special input values and the parameter sets exercised per member.

Plain data, imported by the test files (``from tests.cases import CASES, case_id``); fixtures are in conftest.py.
"""

from __future__ import annotations

import math

SPECIALS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    6.0,
    -6.0,
    20.0,
    1e-30,
    -1e-30,
    1e4,
    -1e4,
    3e38,
    -3e38,
    math.inf,
    -math.inf,
    math.nan,
]

# Parameters exercised for each member: defaults plus non-default ones (threshold needs both).
PARAMS = {
    "relu": [{}],
    "relu6": [{}],
    "hardtanh": [{}, {"min_val": -0.5, "max_val": 2.0}],
    "threshold": [{"threshold": 0.5, "value": -2.0}, {"threshold": 0.0, "value": 0.0}],
    "rectify": [
        {},
        {"negative_slope": 0.5, "threshold": 5.0},
        {"negative_slope": 0.1, "max_value": 6.0},
        {"max_value": 1.0, "threshold": -1.0},
    ],
    "leaky_relu": [{}, {"negative_slope": 0.2}, {"negative_slope": 0.0}],
    "rrelu": [{}, {"lower": 0.1, "upper": 0.3}],
    "prelu": [{"weight": 0.25}],
    "elu": [{}, {"alpha": 0.5}],
    "celu": [{}, {"alpha": 2.0}],
    "selu": [{}],
    "gelu": [{}, {"approximate": "tanh"}],
    "silu": [{}],
    "mish": [{}],
    "softplus": [{}, {"beta": 2.0, "threshold": 10.0}],
}

CASES = [(name, params) for name, variants in PARAMS.items() for params in variants]


def case_id(case):
    name, params = case
    return name + ("" if not params else "-" + "-".join(f"{k}={v}" for k, v in params.items()))

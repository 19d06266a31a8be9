"""Shared fixtures: special values and the member table used by the parity tests."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Without a GPU, relukit.kernels' tests run under the Triton interpreter, which must be chosen before
# triton is imported (triton.language's own helpers, such as tl.sum's combine function, are jitted then).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

settings.register_profile("relukit", max_examples=2000, deadline=None)
settings.load_profile("relukit")

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


@pytest.fixture
def specials_tensor():
    return torch.tensor(SPECIALS, dtype=torch.float64)


@pytest.fixture(scope="session")
def vision_model():
    """``vision_model(name, **kwargs)``: a torchvision model with random weights (benchmarks/vision_models.py,
    which bypasses the CUDA wheel's compiled-op registrations); skips when torchvision cannot be imported."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "vision_models.py"
    spec = importlib.util.spec_from_file_location("vision_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.torchvision_models()
    except ImportError as error:
        pytest.skip(f"torchvision's models are unavailable here: {error}")
    return module.vision_model

"""Shared fixtures (the special values as a tensor, torchvision models) and the test session's settings; the
parity matrix itself (special values, parameter sets per member) is plain data in tests/cases.py."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings
from tests.cases import SPECIALS

# Without a GPU, relukit.kernels' tests run under the Triton interpreter, which must be chosen before
# triton is imported (triton.language's own helpers, such as tl.sum's combine function, are jitted then).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

settings.register_profile("relukit", max_examples=2000, deadline=None)
settings.load_profile("relukit")


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

"""torchvision's model definitions (googlenet, densenet121, resnet18, vgg11_bn, mobilenet_v2, ...) on a CPU
torch, for tests and memory benchmarks. Random weights, never a download.

PyPI's torchvision wheel is a CUDA build: its compiled extension (``torchvision/_C.so``) does not load beside
a CPU torch, and ``import torchvision`` then fails in ``torchvision._meta_registrations`` ("operator
torchvision::nms does not exist") when it registers fake kernels for those missing ops. The model
definitions are pure Python and use none of the compiled ops, so :func:`torchvision_models` imports
torchvision with its two registration modules replaced by empty ones (detection ops such as nms stay
unusable; classification models work). Install the wheel built against our torch without its
dependencies (it pins torch and would otherwise pull the CUDA build):
``pip install --no-deps torchvision==0.28.0`` (``make test`` does it).

    from vision_models import vision_model
    model = vision_model("googlenet", aux_logits=False)   # raises ImportError with the reason if unusable
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# torchvision's modules that register the compiled ops (fake/meta and autograd kernels); models need neither
_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")
INSTALL_HINT = "pip install --no-deps torchvision==0.28.0  (the release built against torch 2.13; `make test`)"


def torchvision_models() -> types.ModuleType:
    """``torchvision.models``, imported with the compiled ops' registrations neutralised when they fail.

    Raises ImportError naming the cause and the install command when torchvision is missing or still
    does not import.
    """
    try:
        return importlib.import_module("torchvision.models")
    except ImportError as error:
        if error.name == "torchvision":
            raise ImportError(f"torchvision is not installed: {INSTALL_HINT}") from error
        reason: BaseException = error
    except RuntimeError as error:  # "operator torchvision::nms does not exist"
        reason = error
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package
    for name in _REGISTRATIONS:
        sys.modules[name] = types.ModuleType(name)
    try:
        return importlib.import_module("torchvision.models")
    except Exception as error:  # any failure becomes one clear ImportError
        raise ImportError(
            f"torchvision.models does not import ({reason!r}, then {error!r} with its compiled ops' "
            f"registrations bypassed); {INSTALL_HINT}"
        ) from error


def vision_model(name: str, **kwargs: Any):
    """``torchvision.models.<name>(weights=None, **kwargs)``: random initialization, no download.

    googlenet and inception_v3 get ``init_weights=True`` unless given (torchvision warns without it).
    """
    models = torchvision_models()
    if name in ("googlenet", "inception_v3"):
        kwargs.setdefault("init_weights", True)
    return getattr(models, name)(weights=None, **kwargs)

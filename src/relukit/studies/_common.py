"""What every study shares: seeds, activations by name, small models, a training loop, progress.

Nothing here prints or draws.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

import relukit
from relukit import catalog

T = TypeVar("T")
# progress(iterable, description) -> the same items; the CLI passes one that draws rich progress bars.
Progress = Callable[[Iterable[T], str], Iterable[T]]

# Not ReLU-family members, but the studies' baselines: torch's own modules.
_TORCH_ONLY = {"identity": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
# Activations whose module needs the layer width (one parameter vector per unit).
_PER_UNIT = {"prelu", "kaf"}


def no_progress(items: Iterable[T], description: str = "") -> Iterable[T]:
    return items


def derive_seed(seed: int, *keys: Any) -> int:
    """A seed for one run, fixed by the study seed and the run's names (not by its position in a list)."""
    entropy = [int(seed)] + [zlib.crc32(str(key).encode()) for key in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def make_activation(name: str, width: int, *, conv: bool = False) -> nn.Module:
    """A fresh activation module: torch's for identity/sigmoid/tanh, relukit's registry for the rest."""
    if name in _TORCH_ONLY:
        return _TORCH_ONLY[name]()
    if name in catalog.BY_NAME and catalog.BY_NAME[name].takes_weight:  # a weight per unit
        return relukit.get_activation(name, num_parameters=width)
    if name == "kaf":
        return relukit.get_activation("kaf", num_parameters=width, conv=conv)
    return relukit.get_activation(name)


def initialize(model: nn.Module, scheme: str) -> nn.Module:
    """Weights of every Linear/Conv layer: "he" N(0, 2/fan_in) (He et al. 2015), "xavier" N(0, 2/(fan_in +
    fan_out)) (Glorot & Bengio 2010), "gaussian" N(0, 1), or "default" (torch's); biases zero except default."""
    if scheme not in ("he", "xavier", "gaussian", "default"):
        raise ValueError(f"initialize: scheme must be 'he', 'xavier', 'gaussian' or 'default', got {scheme!r}")
    if scheme == "default":
        return model
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            if scheme == "he":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif scheme == "xavier":
                nn.init.xavier_normal_(module.weight)
            else:
                nn.init.normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def mlp(inputs: int, width: int, hidden_layers: int, outputs: int, activation: str) -> nn.Sequential:
    """inputs -> [Linear(width) -> activation] x hidden_layers -> Linear(outputs)."""
    layers: list[nn.Module] = []
    size = inputs
    for _ in range(hidden_layers):
        layers += [nn.Linear(size, width), make_activation(activation, width)]
        size = width
    layers.append(nn.Linear(size, outputs))
    return nn.Sequential(*layers)


def cnn(channels: int, outputs: int, activation: str, width: int = 16) -> nn.Sequential:
    """A small CNN for 8x8 images: two 3x3 convs (the second strided), then a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        make_activation(activation, width, conv=True),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        make_activation(activation, 2 * width, conv=True),
        nn.AdaptiveAvgPool2d(4),  # 8x8 -> 4x4 already; pools larger user images down to 4x4
        nn.Flatten(),
        nn.Linear(2 * width * 16, outputs),
    )


def copy_as_float64(model: nn.Module) -> nn.Module:
    """A float64 copy on the CPU (for checks that must not be limited by float32 rounding)."""
    import copy

    return copy.deepcopy(model).to(device="cpu", dtype=torch.float64)


def tensors(x: np.ndarray, y: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None) -> Iterator:
    """Minibatches; shuffled with ``generator`` (on the CPU, so the order is the same on every device)."""
    order = torch.arange(len(x)) if generator is None else torch.randperm(len(x), generator=generator)
    order = order.to(x.device)
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index]


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    generator: torch.Generator,
    on_step: Callable[[float], None] | None = None,
) -> float:
    """One pass in shuffled minibatches; returns the mean training loss over the epoch."""
    model.train()
    total, count = 0.0, 0
    for xb, yb in batches(x, y, batch_size, generator):
        loss = nn.functional.cross_entropy(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        if on_step is not None:
            on_step(value)
        total += value * len(yb)
        count += len(yb)
    return total / count


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
    """Mean cross-entropy and accuracy in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for xb, yb in batches(x, y, batch_size, None):
        logits = model(xb)
        loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    return {"loss": loss / len(y), "accuracy": correct / len(y)}


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN/inf: a diverged loss is reported as null."""
    value = float(value)
    return value if np.isfinite(value) else None


def rounded(values: Iterable[float], digits: int = 6) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]

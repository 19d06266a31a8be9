"""Kafnets: kernel activation functions as torch modules (Scardapane et al. 2017, arXiv:1707.04035).

``KAF`` learns one activation per unit as a Gaussian kernel expansion over a fixed dictionary,

.. math:: g_c(s) = \\sum_{i=1}^{D} \\alpha_{c,i}\\, e^{-\\gamma (s - d_i)^2},
   \\qquad d = \\operatorname{linspace}(-b, b, D),\\ \\gamma = \\frac{1}{6 \\Delta^2},

initialized by kernel ridge regression to mimic a known activation; ``KAF2D`` mixes pairs of units
over a D x D grid. The math lives in :mod:`relukit.kafmath` (array API); the ops that keep only the
input for backward in :mod:`relukit._ops.kaf`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from relukit import catalog, kafmath
from relukit._ops.kaf import apply, kaf, kaf2d

__all__ = ["KAF", "KAF2D", "kaf", "kaf2d", "infer_kaf"]


def _count(fn: str, arg: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {arg} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{fn}: {arg} must be >= {minimum}, got {value!r}")
    return int(value)


def _flag(fn: str, arg: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{fn}: {arg} must be a bool, got {value!r}")
    return value


def _dictionary(D: int, boundary: float) -> torch.Tensor:
    return torch.linspace(-boundary, boundary, D, dtype=torch.float64).to(torch.get_default_dtype())


class KAF(nn.Module):
    r"""Kernel activation function: a learned 1-D activation per unit.

    .. math:: \operatorname{KAF}(s)_c = \sum_{i=1}^{D} \alpha_{c,i}\, k(s, d_i),
       \qquad k(s, d) = e^{-\gamma (s - d)^2},\ \gamma = \frac{1}{6 \Delta^2}

    Args:
        num_parameters: C, the number of units (channels); 1 shares one activation across all.
        D: dictionary size (points d_i, evenly spaced on [-boundary, boundary], fixed). Default 20.
        boundary: the dictionary's range. Default 4.0.
        kernel: "gaussian" (the paper's), "relu" (max(0, s - d)) or "softplus" (log(1 + e^(s - d))).
        init: the activation alpha starts as, by kernel ridge regression alpha = (K + 1e-4 I)^-1 f(d):
            "relu" (default), "elu", "tanh", another member's name or a callable on a float64 array;
            None draws alpha ~ N(0, 0.3^2). The ReLU kernel cannot be ridge-initialized (singular K).
        conv: False: input (*, C), channels last (after Linear); True: input (N, C, *), channels in dim 1.
        gamma: overrides the Gaussian bandwidth.

    Fit at initialization, D=20, boundary 4 (max |KAF - f| on [-4, 4]): relu 0.070, elu 0.023, tanh 0.0044.
    Outside the box a Gaussian KAF decays to 0.

    Shape:
        - Input: (*, C), or (N, C, *) with ``conv=True``.
        - Output: same shape as the input.

    Autograd keeps only the input (the naive form keeps the (..., D) kernel tensor).

    Examples::

        >>> m = KAF(16)
        >>> y = m(torch.randn(8, 16))
    """

    activation_name = "kaf"

    def __init__(
        self,
        num_parameters: int,
        D: int = 20,
        boundary: float = 4.0,
        kernel: str = "gaussian",
        init: Any = "relu",
        conv: bool = False,
        gamma: float | None = None,
    ) -> None:
        super().__init__()
        fn = "KAF"
        self.num_parameters = _count(fn, "num_parameters", num_parameters, 1)
        self.D = _count(fn, "D", D, 2)
        self.boundary = float(catalog.positive(fn, "boundary", boundary))
        self.kernel = kafmath.check_kernel(fn, kernel)
        self.conv = _flag(fn, "conv", conv)
        self.init = init
        self._init_function = kafmath.init_function(fn, init)
        if self._init_function is not None and kernel == "relu":
            kafmath.ridge_alpha(fn, self._init_function, self.D, self.boundary, 1.0, kernel)  # raises
        self.gamma = kafmath.gaussian_gamma(self.D, self.boundary) if gamma is None else kafmath.check_gamma(fn, gamma)
        self.register_buffer("dictionary", _dictionary(self.D, self.boundary), persistent=False)
        self.alpha = nn.Parameter(torch.empty(self.num_parameters, self.D))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self._init_function is None:
                self.alpha.normal_(0.0, 0.3)
            else:
                row = kafmath.ridge_alpha("KAF", self._init_function, self.D, self.boundary, self.gamma, self.kernel)
                self.alpha.copy_(torch.from_numpy(row).expand(self.num_parameters, -1))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.conv and isinstance(input, torch.Tensor) and input.ndim < 2:
            raise ValueError(f"KAF: conv=True needs input (N, C, *), got shape {tuple(input.shape)}")
        return apply("KAF", input, self.alpha, self.dictionary, self.gamma, self.kernel, 1 if self.conv else -1, False)

    def extra_repr(self) -> str:
        init = getattr(self.init, "__name__", None) if callable(self.init) else repr(self.init)
        return (
            f"num_parameters={self.num_parameters}, D={self.D}, boundary={self.boundary}, "
            f"kernel={self.kernel!r}, init={init}, conv={self.conv}"
        )


class KAF2D(nn.Module):
    r"""2-D kernel activation function: a learned function of each pair of units.

    .. math:: \operatorname{KAF2D}(s, t)_c = \sum_{i,j=1}^{D} \alpha_{c,i,j}\,
       e^{-\gamma ((s - d_i)^2 + (t - d_j)^2)}, \qquad \gamma = \frac{1}{4 \Delta^2}

    Output unit c combines input units c (s) and c + C/2 (t), as in the authors' code. alpha is
    (C/2, D, D), drawn from N(0, 0.3^2).

    Args:
        num_parameters: C, the number of input units; must be even. The output has C/2.
        D: points per grid axis (D x D grid on [-boundary, boundary]^2). Default 10.
        boundary: the grid's range. Default 3.0.
        conv: False: input (*, C), channels last; True: input (N, C, *), channels in dim 1.

    Shape:
        - Input: (*, C), or (N, C, *) with ``conv=True``.
        - Output: the input's shape with C/2 channels.

    Examples::

        >>> m = KAF2D(16)
        >>> m(torch.randn(8, 16)).shape
        torch.Size([8, 8])
    """

    activation_name = "kaf2d"

    def __init__(self, num_parameters: int, D: int = 10, boundary: float = 3.0, conv: bool = False) -> None:
        super().__init__()
        fn = "KAF2D"
        self.num_parameters = _count(fn, "num_parameters", num_parameters, 2)
        if self.num_parameters % 2:
            raise ValueError(f"KAF2D: num_parameters must be even (units are mixed in pairs), got {num_parameters}")
        self.D = _count(fn, "D", D, 2)
        self.boundary = float(catalog.positive(fn, "boundary", boundary))
        self.conv = _flag(fn, "conv", conv)
        self.gamma = kafmath.gaussian_gamma_2d(self.D, self.boundary)
        self.register_buffer("dictionary", _dictionary(self.D, self.boundary), persistent=False)
        self.alpha = nn.Parameter(torch.empty(self.num_parameters // 2, self.D, self.D))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.alpha.normal_(0.0, 0.3)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.conv and isinstance(input, torch.Tensor) and input.ndim < 2:
            raise ValueError(f"KAF2D: conv=True needs input (N, C, *), got shape {tuple(input.shape)}")
        return apply("KAF2D", input, self.alpha, self.dictionary, self.gamma, "gaussian", 1 if self.conv else -1, True)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}, D={self.D}, boundary={self.boundary}, conv={self.conv}"


# Layers whose output channels (and layout) a KAF after them can take: (attribute, conv).
_CHANNELS = (
    ((nn.Linear, nn.Bilinear), "out_features", False),  # LazyLinear is a Linear
    ((nn.Embedding,), "embedding_dim", False),
    ((nn.modules.conv._ConvNd,), "out_channels", True),
    ((nn.modules.batchnorm._NormBase,), "num_features", True),
    ((nn.GroupNorm,), "num_channels", True),
)


def infer_kaf(previous: nn.Module | None, name: str = "kaf") -> dict[str, Any]:
    """``{"num_parameters": C, "conv": bool}`` for a KAF/KAF2D placed after ``previous``.

    Linear-like layers give channels-last (conv=False); convolutions and batch/group norms give
    channels-first (conv=True; also right for BatchNorm1d on (N, C) input); LayerNorm gives its last
    normalized size. Anything else raises ``ValueError`` naming the layer.
    """
    if previous is None:
        raise ValueError(f"infer_kaf: cannot infer num_parameters for {name!r}: there is no layer before it")
    for types, attribute, conv in _CHANNELS:
        if isinstance(previous, types):
            channels = getattr(previous, attribute, None)
            if isinstance(channels, int) and channels > 0:
                return {"num_parameters": channels, "conv": conv}
    if isinstance(previous, nn.LayerNorm) and previous.normalized_shape:
        return {"num_parameters": int(previous.normalized_shape[-1]), "conv": False}
    raise ValueError(
        f"infer_kaf: cannot infer num_parameters and conv for {name!r} from the layer before it "
        f"({type(previous).__name__}); pass num_parameters (and conv) explicitly"
    )


def fit_error(module: KAF, target: Any, points: int = 8001) -> float:
    """max |KAF(x) - f(x)| over ``points`` evenly spaced x in [-boundary, boundary] (float64, unit 0)."""
    from relukit import array

    f = kafmath.init_function("fit_error", target)
    x = np.linspace(-module.boundary, module.boundary, points)
    alpha = module.alpha.detach()[:1].double().numpy()
    dictionary = module.dictionary.detach().double().numpy()
    g = array.kaf(x, alpha, dictionary, module.gamma, module.kernel)
    return float(np.max(np.abs(g - f(x))))

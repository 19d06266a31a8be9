"""relukit.nn: drop-in activation modules."""

# Generated from the runtime by `python -m relukit.stubs` (make stubs); do not edit.
import torch
import torch.nn

import relukit.catalog
from relukit.batchnorm_act import BatchNormAct1d as BatchNormAct1d
from relukit.batchnorm_act import BatchNormAct2d as BatchNormAct2d
from relukit.batchnorm_act import BatchNormAct3d as BatchNormAct3d
from relukit.kaf import KAF as KAF
from relukit.kaf import KAF2D as KAF2D

__all__ = [
    "KAF",
    "KAF2D",
    "NO_WEIGHT_DECAY",
    "activation_name",
    "module_entry",
    "BatchNormAct1d",
    "BatchNormAct2d",
    "BatchNormAct3d",
    "ReLU",
    "ReLU6",
    "Hardtanh",
    "Threshold",
    "Rectify",
    "LeakyReLU",
    "RReLU",
    "PReLU",
    "ELU",
    "CELU",
    "SELU",
    "GELU",
    "SiLU",
    "Mish",
    "Softplus",
]

NO_WEIGHT_DECAY: str

def activation_name(module: torch.nn.Module) -> str | None:
    """The relukit name of an activation module (relukit's, KAF included, or torch's), else None."""

def module_entry(module: torch.nn.Module) -> relukit.catalog.Activation | None:
    """The catalog entry of a relukit or torch activation module, else None (KAF has none)."""

class ReLU(torch.nn.ReLU):
    """Applies the rectified linear unit function element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, inplace: bool = False) -> None: ...

class ReLU6(torch.nn.ReLU6):
    """Applies the ReLU6 function element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, inplace: bool = False) -> None: ...

class Hardtanh(torch.nn.Hardtanh):
    """Applies the HardTanh function element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None: ...

class Threshold(torch.nn.Threshold):
    """Thresholds each element of the input Tensor."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None: ...

class Rectify(torch.nn.Module):
    """Keras 3's general rectifier: :math:`\\operatorname{clip}(x, 0, m)` for :math:`x > t`, else :math:`s (x - t)`."""

    activation_name: str
    def __init__(self, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> None: ...
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def extra_repr(self) -> str: ...

class LeakyReLU(torch.nn.LeakyReLU):
    """Applies the LeakyReLU function element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None: ...

class RReLU(torch.nn.RReLU):
    """Applies the randomized leaky rectified linear unit function, element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, lower: float = 0.125, upper: float = 0.3333333333333333, inplace: bool = False) -> None: ...

class PReLU(torch.nn.PReLU):
    """Applies the element-wise PReLU function."""

    activation_name: str
    def reset_parameters(self) -> None: ...

class ELU(torch.nn.ELU):
    """Applies the Exponential Linear Unit (ELU) function, element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, alpha: float = 1.0, inplace: bool = False, *, bits: int | None = None) -> None: ...
    def extra_repr(self) -> str: ...
    bits: int | None

class CELU(torch.nn.CELU):
    """Applies the CELU function element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, alpha: float = 1.0, inplace: bool = False, *, bits: int | None = None) -> None: ...
    def extra_repr(self) -> str: ...
    bits: int | None

class SELU(torch.nn.SELU):
    """Applies the SELU function element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, inplace: bool = False, *, bits: int | None = None) -> None: ...
    def extra_repr(self) -> str: ...
    bits: int | None

class GELU(torch.nn.GELU):
    """Applies the Gaussian Error Linear Units function."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, approximate: str = "none", *, bits: int | None = None) -> None: ...
    def extra_repr(self) -> str: ...
    bits: int | None

class SiLU(torch.nn.SiLU):
    """Applies the Sigmoid Linear Unit (SiLU) function, element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, inplace: bool = False, *, bits: int | None = None) -> None: ...
    def extra_repr(self) -> str: ...
    bits: int | None

class Mish(torch.nn.Mish):
    """Applies the Mish function, element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, inplace: bool = False, *, bits: int | None = None) -> None: ...
    def extra_repr(self) -> str: ...
    bits: int | None

class Softplus(torch.nn.Softplus):
    """Applies the Softplus function element-wise."""

    activation_name: str
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...
    def __init__(self, beta: float = 1.0, threshold: float = 20.0, *, bits: int | None = None) -> None: ...
    def extra_repr(self) -> str: ...
    bits: int | None

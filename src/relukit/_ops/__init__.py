"""torch.library custom ops behind relukit.functional (importing this registers them)."""

from relukit._ops import kaf, mish, piecewise  # noqa: F401

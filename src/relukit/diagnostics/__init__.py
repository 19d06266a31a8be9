"""relukit.diagnostics: what activations do inside a model — saved memory, dead units, gradient flow."""

from relukit.diagnostics.memory import SavedTensorMeter

__all__ = ["SavedTensorMeter"]

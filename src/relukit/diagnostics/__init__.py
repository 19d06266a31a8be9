"""relukit.diagnostics: what activations do inside a model — dead units, gradient flow, saved memory.

* ``DeadUnitMonitor(model)`` / ``scan(model, data)``: dead and dormant units over a whole dataset, global
  across DDP ranks (Glorot et al. 2011; Lu et al. 2020; ReDo, Sokar et al. 2023)
* ``GradientFlowMonitor(model)``: per-layer gradient norms after each backward; vanishing/exploding verdict
* ``revive(model, report)``: re-initializes dead units (the other fixes are listed in its module)
* ``SavedTensorMeter()``: bytes autograd keeps for backward
"""

from relukit.diagnostics.dead import DeadUnitMonitor, scan
from relukit.diagnostics.gradient import GradientFlowMonitor
from relukit.diagnostics.memory import SavedTensorMeter
from relukit.diagnostics.reports import DeadUnitReport, GradientFlowReport, GradientStep, LayerStats
from relukit.diagnostics.revive import revive

__all__ = [
    "DeadUnitMonitor",
    "DeadUnitReport",
    "GradientFlowMonitor",
    "GradientFlowReport",
    "GradientStep",
    "LayerStats",
    "SavedTensorMeter",
    "revive",
    "scan",
]

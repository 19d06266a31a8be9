"""relukit.studies: reproducible experiments on what ReLU does, each returning plain data.

Every study module has ``KEY`` (its key in ``results.json``), ``CONFIGS`` ({"tiny", "quick", "full"}) and
``run(config, *, seed, device, progress) -> dict`` of plain numbers, lists and strings: no drawing, no
printing (``relukit.report`` renders them). An optional ``COST`` (relative run time; the seconds of its
``--quick`` run serve) lets the parallel runner start the longest studies first.
:func:`relukit.studies.runner.run_studies` runs several.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# CLI name -> module, in the order of the report.
STUDIES = {
    "nonlinearity": "relukit.studies.nonlinearity",
    "vanishing": "relukit.studies.vanishing",
    "born-dead": "relukit.studies.born_dead",
    "init": "relukit.studies.initialization",
    "dying": "relukit.studies.dying",
    "compare": "relukit.studies.compare",
    "fewbit": "relukit.studies.fewbit",
}
SCALES = ("tiny", "quick", "full")


def canonical(name: str) -> str:
    """The CLI name of a study ('born_dead' and 'born-dead' both name 'born-dead')."""
    key = str(name).lower().replace("_", "-")
    if key not in STUDIES:
        raise ValueError(f"relukit.studies: unknown study {name!r}; available: {', '.join(STUDIES)}")
    return key


def load(name: str) -> ModuleType:
    return importlib.import_module(STUDIES[canonical(name)])


def result_key(name: str) -> str:
    """The study's top-level key in results.json ('born-dead' -> 'born_dead')."""
    return canonical(name).replace("-", "_")

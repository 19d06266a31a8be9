"""Runs studies deterministically and gathers their results into one dict (the future results.json).

Determinism: every study seeds its own generators from ``seed`` and its run names; torch runs with one
intra-op thread (a fixed reduction order) and ``torch.use_deterministic_algorithms`` (relukit's native
kernels are elementwise: their values do not depend on the thread count); the caller's RNG state, thread
count and determinism flags are restored afterwards. The one exception is wall-clock
time, which no seed fixes: it is kept apart, under each study's ``"timing"`` key.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

import relukit
from relukit import studies
from relukit.studies._common import Progress, no_progress

THREADS = 1


def check_device(device: str) -> str:
    """'cpu' or an available CUDA device ('cuda', 'cuda:1')."""
    if not isinstance(device, str) or not (device == "cpu" or device.split(":")[0] == "cuda"):
        raise ValueError(f"run_studies: device must be 'cpu' or 'cuda', got {device!r}")
    if device != "cpu" and not torch.cuda.is_available():
        raise ValueError(f"run_studies: device {device!r} is not available (torch.cuda.is_available() is False)")
    return device


@contextlib.contextmanager
def deterministic(device: str) -> Iterator[None]:
    """Fixed threads and deterministic algorithms inside; the caller's settings and RNG state after."""
    if device != "cpu":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (CUDA docs)
    threads = torch.get_num_threads()
    flags = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_benchmark = torch.backends.cudnn.benchmark
    fork_devices = [] if device == "cpu" else [torch.device(device).index or 0]
    with torch.random.fork_rng(devices=fork_devices):
        torch.set_num_threads(THREADS)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
            torch.backends.cudnn.benchmark = cudnn_benchmark


def configuration(name: str, scale: str, data: str | os.PathLike | None = None) -> dict:
    """A copy of a study's configuration at ``scale``, with the user's data file when given."""
    if scale not in studies.SCALES:
        raise ValueError(f"run_studies: scale must be one of {', '.join(studies.SCALES)}, got {scale!r}")
    config = dict(studies.load(name).CONFIGS[scale])
    if data is not None and name != "nonlinearity":  # nonlinearity is about two spirals by design
        config["data"] = str(Path(data))
    return config


def run_studies(
    names: Sequence[str] | None = None,
    *,
    scale: str = "quick",
    seed: int = 0,
    device: str = "cpu",
    data: str | os.PathLike | None = None,
    progress: Progress = no_progress,
    on_result: Callable[[str, dict], None] | None = None,
) -> dict:
    """Runs the named studies (all by default) and returns ``{"meta": ..., key: result, ...}``.

    Each result holds the study's numbers plus its ``config`` and ``seed``; ``on_result(key, result)``
    is called as each study finishes (the CLI prints its table then).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"run_studies: seed must be an int >= 0, got {seed!r}")
    check_device(device)
    chosen = [studies.canonical(n) for n in (names if names is not None else studies.STUDIES)]
    configs = {name: configuration(name, scale, data) for name in chosen}  # fail before any work
    if data is not None:
        relukit.data.load(data)  # a bad file fails now, not after minutes of other studies
    results: dict = {
        "meta": {
            "relukit": relukit.__version__,
            "torch": torch.__version__.split("+")[0],
            "scale": scale,
            "seed": seed,
            "device": device,
            "threads": THREADS,
            "studies": [studies.result_key(n) for n in chosen],
            "data": None if data is None else str(data),
        }
    }
    for name in chosen:
        key = studies.result_key(name)
        start = time.perf_counter()
        with deterministic(device):
            outcome = studies.load(name).run(configs[name], seed=seed, device=device, progress=progress)
        timing = {**outcome.pop("timing", {}), "wall_seconds": round(time.perf_counter() - start, 3)}
        results[key] = {"config": configs[name], "seed": seed, **outcome, "timing": timing}
        if on_result is not None:
            on_result(key, results[key])
    return results

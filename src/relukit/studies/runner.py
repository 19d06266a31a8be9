"""Runs studies deterministically and gathers their results into one dict (the future results.json).

Determinism: every study seeds its own generators from ``seed`` and its run names; torch runs with one
intra-op thread (a fixed reduction order) and ``torch.use_deterministic_algorithms`` (relukit's native
kernels are elementwise: their values do not depend on the thread count); the caller's RNG state, thread
count and determinism flags are restored afterwards. The one exception is wall-clock
time, which no seed fixes: it is kept apart, under each study's ``"timing"`` key.

Parallel runs: with ``jobs > 1`` the studies run in that many worker processes (started with "spawn", so
they share no state with the caller), costliest first (each study module's ``COST``), each worker applying
:func:`deterministic` itself. A study's numbers depend only on its configuration and seed, so the results
equal a serial run's apart from the timings, and they are gathered in the order the studies were named.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
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


def default_jobs() -> int:
    """Worker processes by default: one per core, at most 2 (one torch thread each)."""
    return min(2, os.cpu_count() or 1)


def check_jobs(jobs: int) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"run_studies: jobs must be an int >= 1, got {jobs!r}")
    return jobs


def costliest_first(names: Sequence[str]) -> list[str]:
    """The order in which workers take the studies: by each module's ``COST``, costliest first (a study
    without one first of all: an unknown study may be long, and a long one started last ends last)."""
    return sorted(names, key=lambda name: -getattr(studies.load(name), "COST", math.inf))


def run_study(name: str, config: dict, *, seed: int, device: str, progress: Progress = no_progress) -> dict:
    """One study under :func:`deterministic`: its numbers with its ``config``, ``seed`` and ``timing``."""
    start = time.perf_counter()
    with deterministic(device):
        outcome = studies.load(name).run(config, seed=seed, device=device, progress=progress)
    timing = {**outcome.pop("timing", {}), "wall_seconds": round(time.perf_counter() - start, 3)}
    return {"config": config, "seed": seed, **outcome, "timing": timing}


def _named(error: BaseException, name: str) -> None:
    """Names the study in its error's notes (shown by tracebacks and by the CLI); the type is kept."""
    error.add_note(f"in study {name!r}")


def _stop(pool: ProcessPoolExecutor) -> None:
    """Ends the workers now, rather than after the studies they are running (minutes)."""
    if hasattr(pool, "terminate_workers"):  # Python >= 3.14
        pool.terminate_workers()
        return
    workers = list((pool._processes or {}).values())  # shutdown() drops this table: read it first
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join()


def _run_in_workers(
    configs: dict[str, dict], seed: int, device: str, jobs: int, on_start, on_finish
) -> dict[str, dict]:
    """Runs every study in ``configs`` on ``jobs`` spawned workers; a worker takes the next when it is free."""
    waiting, running, results = costliest_first(list(configs)), {}, {}
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        while waiting or running:
            while waiting and len(running) < jobs:  # submitted only when a worker is free: it starts now
                name = waiting.pop(0)
                running[pool.submit(run_study, name, configs[name], seed=seed, device=device)] = name
                on_start(name)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: list(configs).index(running[f])):
                name = running.pop(future)
                results[name] = _result(future, name)
                on_finish(name, results[name])
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=False)  # every study is done; the workers exit on their own while the caller goes on
    return results


def _result(future: Future, name: str) -> dict:
    try:
        return future.result()
    except BaseException as error:  # a study's own error, or its worker's end (BrokenProcessPool)
        _named(error, name)  # the worker's traceback stays attached as its __cause__
        raise


def run_studies(
    names: Sequence[str] | None = None,
    *,
    scale: str = "quick",
    seed: int = 0,
    device: str = "cpu",
    data: str | os.PathLike | None = None,
    progress: Progress = no_progress,
    on_result: Callable[[str, dict], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    jobs: int | None = None,
) -> dict:
    """Runs the named studies (all by default) and returns ``{"meta": ..., key: result, ...}``.

    Each result holds the study's numbers plus its ``config`` and ``seed``; ``on_start(key)`` is called as
    each study starts and ``on_result(key, result)`` as it finishes (the CLI prints its table then).
    ``jobs`` worker processes run the studies (default :func:`default_jobs`; 1 runs them here, one after
    the other). Workers do not call ``progress``: a callable of this process cannot follow them there.
    A study's error is raised here with the study named in its notes.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"run_studies: seed must be an int >= 0, got {seed!r}")
    check_device(device)
    jobs = default_jobs() if jobs is None else check_jobs(jobs)
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
    keys = {name: studies.result_key(name) for name in chosen}

    def started(name: str) -> None:
        if on_start is not None:
            on_start(keys[name])

    def finished(name: str, result: dict) -> None:
        if on_result is not None:
            on_result(keys[name], result)

    if min(jobs, len(chosen)) > 1:
        done = _run_in_workers(configs, seed, device, min(jobs, len(chosen)), started, finished)
    else:
        done = {}
        for name in chosen:
            started(name)
            try:
                done[name] = run_study(name, configs[name], seed=seed, device=device, progress=progress)
            except BaseException as error:
                _named(error, name)
                raise
            finished(name, done[name])
    results.update((keys[name], done[name]) for name in chosen)  # the order the studies were named in
    return results

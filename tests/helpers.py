"""Helpers the tests share (plain functions; fixtures are in conftest.py, data in cases.py)."""

from __future__ import annotations

import socket
import time

import torch.multiprocessing as mp


def without_timing(value):
    """A results.json value with every "timing" entry dropped (wall-clock time is the one non-deterministic part)."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k != "timing"}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_ranks(worker, nprocs: int, *args, timeout: float = 120.0) -> None:
    """Runs ``worker(rank, port, *args)`` in ``nprocs`` processes; a worker's exception is re-raised here,
    and workers still running after ``timeout`` seconds are killed (AssertionError)."""
    context = mp.spawn(worker, args=(free_port(), *args), nprocs=nprocs, join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):  # re-raises a worker's exception
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError(f"distributed workers did not finish within {timeout:.0f} s")

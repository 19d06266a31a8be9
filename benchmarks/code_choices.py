"""The measurements behind choices written in relukit's code (interleaved medians, one CPU thread).

- comparisons for the codes: NumPy's ``x <= 0`` against torch's (``relukit._ops.packing``);
- ``pack_numpy`` in chunks of ``CHUNK`` elements against one pass over the whole array (hardtanh's codes);
- ``relukit.diagnostics.tally._positive`` (sign, clamp) against summing the bool mask ``y > 0``;
- ``relukit.functional._binder`` against ``signature.bind`` + ``apply_defaults``.

Run: ``PYTHONPATH=src python benchmarks/code_choices.py``; prints one line per choice.
"""

from __future__ import annotations

import inspect
import statistics
import time

import numpy as np
import torch

from relukit import formulas
from relukit._ops import packing
from relukit.diagnostics import tally
from relukit.functional import _binder


def medians(fns: dict, repeats: int = 21, inner: int = 1) -> dict[str, float]:
    """Median seconds per call of each function; they take turns every repeat."""
    times = {key: [] for key in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[key].append((time.perf_counter() - start) / inner)
    return {key: statistics.median(values) for key, values in times.items()}


def line(title: str, times: dict[str, float], unit: float, unit_name: str) -> None:
    (a, ta), (b, tb) = times.items()
    print(f"{title}: {a} {ta / unit:.3g} {unit_name}, {b} {tb / unit:.3g} {unit_name} ({tb / ta:.1f}x)")


def main() -> None:
    torch.set_num_threads(1)
    x = torch.randn(1 << 20)
    array = x.numpy()
    line("x <= 0 at 2^20 fp32", medians({"NumPy": lambda: array <= 0, "torch": lambda: x <= 0}), 1e-6, "us")

    big = np.random.default_rng(0).standard_normal(1 << 24).astype(np.float32)

    def codes(chunk):
        return formulas.hardtanh_codes(chunk, np)

    def whole():
        return torch.from_numpy(np.packbits(codes(big), bitorder="little"))

    chunked = {"chunked": lambda: packing.pack_numpy(codes, big, 1), "whole": whole}
    line("hardtanh codes packed at 2^24 fp32", medians(chunked, repeats=7), 1e-3, "ms")

    y = torch.randn(256, 4096)
    out = torch.empty_like(y)
    positive = {"sign": lambda: tally._positive(y, out, False).sum(0), "bool mask": lambda: (y > 0).sum(0)}
    line("positive count of a 256 x 4096 output", medians(positive), 1e-6, "us")

    def signature_of(x, negative_slope=0.01, inplace=False):
        pass

    signature = inspect.signature(signature_of)
    bind = _binder("leaky_relu", signature)

    def stock():
        bound = signature.bind(x, 0.2)
        bound.apply_defaults()
        return dict(bound.arguments)

    binders = {"_binder": lambda: bind((x, 0.2), {}), "signature.bind": stock}
    line("binding (x, 0.2) of leaky_relu", medians(binders, inner=1000), 1e-6, "us")


if __name__ == "__main__":
    main()

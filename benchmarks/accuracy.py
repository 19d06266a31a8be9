"""Measured accuracy of relukit.array's smooth members against mpmath (50 digits), per dtype.

    PYTHONPATH=src python benchmarks/accuracy.py [--points 16001]   # writes docs/accuracy.json

float64: max error in ulps of the truth where it is a normal float64 (dense grid over [-40, 40], near 0,
+-1e4, +-1e300, around each derivative root). float32/float16/bfloat16: max error in ulps of that format
(0.5 = correctly rounded). ``python -m relukit.docs --members`` puts the numbers into docs/members.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.mpmath_reference import FUNCTIONS, grid, low_precision_ulps, truth, ulp_error  # noqa: E402

import relukit.array as ra  # noqa: E402

FORMATS = {"float32": (np.float32, 24, -126), "float16": (np.float16, 11, -14), "bfloat16": (torch.bfloat16, 8, -126)}


def label(member: str, params: tuple) -> str:
    return member + "".join(f"({k}={v!r})" for k, v in params)


def measure(points: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    x64 = grid(points)
    for member, params in FUNCTIONS:
        row = results.setdefault(label(member, params), {})
        for derivative in (False, True):
            function = getattr(ra, member + ("_derivative" if derivative else ""))
            kind = "derivative" if derivative else "value"
            expected = truth(member, params, derivative, x64)
            row[f"float64 {kind}"] = float(np.nanmax(ulp_error(function(x64, **dict(params)), expected)))
            for name, (dtype, bits, emin) in FORMATS.items():
                if dtype is torch.bfloat16:
                    x = torch.unique(torch.from_numpy(x64).to(dtype))
                    xs, got = x.double().numpy(), function(x, **dict(params)).double().numpy()
                else:
                    x = np.unique(x64.astype(dtype))
                    xs, got = x.astype(np.float64), function(x, **dict(params)).astype(np.float64)
                keep = np.isfinite(xs) & np.isfinite(got)
                reference = truth(member, params, derivative, xs[keep])
                error = low_precision_ulps(got[keep], reference, bits, emin)
                row[f"{name} {kind}"] = float(np.max(error))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16001, help="dense grid points over [-40, 40]")
    parser.add_argument("--out", type=Path, default=Path("docs/accuracy.json"))
    args = parser.parse_args()
    with np.errstate(over="ignore"):
        results = measure(args.points)
    args.out.write_text(json.dumps({"points": args.points, "max_ulp": results}, indent=1) + "\n")
    for name, row in results.items():
        print(f"{name:28s} " + "  ".join(f"{k} {v:.2f}" for k, v in row.items()))


if __name__ == "__main__":
    main()

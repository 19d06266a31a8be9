"""``relukit bench``: the command line. It parses the arguments into a config, :mod:`relukit.bench.measure`
times relukit against torch eager, torch.compile, NumPy and the memory roofline, and
:mod:`relukit.bench.present` prints the table and writes the JSON. Importing it loads no torch.
"""

from __future__ import annotations

import argparse
import re
import sys

from relukit import catalog
from relukit.bench import measure, present

DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16"}
DTYPES |= {"bfloat16": "bfloat16", "bf16": "bfloat16", "float64": "float64", "fp64": "float64"}
DEFAULT_OPS = ("relu", "leaky_relu", "relu6", "hardtanh")
DEFAULT_SIZES = {"cpu": "2^20,2^24", "cuda": "2^24,2^28"}


def parse_sizes(text: str) -> list[int]:
    """``"2^20,2^24,1000"`` -> [1048576, 16777216, 1000]; ``2**k`` works too."""
    sizes = []
    for item in text.split(","):
        item = item.strip()
        power = re.fullmatch(r"2\s*(?:\^|\*\*)\s*(\d+)", item)
        if power and int(power.group(1)) <= 40:
            sizes.append(1 << int(power.group(1)))
        elif item.isdigit() and int(item) > 0:
            sizes.append(int(item))
        else:
            raise ValueError(f"--sizes: cannot read {item!r}; give positive counts such as 2^20,2^24 or 1000000")
    return sizes


def parse_dtypes(text: str) -> list[str]:
    try:
        return list(dict.fromkeys(DTYPES[item.strip().lower()] for item in text.split(",")))
    except KeyError as error:
        raise ValueError(f"--dtype: unknown dtype {error.args[0]!r}; choose from {', '.join(sorted(DTYPES))}") from None


def parse_ops(text: str) -> list[str]:
    names = []
    for item in text.split(","):
        entry = catalog.lookup(item.strip())  # ValueError listing the members
        if entry.takes_weight:
            raise ValueError(f"--ops: {entry.name} needs a weight tensor; bench it through relukit.nn.{entry.module}")
        names.append(entry.name)
    return list(dict.fromkeys(names))


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="time relukit against torch, torch.compile, NumPy and the roofline")
    bench.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    bench.add_argument("--dtype", default="float32", help="comma-separated: float32,bfloat16,float16,float64")
    bench.add_argument(
        "--sizes", default=None, help="elements, comma-separated (default cpu 2^20,2^24; cuda 2^24,2^28)"
    )
    bench.add_argument("--ops", default=",".join(DEFAULT_OPS), help=f"members (default {','.join(DEFAULT_OPS)})")
    bench.add_argument("--quick", action="store_true", help="fewer repeats; default size 2^20 only (< 1 min on CPU)")
    bench.add_argument("--compile", action="store_true", help="also time torch.compile of torch's op")
    bench.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 15; quick 5)")
    bench.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    bench.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    bench.set_defaults(run=command)


def configure(args: argparse.Namespace) -> dict:
    """Checked settings from the parsed arguments (ValueError with the flag and value otherwise); sets nothing."""
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: CUDA is not available here (torch.cuda.is_available() is False)")
    sizes = args.sizes or ("2^20" if args.quick and args.device == "cpu" else DEFAULT_SIZES[args.device])
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 15)
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    return {
        "device": args.device,
        "dtypes": parse_dtypes(args.dtype),
        "sizes": parse_sizes(sizes),
        "ops": parse_ops(args.ops),
        "compile": args.compile,
        "repeats": repeats,
        "warmup": 1 if args.quick else 3,
    }


def command(args: argparse.Namespace) -> int:
    try:
        config = configure(args)
    except ValueError as error:
        print(f"relukit bench: {error}", file=sys.stderr)
        return 2
    data = measure.run(config, threads=args.threads)  # the threads apply to the run only
    data["command"] = present.command_line(data)
    present.render(data)
    if args.json:
        present.write_json(data, args.json)
    return 0

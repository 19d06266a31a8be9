"""Presenting ``relukit bench``'s results: the table (rich when installed, plain text otherwise), the
command that repeats a run, and the JSON file. Nothing here measures; :mod:`relukit.bench.measure` does.
"""

from __future__ import annotations

import json
import sys

COLUMNS = (
    ("op", "op", str),
    ("dtype", "dtype", str),
    ("size", "n", lambda v: f"2^{v.bit_length() - 1}" if v & (v - 1) == 0 else str(v)),
    ("impl", "impl", str),
    ("forward_s", "fwd ms", lambda v: f"{v * 1e3:.3f}"),
    ("forward_gbps", "fwd GB/s", lambda v: f"{v:.1f}"),
    ("forward_roofline", "fwd % copy", lambda v: f"{v:.0%}"),
    ("forward_vs_torch", "fwd t/torch", lambda v: f"{v:.2f}"),
    ("forward_vs_torch_min", "(min)", lambda v: f"{v:.2f}"),
    ("forward_backward_s", "f+b ms", lambda v: f"{v * 1e3:.3f}"),
    ("forward_backward_vs_torch", "f+b t/torch", lambda v: f"{v:.2f}"),
    ("forward_backward_vs_torch_min", "(min)", lambda v: f"{v:.2f}"),
    ("saved_bytes", "saved", lambda v: f"{v / 2**20:.2f} MiB" if v >= 2**20 else f"{v / 2**10:.1f} KiB"),
)


def table_rows(data: dict) -> list[list[str]]:
    return [[("-" if row[key] is None else fmt(row[key])) for key, _, fmt in COLUMNS] for row in data["results"]]


def render(data: dict, file=None) -> None:
    """Prints the results table (rich when installed, plain text otherwise) and the copy bandwidths."""
    file = file or sys.stdout
    headers = [title for _, title, _ in COLUMNS]
    copy = ", ".join(
        f"{d} 2^{int(s).bit_length() - 1}: {g:.1f} GB/s" for d, by in data["copy_gbps"].items() for s, g in by.items()
    )
    caption = f"{data['machine']['device']} copy bandwidth (the roofline): {copy}"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in table_rows(data))) for i, h in enumerate(headers)]
        for line in [headers, *table_rows(data)]:
            print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)), file=file)
        print(caption, file=file)
        return
    title = "relukit bench (t/torch: median time relative to torch eager, lower is faster; (min): of minima)"
    if data["machine"].get("cpu_backend"):
        title += f"; CPU path: {data['machine']['cpu_backend']}, allocator: {data['machine']['allocator']}"
    table = Table(title=title, caption=caption)
    for header in headers:
        table.add_column(header, justify="left" if header in ("op", "dtype", "impl") else "right")
    for line in table_rows(data):
        table.add_row(*line)
    Console(file=file, width=max(160, Console().width)).print(table)


def command_line(data: dict) -> str:
    """A ``relukit bench`` command that repeats the run behind ``data`` (the JSON records it)."""
    config = data["config"]
    parts = ["relukit bench", f"--device {config['device']}", f"--dtype {','.join(config['dtypes'])}"]
    parts += [f"--sizes {','.join(str(s) for s in config['sizes'])}", f"--ops {','.join(config['ops'])}"]
    parts += [f"--repeats {config['repeats']}", f"--threads {data['machine']['cpu_threads']}"]
    return " ".join(
        parts + (["--compile"] if config["compile"] else []) + (["--quick"] if config["warmup"] == 1 else [])
    )


def write_json(data: dict, path: str) -> None:
    """The results as JSON (the schema of :func:`relukit.bench.measure.run`, plus ``command``)."""
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1)

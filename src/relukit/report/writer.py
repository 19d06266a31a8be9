"""write_report: results.json, the figures and index.html, swapped into place in one step.

The report is built in a temporary directory next to ``out`` and then exchanged with it (``renameat2``
with ``RENAME_EXCHANGE`` on Linux; elsewhere two renames), so an interrupted run leaves the previous
report intact. An existing ``out`` is replaced only when it is empty or a previous relukit report (it
holds the marker file), never an unrelated directory.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from relukit.report import html, study_figures

MARKER = ".relukit-report"


def json_safe(value: Any) -> Any:
    """Plain JSON types; non-finite floats become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item"):  # NumPy and torch scalars
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(f"json_safe: cannot store {type(value).__name__} in results.json: {value!r}")


def dumps(value: Any, indent: int = 0) -> str:
    """JSON with one key per line, but lists of numbers on one line (a results file one can read and diff)."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(f"{inner}{dumps(v, indent + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


def _check_out(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"write_report: out {str(out)!r} exists and is not a directory")
    if any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(
            f"write_report: out {str(out)!r} is a non-empty directory that is not a relukit report "
            f"(no {MARKER} file); refusing to replace it"
        )


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swaps two paths (Linux renameat2); False where the call is unavailable."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0


def _swap_into_place(built: Path, out: Path) -> None:
    if not out.exists():
        os.rename(built, out)
        return
    if _exchange(built, out):
        shutil.rmtree(built)  # now holds the previous report
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    os.rename(out, old / "report")
    os.rename(built, out)
    shutil.rmtree(old)


def build(results: dict, directory: Path) -> dict[str, list[str]]:
    """Writes everything into ``directory`` (which must exist); returns the figure names per study."""
    safe = json_safe(results)
    figures = {key: study_figures.draw(key, safe[key], directory) for key in study_figures.FIGURES if key in safe}
    (directory / "results.json").write_text(dumps(safe) + "\n")
    (directory / "index.html").write_text(html.render(safe, figures), encoding="utf-8")
    (directory / MARKER).write_text("written by relukit study; this directory is replaced on the next run\n")
    for path in directory.iterdir():
        path.chmod(0o644)  # temporary files are created private; a report is meant to be read
    return figures


def write_report(results: dict, out: str | os.PathLike) -> Path:
    """Writes the report for ``results`` to directory ``out`` atomically; returns the path of index.html."""
    out = Path(out).resolve()
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        build(results, built)
        built.chmod(0o755)  # mkdtemp makes it 0700
        _swap_into_place(built, out)
    finally:
        if built.exists():
            shutil.rmtree(built)
    return out / "index.html"

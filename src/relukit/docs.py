"""Docs derived from the catalog: the members table in README.md (``python -m relukit.docs`` rewrites
it; a test checks that README.md is up to date)."""

from __future__ import annotations

import sys
from pathlib import Path

from relukit import catalog

BEGIN, END = "<!-- members:begin -->", "<!-- members:end -->"


def members_table() -> str:
    rows = [
        "| member | f(x) | f'(x) | parameters (defaults as torch) | backward saves |",
        "|---|---|---|---|---|",
    ]
    for entry in catalog.MEMBERS:
        params = ", ".join(p.name if p.default is catalog.REQUIRED else f"{p.name}={p.default!r}" for p in entry.params)
        if entry.name == "prelu":
            params = "weight, channel_axis=1"
        saves = "1-bit codes" if entry.piecewise_linear else "what torch saves"
        if entry.name == "rectify":
            saves = "1-bit codes (2 with slope and max)"
        rows.append(f"| `{entry.name}` | ${entry.formula}$ | ${entry.derivative_formula}$ | {params} | {saves} |")
    return "\n".join(rows)


def update(readme: Path) -> bool:
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{members_table()}\n{END}{tail}"
    changed = new != text
    if changed:
        readme.write_text(new)
    return changed


if __name__ == "__main__":
    update(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))

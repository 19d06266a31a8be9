"""Docs derived from the catalog: the members table in README.md (``python -m relukit.docs`` rewrites
it; a test checks that README.md is up to date) and the formula blocks of docs/members.md
(``python -m relukit.docs --members``), with each member's "in the code" links (:mod:`relukit.membermap`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from relukit import catalog, membermap

BEGIN, END = "<!-- members:begin -->", "<!-- members:end -->"


def members_table() -> str:
    rows = [
        "| member | f(x) | f'(x) | parameters (defaults as torch) | backward saves |",
        "|---|---|---|---|---|",
    ]
    for entry in catalog.MEMBERS:
        params = ", ".join(p.name if p.default is catalog.REQUIRED else f"{p.name}={p.default!r}" for p in entry.params)
        if entry.takes_weight:
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


# ----------------------------------------------------------------------------------------------
# docs/members.md: one section per member; the formula block of each is generated from the catalog
# (``python -m relukit.docs --members docs/members.md``), the prose around it is written by hand.
# ----------------------------------------------------------------------------------------------
def _saves(entry: catalog.Activation) -> str:
    if entry.name == "rectify":
        return "1-bit derivative codes (2 bits with both a slope and a max)"
    if entry.piecewise_linear:
        return "1-bit derivative codes (torch saves the fp32 input or output: 32x more)"
    return "the input, as torch does" if not entry.takes_weight else "input and weight, as torch does"


ACCURACY = Path(__file__).resolve().parents[2] / "docs" / "accuracy.json"  # benchmarks/accuracy.py writes it


def accuracy_lines(entry: catalog.Activation) -> list[str]:
    """The measured max errors of a smooth member (docs/accuracy.json), one line per parameter set."""
    if entry.piecewise_linear or not ACCURACY.exists():
        return []
    data = json.loads(ACCURACY.read_text())
    lines = []
    for label, row in data["max_ulp"].items():
        if label != entry.name and not label.startswith(entry.name + "("):
            continue
        cells = [f"{dtype} {row[dtype + ' value']:.4g} / {row[dtype + ' derivative']:.4g}" for dtype in FORMATS]
        lines.append(f"  - `{label}`: " + ", ".join(cells))
    if not lines:
        return []
    head = (
        "- max error of `relukit.array` vs mpmath, value / derivative, in ulps of each dtype "
        f"(`python benchmarks/accuracy.py --points {data['points']}`; 0.5 = correctly rounded):"
    )
    return [head, *lines]


FORMATS = ("float64", "float32", "float16", "bfloat16")


def member_block(entry: catalog.Activation) -> str:
    params = ", ".join(
        f"`{p.name}`" if p.default is catalog.REQUIRED else f"`{p.name}={p.default!r}`" for p in entry.params
    )
    if entry.takes_weight:
        params = "`weight`, `channel_axis=1`"
    return "\n".join(
        [
            f"<!-- member:{entry.name}:begin -->",
            f"*{entry.summary}*",
            "",
            f"$$f(x) = {entry.formula}$$",
            "",
            f"$$f'(x) = {entry.derivative_formula}$$",
            "",
            f"- parameters: {params or 'none'}",
            f"- aliases: {', '.join(f'`{a}`' for a in entry.aliases) or 'none'}",
            f"- backward keeps: {_saves(entry)}",
            f"- paper: {entry.reference or 'torch'}",
            *accuracy_lines(entry),
            *membermap.member_lines(entry),
            "",
            f"![{entry.name} and its derivative](figures/{entry.name}.png)",
            f"<!-- member:{entry.name}:end -->",
        ]
    )


def member_figures(folder: Path) -> list[Path]:
    """One PNG per member (``relukit plot NAME --derivative``, range -4..4) into ``folder``."""
    from relukit.report.figures import plot_activations

    return [
        plot_activations([entry], low=-4.0, high=4.0, derivative=True, out=folder / f"{entry.name}.png")
        for entry in catalog.MEMBERS
    ]


def generated_blocks() -> dict[str, str]:
    """Marker name -> generated text of docs/members.md: one block per member, the "in the code" lines of
    each Kafnets layer."""
    blocks = {f"member:{entry.name}": member_block(entry) for entry in catalog.MEMBERS}
    for layer in membermap.KAF_LAYERS:
        lines = "\n".join(membermap.kaf_lines(layer))
        blocks[f"code:{layer}"] = f"<!-- code:{layer}:begin -->\n{lines}\n<!-- code:{layer}:end -->"
    return blocks


def update_members(page: Path) -> bool:
    """Rewrites every generated block in ``page``; raises if a member or layer has no block."""
    text = new = page.read_text()
    missing = []
    for marker, block in generated_blocks().items():
        begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
        if begin not in new or end not in new:
            missing.append(marker.split(":", 1)[1])
            continue
        head, rest = new.split(begin, 1)
        _, tail = rest.split(end, 1)
        new = head + block + tail
    if missing:
        raise ValueError(f"update_members: {page} has no section for {', '.join(missing)}")
    if new != text:
        page.write_text(new)
    return new != text


if __name__ == "__main__":
    if sys.argv[1:2] == ["--members"]:
        page = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/members.md")
        update_members(page)
        member_figures(page.parent / "figures")
    else:
        update(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))

"""index.html: one page, no scripts, no external resources; figures are the PNGs next to it."""

from __future__ import annotations

import json
from html import escape

from relukit.report import tables, text

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 0;
       background: #fafafa; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 28px; margin: 8px 0 4px; } h2 { font-size: 21px; margin-top: 44px; border-bottom: 1px solid #ddd;
padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; color: #444; }
.lead { color: #555; } .question { font-size: 16px; font-weight: 600; }
figure { margin: 16px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #666; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; } caption { caption-side: top; text-align: left;
font-weight: 600; padding: 4px 0; white-space: nowrap; }
.reference { background: #f6f8fa; border-left: 3px solid #8aa; padding: 8px 12px; }
.findings li { margin: 2px 0; } details { margin: 8px 0; font-size: 13px; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; } nav ol { columns: 2; }
.skipped { color: #888; } code { font-size: 13px; }
"""


def _table(table: tables.Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in table.rows)
    return f"<table><caption>{escape(table.title)}</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _reference_table(spec: dict) -> str:
    return _table(tables.Table(f"{spec['caption']} (source: {spec['where']})", spec["columns"], spec["rows"]))


def _cite(keys: list[str], numbers: dict[str, int]) -> str:
    return ", ".join(f'<a href="#ref-{k}">[{numbers[k]}]</a>' for k in keys)


def _section(index: int, key: str, result: dict, figures: list[str], numbers: dict[str, int]) -> str:
    words = text.STUDIES[key]
    parts = [
        f'<section id="{key}"><h2>{index}. {escape(words["title"])}</h2>',
        f'<p class="question">{escape(words["question"])}</p>',
        f"<h3>Method</h3><p>{escape(text.method(key, result['config']))}</p>",
    ]
    for name in figures:
        parts.append(
            f'<figure><img src="{escape(name)}" alt="{escape(words["title"])}">'
            f"<figcaption>{escape(words['caption'])}</figcaption></figure>"
        )
    parts.append("<h3>Results</h3>")
    parts.extend(_table(t) for t in tables.summaries(key, result))
    items = "".join(f"<li>{escape(line)}</li>" for line in text.findings(key, result))
    parts.append(f'<ul class="findings">{items}</ul>')
    cites = f" {_cite(words['cites'], numbers)}" if words["cites"] else ""
    parts.append(f'<h3>Compared with</h3><div class="reference"><p>{escape(words["reference"])}{cites}</p>')
    parts.extend(_reference_table(spec) for spec in words.get("tables", []))
    parts.append("</div>")
    config = json.dumps({"seed": result.get("seed"), "config": result.get("config")}, indent=1)
    seconds = result.get("timing", {}).get("wall_seconds")
    parts.append(
        f"<details><summary>configuration and seed (ran in {seconds} s)</summary><pre>{escape(config)}</pre></details>"
    )
    parts.append("</section>")
    return "\n".join(parts)


def render(results: dict, figures: dict[str, list[str]]) -> str:
    """The page for ``results`` (the runner's dict) with ``figures[key]`` = PNG file names."""
    meta = results.get("meta", {})
    keys = [k for k in text.STUDIES if k in results]
    cited = list(dict.fromkeys(c for k in keys for c in text.STUDIES[k]["cites"]))
    numbers = {c: i + 1 for i, c in enumerate(cited)}
    skipped = [k for k in text.STUDIES if k not in results]
    command = f"relukit study --{meta.get('scale', 'quick')} --seed {meta.get('seed', 0)}"
    nav = "".join(f'<li><a href="#{k}">{escape(text.STUDIES[k]["title"])}</a></li>' for k in keys)
    body = [
        "<h1>relukit study: what ReLU does</h1>",
        f'<p class="lead">Produced by <code>{escape(command)}</code> (relukit {escape(str(meta.get("relukit")))}, '
        f"torch {escape(str(meta.get('torch')))}, device {escape(str(meta.get('device')))}, "
        f'{escape(str(meta.get("threads")))} thread). Every number is in <a href="results.json">results.json</a>; '
        "the same command on the same machine gives the same numbers (wall-clock times excepted).</p>",
        f"<nav><ol>{nav}</ol></nav>",
    ]
    if skipped:
        body.append(f'<p class="skipped">Not run this time: {escape(", ".join(skipped))}.</p>')
    body += [_section(i + 1, k, results[k], figures.get(k, []), numbers) for i, k in enumerate(keys)]
    refs = "".join(
        f'<li id="ref-{c}">{escape(text.CITATIONS[c])}'
        + (f' <a href="{text.LINKS[c]}">{escape(text.LINKS[c])}</a>' if c in text.LINKS else "")
        + "</li>"
        for c in cited
    )
    body.append(f'<section id="references"><h2>References</h2><ol>{refs}</ol></section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>relukit study report</title><style>{_CSS}</style></head>\n"
        f"<body><main>\n{chr(10).join(body)}\n</main></body></html>\n"
    )

"""The README table is derived from the catalog; `relukit plot` draws and validates names."""

from __future__ import annotations

from pathlib import Path

import pytest

from relukit import catalog, cli, docs

ROOT = Path(__file__).resolve().parents[1]


def test_readme_members_table_is_current():
    assert docs.members_table() in (ROOT / "README.md").read_text(), "run: python -m relukit.docs README.md"


def test_plot_writes_png(tmp_path, capsys):
    out = tmp_path / "figs" / "act.png"
    assert cli.main(["plot", "relu", "leaky", "mish", "--derivative", "--range", "-3", "3", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.strip() == str(out.resolve())


def test_plot_unknown_name_lists_members(capsys):
    assert cli.main(["plot", "relu", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown activation 'nope'" in err and "leaky_relu" in err and "mish" in err


def test_plot_bad_range(capsys):
    assert cli.main(["plot", "relu", "--range", "3", "-3"]) == 2
    assert "--range must be LOW < HIGH" in capsys.readouterr().err


def test_plot_requires_a_name():
    with pytest.raises(SystemExit):
        cli.main(["plot"])


def test_every_member_has_its_figure_in_the_docs():
    page = (ROOT / "docs" / "members.md").read_text()
    for entry in catalog.MEMBERS:
        assert f"](figures/{entry.name}.png)" in page
        figure = ROOT / "docs" / "figures" / f"{entry.name}.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure


def test_plot_output_is_readable_by_others(tmp_path):
    out = tmp_path / "a.png"
    cli.main(["plot", "relu", "--out", str(out)])
    assert out.stat().st_mode & 0o044 == 0o044

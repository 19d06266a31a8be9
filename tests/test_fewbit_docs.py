"""docs/fewbit.md is generated from relukit.fewbit; `relukit fewbit` prints the tables."""

from __future__ import annotations

from pathlib import Path

from relukit import cli, fewbit, fewbit_docs

PAGE = Path(__file__).resolve().parents[1] / "docs" / "fewbit.md"


def test_page_is_current():
    assert PAGE.read_text() == fewbit_docs.page(), f"run: python -m relukit.fewbit_docs {PAGE}"


def test_page_lists_every_smooth_member_and_bits(tmp_path):
    page = fewbit_docs.page()
    for name in fewbit.smooth_members():
        assert f"\n## {name}\n" in page
        gelu3 = fewbit.fewbit_table(name, 3)
        assert f"**3 bits**: RMS error {gelu3.rms_error:.5f}" in page
    assert "\n## gelu (approximate=tanh)\n" in page
    target = tmp_path / "fewbit.md"
    assert fewbit_docs.update(target) and target.read_text() == page
    assert not fewbit_docs.update(target)


def test_cli_prints_tables(capsys):
    assert cli.main(["fewbit", "swish", "--bits", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("derivative table") == 2 and "silu() 1-bit" in out and "silu() 2-bit" in out
    assert out.startswith(fewbit.fewbit_table("silu", 1).format())
    assert cli.main(["fewbit", "elu", "--bits", "1", "--param", "alpha=0.5"]) == 0
    assert capsys.readouterr().out.startswith("elu(alpha=0.5) 1-bit")
    assert cli.main(["fewbit", "gelu", "--bits", "1", "--param", "approximate=tanh"]) == 0
    assert "gelu(approximate='tanh')" in capsys.readouterr().out


def test_cli_bad_input(capsys):
    assert cli.main(["fewbit", "relu"]) == 2
    assert "relukit fewbit: fewbit_table: relu is piecewise-linear" in capsys.readouterr().err
    assert cli.main(["fewbit", "gelu", "--bits", "9"]) == 2
    assert "bits must be in 1..8, got 9" in capsys.readouterr().err
    assert cli.main(["fewbit", "elu", "--param", "alpha"]) == 2
    assert "--param must be NAME=VALUE, got 'alpha'" in capsys.readouterr().err

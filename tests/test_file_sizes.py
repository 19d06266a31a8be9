"""No source file over 400 lines (the stubs that ``python -m relukit.stubs`` generates excepted): a file that
grows past it is split by responsibility, as catalog/parameters, bench/measure/present and csrc were."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LIMIT = 400
GENERATED = {".pyi"}  # written by relukit.stubs from the catalog, checked for staleness by test_stubs


def test_no_source_file_exceeds_the_limit():
    files = [p for p in SRC.rglob("*") if p.is_file() and p.suffix in {".py", ".cpp", ".h"}]
    assert len(files) > 50  # the scan sees the package, C++ sources included
    assert any(p.suffix == ".cpp" for p in files)
    lengths = {p.relative_to(SRC).as_posix(): len(p.read_text().splitlines()) for p in files}
    assert {path: n for path, n in lengths.items() if n > LIMIT} == {}
    assert not GENERATED & {p.suffix for p in files}

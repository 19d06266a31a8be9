"""docs/members.md: a section per member, its formula block generated from the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from relukit import catalog, docs

PAGE = Path(__file__).resolve().parents[1] / "docs" / "members.md"


def test_every_member_block_is_current():
    text = PAGE.read_text()
    blocks = docs.generated_blocks()
    assert len(blocks) == len(catalog.MEMBERS) + 2  # every member, KAF and KAF2D
    for marker, block in blocks.items():
        assert block in text, f"{marker}: run python -m relukit.docs --members {PAGE}"
    assert "### KAF\n" in text and "### KAF2D\n" in text


def test_update_members_rewrites_blocks_and_names_missing_sections(tmp_path):
    page = tmp_path / "members.md"
    page.write_text(
        PAGE.read_text().replace(
            docs.member_block(catalog.BY_NAME["elu"]), "<!-- member:elu:begin -->old<!-- member:elu:end -->"
        )
    )
    assert docs.update_members(page) and page.read_text() == PAGE.read_text()
    assert not docs.update_members(page)
    page.write_text("# nothing\n<!-- member:relu:begin --><!-- member:relu:end -->")
    with pytest.raises(ValueError, match="has no section for relu6, hardtanh"):
        docs.update_members(page)


def test_block_content():
    block = docs.member_block(catalog.BY_NAME["leaky_relu"])
    assert "$$f(x) = x \\text{ if } x \\ge 0 \\text{ else } s x$$" in block
    assert "`negative_slope=0.01`" in block and "`leaky`" in block and "1-bit derivative codes" in block

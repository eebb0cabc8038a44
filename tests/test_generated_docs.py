"""The docs generated from code and data (the check kinds) stay what their generators give:
`grokrepro docs --check` passes on the repository and names a block that was edited by hand."""

import shutil

import pytest

from conftest import ROOT
from grokrepro.cli import main
from grokrepro.docs_blocks import BLOCKS, stale_blocks


def repository_copy(tmp_path):
    """The parts of the repository the generators read and write: docs/ and specs/."""
    for name in ("docs", "specs"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def test_every_generated_block_is_up_to_date(capsys):
    assert main(["docs", "--check", "--root", str(ROOT)]) == 0, capsys.readouterr().err


# (page, text in its generated block, a hand edit of it, the block's name)
HAND_EDITS = [
    ("docs/check-kinds.md", "(float, 0.95)", "(float, 0.9)", "check-kinds"),
]


@pytest.mark.parametrize("page, generated, edited, block", HAND_EDITS, ids=[edit[3] for edit in HAND_EDITS])
def test_a_block_edited_by_hand_is_reported_stale_and_rewritten(tmp_path, capsys, page, generated, edited, block):
    root = repository_copy(tmp_path)
    path = root / page
    original = path.read_text()
    assert generated in original
    path.write_text(original.replace(generated, edited, 1))

    assert main(["docs", "--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"stale: {page}: {block}" in err
    assert err.count("stale: ") == 1, err

    assert main(["docs", "--write", "--root", str(root)]) == 0
    assert path.read_text() == original
    assert stale_blocks(root) == []


def test_every_block_names_a_page_in_the_repository():
    for block in BLOCKS:
        assert (ROOT / block.page).is_file(), block.page

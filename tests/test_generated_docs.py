"""The docs generated from code and data (the check kinds, verdict.json's fields and schema, the performance
tables) stay what their generators give: `grokrepro docs --check` passes on the repository and names a block
that was edited by hand."""

import json
import shutil

import pytest

from conftest import ROOT
from grokrepro.cli import main
from grokrepro.docs_blocks import BLOCKS, stale_blocks


def repository_copy(tmp_path):
    """The parts of the repository the generators read and write: docs/, specs/ and the benchmark results."""
    for name in ("docs", "specs", "benchmarks/results"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def test_every_generated_block_is_up_to_date(capsys):
    assert main(["docs", "--check", "--root", str(ROOT)]) == 0, capsys.readouterr().err


# (page, text in its generated block, a hand edit of it, the block's name)
HAND_EDITS = [
    ("docs/check-kinds.md", "(float, 0.95)", "(float, 0.9)", "check-kinds"),
    ("docs/data-contracts.md", "| `claim` | string | required |", "| `claim` | string | optional |",
     "verdict-schema"),
    ("docs/performance.md", "**10.9 h**", "**9.9 h**", "perf:step_profile"),
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


def test_a_new_benchmark_result_makes_its_table_stale(tmp_path, capsys):
    # the page follows the JSON the benchmark writes, not the other way round
    root = repository_copy(tmp_path)
    result = root / "benchmarks" / "results" / "step_profile_paper_after.json"
    profile = json.loads(result.read_text())
    profile["total_gpu_hours"] = 4.2
    result.write_text(json.dumps(profile))
    assert main(["docs", "--check", "--root", str(root)]) == 1
    assert "stale: docs/performance.md: perf:step_profile" in capsys.readouterr().err
    assert main(["docs", "--write", "--root", str(root)]) == 0
    assert "| **4.2 h** |" in (root / "docs" / "performance.md").read_text()


def test_a_page_that_lost_its_markers_is_reported(tmp_path, capsys):
    root = repository_copy(tmp_path)
    page = root / "docs" / "data-contracts.md"
    page.write_text(page.read_text().replace("<!-- verdict-schema:end -->", ""))
    assert main(["docs", "--check", "--root", str(root)]) == 1
    assert "docs/data-contracts.md: verdict-schema (the page or its markers are missing)" in capsys.readouterr().err
    assert main(["docs", "--write", "--root", str(root)]) == 2


def test_the_schema_file_is_the_verdict_models_json_schema():
    from grokrepro.claims.judgement import Verdict

    assert json.loads((ROOT / "docs" / "verdict.schema.json").read_text()) == Verdict.model_json_schema()


def test_every_field_of_verdict_json_is_described():
    from grokrepro.claims.judgement import CheckRecord, ControlRecord, Verdict

    for model in (Verdict, CheckRecord, ControlRecord):
        assert [name for name, field in model.model_fields.items() if not field.description] == [], model.__name__


def test_every_block_names_a_page_in_the_repository():
    for block in BLOCKS:
        assert (ROOT / block.page).is_file(), block.page


def test_json_types_read_as_a_researcher_would_write_them():
    from grokrepro.schema_table import json_type

    number = {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]}
    assert json_type({"anyOf": [{"items": number, "type": "array"}, {"type": "null"}]}) == \
        "array of (number or string or null) or null"
    assert json_type({"additionalProperties": {"type": "string"}, "type": "object"}) == "object of string"
    assert json_type({"additionalProperties": True, "type": "object"}) == "object"
    assert json_type({"enum": ["pass", "fail"], "type": "string"}) == "one of `pass`, `fail`"
    assert json_type({"$ref": "#/$defs/CheckRecord"}) == "CheckRecord"
    assert json_type({}) == "any"

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
    """The parts of the repository the generators read and write: the README, docs/, specs/ and the benchmark
    results."""
    for name in ("docs", "specs", "benchmarks/results"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def test_every_generated_block_is_up_to_date(capsys):
    assert main(["docs", "--check", "--root", str(ROOT)]) == 0, capsys.readouterr().err


# (page, text in its generated block, a hand edit of it, the block's name)
HAND_EDITS = [
    ("docs/check-kinds.md", "(float, 0.95)", "(float, 0.9)", "check-kinds"),
    ("docs/data-contracts.md", "| `claim` | string | required |", "| `claim` | string | optional |",
     "verdict-schema"),
    ("docs/performance.md", "**10.9 h**", "**9.9 h**", "perf:step_profile"),
    ("docs/performance.md", "| 1.48x |", "| 1.58x |", "perf:trainer_speed"),
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


def _published(tmp_path, scale="default"):
    """A published tree with two claims' verdicts, as the workflow writes them (the fields the record reads)."""
    checks = [{"name": "G1", "status": "pass", "passed": True, "value": 3.1, "threshold": 2.0, "interval": [2.5, 3.9],
               "counts_for_verdict": True},
              {"name": "G2", "status": "fail", "passed": False, "value": 0.4, "threshold": 1.0, "interval": None,
               "counts_for_verdict": True},
              {"name": "E1", "status": "pass", "passed": True, "value": 0.5, "threshold": 0.2, "interval": None,
               "counts_for_verdict": False}]
    for claim, verdict in (("grokking", "not_reproduced"), ("semi_grokking", "inconclusive")):
        folder = tmp_path / "paper" / claim
        folder.mkdir(parents=True)
        (folder / "verdict.json").write_text(json.dumps({
            "claim": claim, "scale": scale, "seed_set": "verdict", "verdict": verdict, "setting": "substitute",
            "reason": "r", "seeds": [200, 201], "n_runs": 4, "spec_sha256": "0" * 64, "runtime_s": 12.345,
            "git_commit": "f" * 40, "checks": checks}))
    return tmp_path / "paper"


def test_the_claims_table_is_the_recorded_default_verdicts(tmp_path, capsys):
    root = repository_copy(tmp_path / "repo")
    assert main(["docs", "--record", str(_published(tmp_path)), "--root", str(root)]) == 0
    record = json.loads((root / "docs" / "results" / "default.json").read_text())
    assert set(record["claims"]) == {"grokking", "semi_grokking"} and record["scale"] == "default"
    assert "git_commit" not in record["claims"]["grokking"]  # nothing of the code version or the host
    readme = (root / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `grokking` |"))
    assert row.endswith("| **not reproduced** (substitute setting): G2 fail; G1 pass |"), row  # E1 is shown only
    assert "| `lazy_to_rich` | Kumar et al. 2024 |" in readme
    assert next(line for line in readme.splitlines()
                if line.startswith("| `lazy_to_rich` |")).endswith("| not run at `default` yet |")
    results = (root / "docs" / "results" / "default.md").read_text()
    grokking = results.split("### [`grokking`](../claims/grokking.md): Power et al. 2022", 1)[1].split("###")[0]
    assert "**not reproduced** (substitute setting), 4 runs on verdict seeds 200, 201." in grokking
    assert "| G1 | yes | pass | 3.1 | 2 | 2.5–3.9 |" in grokking and "| E1 | shown | pass | 0.5 | 0.2 |  |" in grokking
    assert "### [`lazy_to_rich`](../claims/lazy_to_rich.md): Kumar et al. 2024\n\nNot run at `default` yet." in results
    assert main(["docs", "--check", "--root", str(root)]) == 0
    # a hand edit of a verdict in the README is stale against the record
    (root / "README.md").write_text(readme.replace("**not reproduced**", "**reproduced**", 1))
    assert main(["docs", "--check", "--root", str(root)]) == 1
    assert "stale: README.md: claims-table" in capsys.readouterr().err


def test_only_a_default_tree_is_recorded(tmp_path, capsys):
    root = repository_copy(tmp_path / "repo")
    assert main(["docs", "--record", str(_published(tmp_path, scale="smoke")), "--root", str(root)]) == 2
    assert "the record is of the default scale" in capsys.readouterr().err


def test_the_short_paper_names_the_first_author():
    from grokrepro.claims_table import short_paper

    assert short_paper("Power, Burda, Edwards 2022. Grokking: generalization. arXiv:2201.02177") == "Power et al. 2022"
    assert short_paper("Nanda 2023. Progress measures") == "Nanda 2023"

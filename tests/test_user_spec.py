"""A researcher's own experiment is a YAML file: written into specs/, it runs, is judged, drawn and reported
like the papers' claims, with no code change (issue: the declarative promise holds for everyone)."""

import json
import subprocess

import pytest

from conftest import USER_CLAIM, USER_SPEC, copy_workflow, write_user_spec

from grokrepro.figures import generic

pytestmark = pytest.mark.workflow


def test_paper_all_includes_a_users_spec_with_verdict_figures_and_report_section(smoke_run):
    claim_dir = smoke_run / "paper-smoke" / USER_CLAIM
    verdict = json.loads((claim_dir / "verdict.json").read_text())
    assert verdict["claim"] == USER_CLAIM and verdict["scale"] == "smoke"
    assert verdict["paper"].startswith("My lab notebook")
    check = verdict["checks"][0]
    assert check["name"] == "D1" and check["kind"] == "delayed_generalisation" and check["params"] == {}
    assert sorted(p.stem for p in claim_dir.glob("*.png")) == sorted(generic.FIGURES)
    html = (smoke_run / "paper-smoke/report.html").read_text()
    assert f'id="{USER_CLAIM}"' in html and "does weight decay set the grokking delay" in html
    assert USER_CLAIM in (smoke_run / "paper-smoke/all").read_text()


def test_one_user_claim_runs_alone(tmp_path):
    directory = write_user_spec(copy_workflow(tmp_path))
    done = subprocess.run(["snakemake", "-c2", f"paper-smoke/{USER_CLAIM}", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (directory / f"paper-smoke/{USER_CLAIM}/verdict.json").is_file()
    assert not (directory / "paper-smoke/grokking").exists()  # only what was asked for


def test_a_spec_outside_specs_runs_through_config(tmp_path):
    directory = copy_workflow(tmp_path / "wf")
    elsewhere = tmp_path / "mine" / "experiment.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(USER_SPEC)
    plan = subprocess.run(["snakemake", "-n", f"paper-smoke/{USER_CLAIM}", "--config", "scale=smoke",
                           f"specs={elsewhere}"], cwd=directory, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "rule train" in plan.stdout + plan.stderr


def test_two_specs_of_one_claim_name_stop_the_workflow(tmp_path):
    directory = write_user_spec(copy_workflow(tmp_path))
    (directory / "specs" / "copy.yaml").write_text(USER_SPEC)
    plan = subprocess.run(["snakemake", "-n", "paper-smoke/all", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=300)
    assert plan.returncode != 0
    assert f"field 'claim' = '{USER_CLAIM}'" in plan.stderr and "nothing was run" in plan.stderr

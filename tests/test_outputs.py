"""Outputs per scale and per claim: no run overwrites another's published results, a report can list chosen
claims, an invalid spec stops only the targets that need it, and claim names never collide with targets."""

import json
import subprocess

import pytest
import yaml

from conftest import USER_CLAIM, USER_SPEC, copy_workflow, write_user_spec
from grokrepro.cli import main
from grokrepro.outputs import config_of_published_dir, published_dir, wrong_tree_message
from grokrepro.report import write_report
from grokrepro.spec.discover import load_claims
from grokrepro.spec.load import SpecError


def snakemake(directory, *arguments, timeout=600):
    done = subprocess.run(["snakemake", "-c2", *arguments], cwd=directory, capture_output=True, text=True,
                          timeout=timeout)
    return done, done.stdout + done.stderr


def tree_bytes(directory):
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# --- where each scale and seed set publishes ---------------------------------------------------------------

@pytest.mark.parametrize("scale, seed_set, tree", [
    ("default", "verdict", "paper"), ("smoke", "verdict", "paper-smoke"), ("paper", "verdict", "paper-paper"),
    ("default", "development", "paper-development"), ("smoke", "development", "paper-smoke-development"),
])
def test_each_scale_and_seed_set_has_its_own_published_tree(scale, seed_set, tree):
    assert published_dir(scale, seed_set) == tree
    assert config_of_published_dir(tree) == {"scale": scale, "seed_set": seed_set}


def test_a_tree_no_run_publishes_in_is_named_as_such():
    assert config_of_published_dir("paper-huge") is None and config_of_published_dir("results") is None
    message = wrong_tree_message("paper", "all", "smoke", "verdict")
    assert message == ("grokrepro: scale=smoke publishes in paper-smoke/, not paper/: ask for paper-smoke/all "
                       "(paper/ is --config scale=default)")
    assert "\n" not in wrong_tree_message("paper-huge", "grokking", "default", "development")


# --- reserved claim names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["all", "report", "report.html"])
def test_a_claim_named_like_a_workflow_target_is_refused(tmp_path, name, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(USER_SPEC.replace(f"claim: {USER_CLAIM}", f"claim: {name}"))
    assert main(["validate", str(path)]) != 0
    assert f"spec.yaml: field 'claim' = '{name}'" in capsys.readouterr().err
    path.write_text(USER_SPEC.replace(f"claim: {USER_CLAIM}", "claim: all_runs"))  # a name that merely starts so
    assert main(["validate", str(path)]) == 0


def test_validate_names_the_reserved_claim_on_one_line(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(USER_SPEC.replace(f"claim: {USER_CLAIM}", "claim: report"))
    done = subprocess.run(["python", "-m", "grokrepro.cli", "validate", str(path)], capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "'report' is reserved" in done.stderr, done.stderr


# --- an invalid spec is left out, the others load --------------------------------------------------------

def write_draft(directory, text=None):
    """A draft beside the shipped specs whose task.prime is not a number."""
    path = directory / "my_draft.yaml"
    path.write_text(text or USER_SPEC.replace(f"claim: {USER_CLAIM}", "claim: my_draft")
                    .replace("prime: 31", "prime: thirty-one"))
    return path


def test_an_invalid_spec_is_left_out_with_file_and_field_and_the_others_load(tmp_path):
    (tmp_path / "mine.yaml").write_text(USER_SPEC)
    write_draft(tmp_path)
    (tmp_path / "nameless.yaml").write_text("paper: no claim field\n")
    user = yaml.safe_load(USER_SPEC)
    (tmp_path / "user_of_draft.yaml").write_text(yaml.safe_dump({**user, "claim": "uses", "uses_claims": ["my_draft"]}))
    specs, resolved, broken = load_claims(tmp_path, "", "smoke")
    assert list(specs) == list(resolved) == [USER_CLAIM]
    assert sorted(broken) == ["my_draft", "nameless", "uses"]
    assert broken["my_draft"].startswith(f"{tmp_path}/my_draft.yaml: field 'task.prime' = 'thirty-one'")
    assert broken["nameless"] == f"{tmp_path}/nameless.yaml: field 'claim' is missing; every spec names its claim"
    assert "field 'uses_claims'" in broken["uses"] and "my_draft cannot run" in broken["uses"]


def test_two_specs_of_one_claim_still_stop_everything(tmp_path):
    (tmp_path / "a.yaml").write_text(USER_SPEC)
    (tmp_path / "b.yaml").write_text(USER_SPEC)
    with pytest.raises(SpecError, match="already declares that claim"):
        load_claims(tmp_path, "", "smoke")


# --- a report of chosen claims -----------------------------------------------------------------------------

def test_a_report_of_chosen_claims_lists_only_them(tmp_path):
    from test_seed_sets import verdict_for

    claim_dir = verdict_for(tmp_path).parent  # a verdict of the `grokking` claim
    write_report([claim_dir], tmp_path / "all.html")
    write_report([claim_dir], tmp_path / "chosen.html", names=["grokking", "ungrokking"])
    every, chosen = (tmp_path / "all.html").read_text(), (tmp_path / "chosen.html").read_text()
    assert 'id="grokking"' in chosen and 'id="ungrokking"' in chosen and 'id="spectral_prediction"' not in chosen
    assert 'id="spectral_prediction"' in every  # unchosen: every paper's claim, implemented or not


# --- real Snakemake runs -----------------------------------------------------------------------------------

@pytest.mark.workflow
def test_a_smoke_run_leaves_the_default_scales_published_results_untouched(tmp_path):
    # The default scale, made as cheap as smoke in this copy only: the spec's `default` block is its `smoke`
    # one, so a real default-scale run publishes real files in paper/ within seconds.
    directory = copy_workflow(tmp_path)
    spec = yaml.safe_load(USER_SPEC)
    spec["scales"]["default"] = spec["scales"]["smoke"]
    (directory / "specs" / f"{USER_CLAIM}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    done, log = snakemake(directory, f"paper/{USER_CLAIM}")
    assert done.returncode == 0, log[-3000:]
    published = tree_bytes(directory / "paper")
    assert json.loads(published[f"{USER_CLAIM}/verdict.json"])["scale"] == "default"

    # The command that used to publish smoke results in paper/ now stops at once and names the right target.
    for target in ("paper/all", f"paper/{USER_CLAIM}"):
        done, log = snakemake(directory, target, "--config", "scale=smoke")
        assert done.returncode != 0
        assert (f"grokrepro: scale=smoke publishes in paper-smoke/, not paper/: ask for paper-smoke/"
                f"{target.split('/')[1]}") in log, log[-3000:]
    assert not (directory / "results/smoke").exists()

    done, log = snakemake(directory, f"paper-smoke/{USER_CLAIM}", "--config", "scale=smoke")
    assert done.returncode == 0, log[-3000:]
    smoke = json.loads((directory / f"paper-smoke/{USER_CLAIM}/verdict.json").read_text())
    assert smoke["scale"] == "smoke"  # a real smoke verdict, which would have shown if it had replaced paper/'s
    assert tree_bytes(directory / "paper") == published


@pytest.fixture(scope="module")
def with_draft(tmp_path_factory):
    """The shipped specs, the README's own experiment and an invalid draft beside them in specs/."""
    directory = write_user_spec(copy_workflow(tmp_path_factory.mktemp("draft")))
    write_draft(directory / "specs")
    return directory


DRAFT_ERROR = ("specs/my_draft.yaml: field 'task.prime' = 'thirty-one': Input should be a valid integer")


@pytest.mark.workflow
@pytest.mark.parametrize("target", ["paper-smoke/all", "paper-smoke/my_draft", "paper-smoke/report.html"])
def test_a_target_that_needs_an_invalid_spec_fails_before_any_job_naming_file_and_field(with_draft, target):
    done, log = snakemake(with_draft, target, "--config", "scale=smoke", "--dry-run")
    assert done.returncode != 0
    assert f"grokrepro: {target} needs claim my_draft, whose spec is invalid: {DRAFT_ERROR}" in log, log[-3000:]


@pytest.mark.workflow
def test_an_invalid_draft_spec_does_not_stop_another_claim(with_draft):
    done, log = snakemake(with_draft, f"paper-smoke/{USER_CLAIM}", "--config", "scale=smoke")
    assert done.returncode == 0, log[-3000:]
    assert f"grokrepro: invalid spec, left out: {DRAFT_ERROR}" in log  # said, even where not needed
    assert json.loads((with_draft / f"paper-smoke/{USER_CLAIM}/verdict.json").read_text())["claim"] == USER_CLAIM


@pytest.mark.workflow
def test_a_report_of_chosen_claims_builds_and_lists_only_them(with_draft):
    done, log = snakemake(with_draft, "paper-smoke/report.html", "--config", "scale=smoke",
                          f"claims={USER_CLAIM},spectral_prediction")
    assert done.returncode == 0, log[-3000:]  # the draft is not chosen, so it stops nothing
    html = (with_draft / "paper-smoke/report.html").read_text()
    assert f'id="{USER_CLAIM}"' in html and 'id="spectral_prediction"' in html
    assert 'id="grokking"' not in html and 'id="my_draft"' not in html
    built = sorted(p.name for p in (with_draft / "results/smoke").iterdir())
    assert built == sorted([USER_CLAIM, "spectral_prediction"])
    assert not (with_draft / "paper-smoke/all").exists()

    # paper/all stays every claim: with a choice it refuses; without one it would rebuild the report whole.
    done, log = snakemake(with_draft, "paper-smoke/all", "--config", "scale=smoke", "claims=spectral_prediction",
                          "-n")
    assert done.returncode != 0 and "paper-smoke/all is every claim" in log, log[-3000:]
    draft = (with_draft / "specs/my_draft.yaml")
    text = draft.read_text()
    draft.unlink()
    try:
        done, log = snakemake(with_draft, "paper-smoke/all", "--config", "scale=smoke", "-n")
    finally:
        draft.write_text(text)
    assert done.returncode == 0, log[-3000:]
    assert "rule report:" in log or "localrule report:" in log

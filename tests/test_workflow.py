"""Real Snakemake runs of the smoke DAG in a temporary copy of the workflow."""

import collections
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import copy_workflow

from grokrepro.claims.catalog import CLAIMS
from grokrepro.cluster import training_cost
from grokrepro.figures import figure_names, generic
from grokrepro.spec import expand_runs, load_spec, training_groups
from grokrepro.spec.discover import discover_specs

pytestmark = pytest.mark.workflow


def snakemake(directory, *arguments):
    return subprocess.run(["snakemake", "-c2", *arguments], cwd=directory, capture_output=True, text=True,
                          timeout=900)


def test_smoke_dag_builds_verdicts_figures_and_report(smoke_run):
    workflow_dir = smoke_run

    verdict = json.loads((workflow_dir / "paper-smoke/grokking/verdict.json").read_text())
    for key in ("claim", "paper", "scale", "verdict", "checks", "data", "spec_sha256", "git_commit", "runtime_s"):
        assert key in verdict
    assert verdict["scale"] == "smoke"
    assert verdict["verdict"] in ("reproduced", "not_reproduced", "inconclusive")
    assert {c["name"] for c in verdict["checks"]} == {"G1", "G2", "G3", "E1"}
    # E1 (early abort, beyond the paper) is shown but not counted; its smoke predictor stops every aborting run
    assert [c["counts_for_verdict"] for c in verdict["checks"]] == [True, True, True, False]
    assert verdict["n_aborted"] == 2
    spectral = json.loads((workflow_dir / "paper-smoke/spectral_prediction/verdict.json").read_text())
    assert [c["name"] for c in spectral["checks"]] == ["O1", "P1", "P2"]
    assert sorted(p.stem for p in (workflow_dir / "paper-smoke/spectral_prediction").glob("*.png")) == sorted(
        figure_names("spectral_prediction"))
    for check in verdict["checks"]:
        assert {"name", "statement", "value", "threshold", "passed"} <= set(check)
    with xr.open_dataset(workflow_dir / verdict["data"][0]) as curves:
        assert curves["test_acc"].dims == ("run", "step")
        assert "spec_json" in curves.attrs and "versions" in curves.attrs

    drawn = sorted(p.stem for p in (workflow_dir / "paper-smoke/grokking").glob("*.png"))
    assert drawn == sorted(figure_names("grokking"))
    assert {"accuracy_curves", "early_abort", "time_to_generalise", "weight_decay_data_need"} <= set(drawn) and set(generic.FIGURES) <= set(drawn)
    # a claim's figures are one job, and no job makes a dataset on its own
    logs = workflow_dir / "logs/smoke/grokking"
    assert (logs / "figures.log").is_file() and not (logs / "data").exists()
    # finished jobs leave no checkpoint behind, so a forced rerun trains instead of resuming at the last step
    assert list((workflow_dir / "results/smoke").glob("*/runs/*.nc"))
    assert not list((workflow_dir / "results/smoke").glob("*/checkpoints/*.pt*"))
    html = (workflow_dir / "paper-smoke/report.html").read_text()
    assert "data:image/png;base64," in html
    for claim in CLAIMS:
        assert f'id="{claim}"' in html
    implemented = {p.stem for p in (workflow_dir / "specs").glob("*.yaml")}
    assert html.count("not implemented") >= 2 * (len(CLAIMS) - len(implemented))
    for claim in implemented:
        assert json.loads((workflow_dir / f"paper-smoke/{claim}/verdict.json").read_text())["claim"] == claim
    assert any((workflow_dir / "logs/smoke/grokking/train").glob("*.log"))

    # Nothing to do the second time: outputs are complete and up to date.
    again = snakemake(workflow_dir, "paper-smoke/all", "--config", "scale=smoke", "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_warm_started_runs_begin_from_their_parents_weights(smoke_run):
    """Ungrokking's runs start from parents trained by their own rule: at step 0 each run's parameter norm is
    its parent's final norm (same seed), and critical_dataset_size's verdict records the curves it read."""
    results = smoke_run / "results/smoke"
    parents = sorted((results / "ungrokking/warm").glob("*.nc"))
    assert parents and all(p.with_suffix(".weights.pt").is_file() for p in parents)
    warm = xr.concat([xr.load_dataset(p) for p in parents], dim="run")
    with xr.open_dataset(results / "ungrokking/curves.nc") as runs:
        final = {int(seed): norm[np.isfinite(norm)][-1]
                 for seed, norm in zip(warm["seed"].values, warm["param_norm"].values)}
        for seed, norm in zip(runs["seed"].values, runs["param_norm"].values[:, 0]):
            assert norm == pytest.approx(final[int(seed)], rel=1e-6)
    verdict = json.loads((smoke_run / "paper-smoke/critical_dataset_size/verdict.json").read_text())
    assert verdict["data"] == ["results/smoke/critical_dataset_size/curves.nc", "results/smoke/ungrokking/curves.nc"]


def test_editing_a_threshold_recomputes_the_verdict_without_retraining(smoke_run, tmp_path):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_run, directory, symlinks=True)
    spec = directory / "specs/grokking.yaml"
    spec.write_text(spec.read_text().replace("min_delay_span: 3.0", "min_delay_span: 3.5"))
    plan = snakemake(directory, "paper-smoke/all", "--config", "scale=smoke", "--dry-run")
    text = plan.stdout + plan.stderr
    assert "rule verdict:" in text
    assert "rule train:" not in text and "rule dataset:" not in text


def test_changing_the_checkpoint_interval_retrains_nothing(smoke_run, tmp_path):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_run, directory, symlinks=True)
    spec = directory / "specs/grokking.yaml"
    text = spec.read_text()
    assert "log_points: 20, checkpoint_every: 100}" in text
    spec.write_text(text.replace("log_points: 20, checkpoint_every: 100}", "log_points: 20, checkpoint_every: 50}"))
    plan = snakemake(directory, "paper-smoke/all", "--config", "scale=smoke", "--dry-run")
    text = plan.stdout + plan.stderr
    assert plan.returncode == 0, text[-3000:]
    assert "rule train:" not in text and "rule dataset:" not in text


def started_jobs(directory):
    """(round, rule, first output) of every job of the directory's first Snakemake run, in the order they
    started; jobs of one scheduling round start together, in no particular order."""
    log = sorted((directory / ".snakemake/log").glob("*.snakemake.log"))[0].read_text()
    jobs = []
    for round_, selection in enumerate(log.split("Select jobs to execute...")[1:]):
        for block in re.split(r"\n(?=(?:local)?rule \w+:)", selection):
            rule, output = re.match(r"(?:local)?rule (\w+):", block), re.search(r"output: ([^\s,]+)", block)
            if rule:
                jobs.append((round_, rule.group(1), output.group(1) if output else None))
    return jobs


def test_long_training_groups_start_first_and_claims_finish_during_the_run(smoke_run):
    jobs = started_jobs(smoke_run)
    assert "train_warm_start" in {rule for round_, rule, _ in jobs if round_ == 0}  # its children wait for it
    groups = {claim: training_groups(expand_runs(load_spec(path, "smoke")))
              for claim, path in discover_specs(smoke_run / "specs", "").items()}
    # the groups that train from scratch are all ready at once: no group starts after a cheaper one did
    costs = collections.defaultdict(list)
    for round_, rule, output in jobs:
        runs = groups[output.split("/")[2]][Path(output).stem] if rule == "train" else []
        if runs and not any(run.warm_start for run in runs):
            costs[round_].append(training_cost(runs))
    rounds = sorted(costs)
    assert len(rounds) > 10
    assert all(min(costs[r]) >= max(costs[later]) for k, r in enumerate(rounds) for later in rounds[k + 1:])
    # a claim is judged, drawn and published as soon as its own groups are done, not after every claim's
    rules = [rule for _, rule, _ in jobs]
    last_train = max(k for k, rule in enumerate(rules) if rule == "train")
    assert rules.index("publish") < last_train


def test_one_core_gives_identical_curves(smoke_run, tmp_path):
    # Two claims, one of them warm-started from the other's parents, stand for the whole DAG: rerunning all
    # of it at -c1 doubled the suite's longest test for no extra evidence.
    directory = copy_workflow(tmp_path)
    done = subprocess.run(["snakemake", "-c1", "paper-smoke/grokking", "paper-smoke/ungrokking", "--config",
                           "scale=smoke"],
                          cwd=directory, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    one_core = sorted((directory / "results/smoke").glob("*/curves.nc"))
    assert {curves.parent.name for curves in one_core} == {"grokking", "ungrokking"}
    for curves in one_core:
        with xr.open_dataset(smoke_run / curves.relative_to(directory)) as two, xr.open_dataset(curves) as one:
            two, one = two.sortby("run"), one.sortby("run")
            for name in two.data_vars:
                np.testing.assert_array_equal(two[name].values, one[name].values, err_msg=f"{curves}: {name}")


def test_bad_spec_stops_snakemake_before_any_job(workflow_dir):
    spec = workflow_dir / "specs/grokking.yaml"
    spec.write_text(spec.read_text().replace("prime: 97", "prime: 96"))
    done = snakemake(workflow_dir, "paper-smoke/all", "--config", "scale=smoke")
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "specs/grokking.yaml" in message and "task.prime" in message and "96" in message
    assert not (workflow_dir / "results").exists()


def test_unimplemented_claim_target_says_so(workflow_dir):
    (workflow_dir / "specs" / "lazy_to_rich.yaml").unlink()  # a claim of the catalogue without a spec
    done = snakemake(workflow_dir, "paper-smoke/lazy_to_rich", "--config", "scale=smoke")
    assert done.returncode != 0
    assert "not implemented" in done.stdout + done.stderr

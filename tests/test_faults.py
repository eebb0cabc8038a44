"""Faults: a killed training job resumes bit for bit; a crashed write leaves nothing a later step accepts; a
diverged run is carried through the DAG into the report."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import copy_workflow

from grokrepro.figures import figure_names
from grokrepro.metrics.curves import IncompleteResultError, read_complete, write_atomic
from grokrepro.spec import expand_runs, load_spec, training_groups
from helpers import tiny_spec, write_spec

pytestmark = pytest.mark.workflow


def cli(*arguments, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "grokrepro.cli", *map(str, arguments)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture
def long_spec(tmp_path):
    raw = tiny_spec(train={"steps": 6000, "log_every": 50, "log_points": 10, "checkpoint_every": 300},
                    model={"kind": "mlp", "embed_dim": 16, "hidden": 64})
    path = write_spec(tmp_path, raw)
    spec = load_spec(path)
    group_id, runs = next(iter(training_groups(expand_runs(spec)).items()))
    for run in {r.dataset_id: r for r in runs}.values():
        assert cli("data", path, "--dataset", run.dataset_id, "--out", tmp_path / f"{run.dataset_id}.npz").wait() == 0
    return path, group_id


def train(path, group_id, tmp_path, name):
    return cli("train", path, "--group", group_id, "--data-dir", tmp_path, "--out", tmp_path / f"{name}.nc",
               "--checkpoint", tmp_path / f"{name}.pt", "--threads", "1", "--quiet")


def test_kill_9_then_rerun_matches_an_uninterrupted_run(tmp_path, long_spec):
    path, group_id = long_spec
    reference = train(path, group_id, tmp_path, "reference")
    assert reference.wait(timeout=600) == 0, reference.stderr.read()

    killed = train(path, group_id, tmp_path, "killed")
    checkpoint = tmp_path / "killed.pt"
    deadline = time.time() + 300
    while not (checkpoint.exists() and (tmp_path / "killed.pt.prev").exists()) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed.nc").exists()  # no output from a killed job

    resumed = train(path, group_id, tmp_path, "killed")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    with xr.open_dataset(tmp_path / "reference.nc") as a, xr.open_dataset(tmp_path / "killed.nc") as b:
        for name in ("train_loss", "test_loss", "train_acc", "test_acc", "param_norm"):
            np.testing.assert_array_equal(a[name].values, b[name].values)


def test_a_crash_while_writing_curves_leaves_nothing_accepted(tmp_path, monkeypatch):
    dataset = xr.Dataset({"train_loss": (("run", "step"), np.zeros((1, 3)))})

    def crash(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"CDF\x01 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", crash)
    target = tmp_path / "curves.nc"
    with pytest.raises(OSError):
        write_atomic(dataset, target)
    assert not target.exists()
    with pytest.raises(IncompleteResultError):
        read_complete(next(tmp_path.glob("curves.nc.*.partial")))


def test_a_diverged_run_flows_through_the_whole_dag_into_the_report(tmp_path):
    """One sweep value with an absurd learning rate: its runs diverge, the DAG still ends in a verdict and a report."""
    directory = copy_workflow(tmp_path)
    for spec in (directory / "specs").glob("*.yaml"):
        if spec.stem != "grokking":
            spec.unlink()
    path = directory / "specs/grokking.yaml"
    raw = yaml.safe_load(path.read_text())
    # Same shapes, so the diverging runs train in one vmapped group with the healthy ones.
    raw["scales"]["smoke"]["sweep"] = {"task.train_fraction": [0.5], "optimizer.lr": [1.0e-3, 1.0e30],
                                       "optimizer.weight_decay": [1.0], "train": [{"name": "full"}]}
    # G1 reads every run of the cut sweep, the diverging ones included; the others need axes it no longer sweeps
    # (validation refuses a check whose runs lack what it reads)
    raw["checks"] = [check for check in raw["checks"] if check["name"] == "G1"]
    raw["scales"]["smoke"]["checks"] = {}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))

    done = subprocess.run(["snakemake", "-c2", "paper-smoke/all", "--config", "scale=smoke"], cwd=directory,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    with xr.open_dataset(directory / "results/smoke/grokking/curves.nc") as curves:
        diverged = curves["diverged_at"].values >= 0
        assert diverged.tolist() == (curves["lr"].values > 1).tolist() and diverged.sum() == 2
        assert np.isfinite(curves["train_loss"].values[~diverged]).all()  # the healthy runs trained on
        for run in np.flatnonzero(diverged):  # frozen: nothing logged after the step it diverged at
            later = curves["step"].values > curves["diverged_at"].values[run]
            assert later.any() and np.isnan(curves["train_loss"].values[run, later]).all()

    verdict = json.loads((directory / "paper-smoke/grokking/verdict.json").read_text())
    assert verdict["n_diverged"] == 2 and verdict["verdict"] == "inconclusive"
    g1 = next(check for check in verdict["checks"] if check["name"] == "G1")
    assert g1["status"] == "inconclusive" and "2 of its runs diverged" in g1["detail"]
    html = (directory / "paper-smoke/report.html").read_text()
    assert "2 diverged" in html and "2 of its runs diverged" in html
    assert sorted(p.name for p in (directory / "paper-smoke/grokking").glob("*.png")) == [
        *(f"{name}.png" for name in sorted(figure_names("grokking")))]

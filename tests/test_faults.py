"""Faults: a killed training job resumes bit for bit; a crashed write leaves nothing a later step accepts."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from grokrepro.metrics.curves import IncompleteResultError, read_complete, write_atomic
from grokrepro.spec import expand_runs, load_spec, training_groups
from helpers import tiny_spec, write_spec


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
        read_complete(tmp_path / "curves.nc.partial")

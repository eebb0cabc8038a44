import json

import numpy as np
import pytest
import xarray as xr

from grokrepro.metrics.curves import (COMPLETE, IncompleteResultError, group_dataset, merge_groups,
                                      read_complete, write_atomic)
from grokrepro.spec import expand_runs
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from helpers import resolved, tiny_spec


@pytest.fixture(scope="module")
def trained():
    runs = expand_runs(resolved(tiny_spec()))
    by_wd = {}
    for run in runs:
        by_wd.setdefault(run.optimizer.weight_decay, []).append(run)
    out = []
    for members in by_wd.values():
        result = EnsembleTrainer(members, [make_dataset(r.task, r.split_seed) for r in members]).run(progress=False)
        out.append((result, members))
    return out


def test_netcdf_round_trip_with_plain_xarray(tmp_path, trained):
    result, runs = trained[0]
    write_atomic(group_dataset(result, runs, {"spec_sha256": "abc", "git_commit": "def"}), tmp_path / "g.nc")
    with xr.open_dataset(tmp_path / "g.nc") as ds:
        assert ds["train_loss"].dims == ("run", "step")
        for name in ("train_loss", "test_loss", "train_acc", "test_acc", "param_norm"):
            np.testing.assert_array_equal(ds[name].values, result.metrics[name])
        assert list(ds["seed"].values) == [r.seed for r in runs]
        assert ds.attrs[COMPLETE] == "yes" and ds.attrs["spec_sha256"] == "abc"
        assert json.loads(str(ds["config"].values[0]))["seed"] == runs[0].seed
        assert ds["train_acc"].attrs["units"] == "1"


def test_merge_keeps_hyperparameters_as_run_coordinates(tmp_path, trained):
    paths = []
    for k, (result, runs) in enumerate(trained):
        paths.append(tmp_path / f"g{k}.nc")
        write_atomic(group_dataset(result, runs, {}), paths[-1])
    merged = merge_groups(paths, {"claim": "tiny"})
    assert merged.sizes["run"] == 4
    assert sorted(set(merged["weight_decay"].values)) == [0.1, 1.0]
    assert merged.attrs["training_seconds"] > 0


def test_merge_gives_groups_trained_before_an_axis_was_swept_its_coordinate(tmp_path, trained):
    """A spec that starts sweeping train.steps (same value for the old grids) keeps their run ids, so their
    group files are reused without the new 'steps' coordinate; the merge takes every run's sweep coordinates
    from the spec it merges for."""
    paths = []
    for k, (result, runs) in enumerate(trained):
        paths.append(tmp_path / f"g{k}.nc")
        dataset = group_dataset(result, runs, {})
        write_atomic(dataset.assign_coords(steps=("run", [7] * len(runs))) if k else dataset, paths[-1])
    with pytest.raises(ValueError, match="steps"):
        merge_groups(paths, {})
    sweep_coords = {run.run_id: {**run.coords, "steps": 7} for _, runs in trained for run in runs}
    merged = merge_groups(paths, {}, sweep_coords)
    assert list(merged["steps"].values) == [7] * 4
    assert sorted(set(merged["weight_decay"].values)) == [0.1, 1.0]
    with pytest.raises(ValueError, match="not runs of the spec"):
        merge_groups(paths, {}, {run.run_id: run.coords for run in trained[0][1]})


def test_incomplete_files_are_refused(tmp_path, trained):
    result, runs = trained[0]
    dataset = group_dataset(result, runs, {})
    dataset.to_netcdf(tmp_path / "plain.nc")  # written without the completion mark
    with pytest.raises(IncompleteResultError, match="incomplete"):
        read_complete(tmp_path / "plain.nc")
    (tmp_path / "torn.nc").write_bytes(b"CDF\x01 torn")
    with pytest.raises(IncompleteResultError, match="not a readable|incomplete"):
        read_complete(tmp_path / "torn.nc")
    with pytest.raises(IncompleteResultError, match="no such"):
        read_complete(tmp_path / "missing.nc")


def test_merge_keeps_each_groups_training_provenance(tmp_path, trained):
    from grokrepro.claims.evaluate import trained_under

    paths = []
    for k, (result, runs) in enumerate(trained):
        paths.append(tmp_path / f"g{k}.nc")
        write_atomic(group_dataset(result, runs, {"spec_sha256": f"spec{k}", "git_commit": f"commit{k}",
                                                  "device": "cpu", "created": f"day{k}"}), paths[-1])
    merged = merge_groups(paths, {"spec_sha256": "merge-spec", "git_commit": "merge-commit"})
    write_atomic(merged, tmp_path / "curves.nc")
    curves = read_complete(tmp_path / "curves.nc")
    for k, (result, runs) in enumerate(trained):
        mine = curves["group"].values == f"g{k}"
        assert set(curves["training_spec_sha256"].values[mine]) == {f"spec{k}"}
        assert set(curves["training_git_commit"].values[mine]) == {f"commit{k}"}
    groups = json.loads(curves.attrs["group_provenance"])
    assert groups["g1"]["created"] == "day1" and groups["g0"]["spec_sha256"] == "spec0"
    assert groups["g0"]["wall_seconds"] > 0
    assert curves.attrs["spec_sha256"] == "merge-spec"  # the merge's own provenance stays beside them
    assert trained_under(curves, "spec_sha256") == "spec0, spec1"
    assert trained_under(curves, "git_commit") == "commit0, commit1"


def test_merging_keeps_strings_of_different_lengths(tmp_path):
    def group(name, values):
        dataset = xr.Dataset({"x": ("run", np.zeros(len(values)))},
                             coords={"run": [f"{name}{i}" for i in range(len(values))], "label": ("run", values)})
        write_atomic(dataset, tmp_path / f"{name}.nc")
        return tmp_path / f"{name}.nc"

    merged = merge_groups([group("a", ["full", "full"]), group("b", ["demo_abort"])], {})
    write_atomic(merged, tmp_path / "merged.nc")
    assert list(read_complete(tmp_path / "merged.nc")["label"].values) == ["full", "full", "demo_abort"]

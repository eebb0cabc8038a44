"""Curves as netCDF: dims (run, step), hyper-parameters as coordinates on `run`, provenance in attributes.

Files are written to a temporary name and renamed, and carry `grokrepro_complete = "yes"` only when whole,
so a crash never leaves a file that a downstream step accepts. Each also carries the sha256 of its content
(grokrepro.integrity), checked on every read: a value rewritten in place is refused, not judged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from grokrepro.integrity import CorruptFileError, partial_name, seal_netcdf, sha256_file, verify_dataset

COMPLETE = "grokrepro_complete"
# What the trainer itself logs; a probe's variables and units come from its registration (grokrepro/probes).
TRAINER_UNITS = {
    "train_loss": ("1", "training loss (the run's optimizer.loss) on the training set"),
    "test_loss": ("1", "the same loss on the held-out examples"),
    "train_acc": ("1", "accuracy on the training set"),
    "test_acc": ("1", "accuracy on the held-out examples"),
    "param_norm": ("1", "L2 norm of all parameters"),
    "zero_train_loss": ("1", "loss of the zero predictor on the training set"),
    "zero_test_loss": ("1", "loss of the zero predictor on the held-out examples"),
}


def units(name: str) -> tuple[str, str]:
    """(units, long name) of a logged variable; one no trainer metric or registered probe declares is an error."""
    from grokrepro.registry import PROBES

    known = {**TRAINER_UNITS, **PROBES.outputs()}
    if name not in known:
        raise ValueError(f"the curves variable {name!r} is neither a trainer metric nor a declared probe output")
    return known[name]


class IncompleteResultError(RuntimeError):
    pass


class CorruptResultError(IncompleteResultError):
    """A curves file that cannot be trusted: unreadable, not marked whole, or its content does not match its
    sha256. `path` names it, so that a caller can set it aside to be remade."""

    def __init__(self, message: str, path: str | Path):
        super().__init__(message)
        self.path = Path(path)


def group_dataset(result, runs, attrs: dict) -> xr.Dataset:
    """One trained group as a Dataset."""
    data_vars = {}
    for name, values in result.metrics.items():
        unit, long_name = units(name)
        data_vars[name] = (("run", "step"), values, {"units": unit, "long_name": long_name})
    data_vars["diverged_at"] = ("run", result.diverged_at.astype(np.int64),
                                {"long_name": "first step with a non-finite loss; -1 if none"})
    data_vars["stopped_at"] = ("run", np.asarray(result.stopped_at, dtype=np.int64),
                               {"long_name": "step of an early stop; -1 if the run used its whole budget"})
    data_vars["aborted_at"] = ("run", np.asarray(getattr(result, "aborted_at", np.full(len(runs), -1)), dtype=np.int64),
                               {"long_name": "step at which train.early_abort stopped a run predicted not to "
                                             "grok; -1 if it was not stopped so"})
    coords = {
        "run": ("run", [r.run_id for r in runs]),
        "step": ("step", result.steps.astype(np.int64), {"long_name": "optimiser updates", "units": "1"}),
        "seed": ("run", np.array([r.seed for r in runs], dtype=np.int64)),
        "split_seed": ("run", np.array([r.split_seed for r in runs], dtype=np.int64)),
        "lr": ("run", np.array([r.optimizer.lr for r in runs])),
        "weight_decay": ("run", np.array([r.optimizer.weight_decay for r in runs])),
        "budget_steps": ("run", np.array([r.train.steps for r in runs], dtype=np.int64)),
        "config": ("run", [json.dumps(r.resolved(), sort_keys=True) for r in runs]),
    }
    # The coordinates each model and task kind declares (init_scale, alpha, train_fraction, n_train, ...).
    from grokrepro.registry import MODELS, TASKS

    declared = [("model", field) for field in MODELS.coords()] + [("task", field) for field in TASKS.coords()]
    for section, field in declared:
        values = [getattr(getattr(r, section), field, None) for r in runs]
        if all(v is not None for v in values):  # a size given as a count has no fraction, and vice versa
            coords[field] = ("run", np.array(values))
    for axis in runs[0].coords:
        if axis not in coords:
            coords[axis] = ("run", np.array([r.coords[axis] for r in runs]))
    attrs = {**attrs, "wall_seconds": float(result.wall_seconds),
             "steps_per_second": float(result.steps_per_second), "Conventions": "CF-1.8"}
    return xr.Dataset(data_vars, coords, attrs)


def write_atomic(dataset: xr.Dataset, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(path)
    dataset = dataset.copy()
    dataset.attrs[COMPLETE] = "yes"
    dataset.to_netcdf(partial, engine="netcdf4")
    seal_netcdf(partial)
    os.replace(partial, path)


def read_complete(path: str | Path) -> xr.Dataset:
    """Open a curves file, refusing one that was not written whole."""
    path = Path(path)
    if not path.is_file():
        raise IncompleteResultError(f"{path}: no such curves file")
    try:
        dataset = xr.load_dataset(path, engine="netcdf4")
    except (OSError, ValueError, RuntimeError) as error:
        raise CorruptResultError(f"{path}: not a readable netCDF file ({error})", path) from None
    if dataset.attrs.get(COMPLETE) != "yes":
        raise CorruptResultError(f"{path}: incomplete (no '{COMPLETE}' mark); rerun the step that makes it", path)
    try:
        verify_dataset(dataset, path)
    except CorruptFileError as error:
        raise CorruptResultError(str(error), path) from None
    return dataset


# What each group recorded when it was trained; the merged file's own attributes describe the merge.
TRAINING_PROVENANCE = ("spec_sha256", "plugin_sha256", "git_commit", "git_dirty", "versions", "device", "host",
                       "platform", "host_details", "created",
                       "wall_seconds", "steps_per_second")


def _with_sweep_coords(group: xr.Dataset, sweep_coords: dict[str, dict] | None) -> xr.Dataset:
    if not sweep_coords:
        return group
    runs = [str(run) for run in group["run"].values]
    missing = [run for run in runs if run not in sweep_coords]
    if missing:
        raise ValueError(f"runs {missing} of a group file are not runs of the spec being merged for")
    axes = sorted({axis for run in runs for axis in sweep_coords[run]})
    return group.assign_coords({axis: ("run", np.array([sweep_coords[run][axis] for run in runs])) for axis in axes})


def _per_run(groups: list[xr.Dataset], values: list) -> np.ndarray:
    return np.concatenate([[value] * g.sizes["run"] for value, g in zip(values, groups)])


def merge_groups(paths: list[str | Path], attrs: dict, sweep_coords: dict[str, dict] | None = None) -> xr.Dataset:
    """Group files as one Dataset over all their runs. `sweep_coords` (run id -> sweep axis -> value, from the
    spec being merged for) sets the sweep coordinates of every run: a group trained before an axis was swept
    (say train.steps, added to every grid when one grid needed a longer budget) keeps its run ids and its file,
    but lacks that coordinate."""
    # The sha256 of each group file's bytes, taken before it is read: the verdict records them, and
    # `grokrepro check` compares the tree with them later.
    file_sha256 = {str(p): sha256_file(p) for p in paths if Path(p).is_file()}
    groups = [_with_sweep_coords(read_complete(p), sweep_coords) for p in paths]
    merged = xr.concat(groups, dim="run", join="outer", combine_attrs="drop",
                       data_vars="minimal", coords="minimal", compat="override")
    names = [Path(p).stem for p in paths]
    merged = merged.assign_coords(
        group=("run", _per_run(groups, names)),
        # The spec and code each run was trained under, which a later merge (say, after a threshold edit) keeps.
        training_spec_sha256=("run", _per_run(groups, [str(g.attrs.get("spec_sha256", "unknown")) for g in groups])),
        training_git_commit=("run", _per_run(groups, [str(g.attrs.get("git_commit", "unknown")) for g in groups])))
    # Each file remembers its own string width as an encoding; kept, the first file's width would truncate
    # longer strings of the others when the merge is written ('demo_full' -> 'demo', config JSON cut short).
    for variable in merged.variables.values():
        if variable.dtype.kind == "U":
            variable.encoding.pop("dtype", None)
    merged.attrs.update(attrs)
    merged.attrs["group_provenance"] = json.dumps(
        {name: {key: g.attrs[key] for key in TRAINING_PROVENANCE if key in g.attrs} for name, g in zip(names, groups)},
        sort_keys=True, default=lambda value: value.item() if hasattr(value, "item") else str(value))
    merged.attrs["group_sha256"] = json.dumps(file_sha256, sort_keys=True)
    merged.attrs["training_seconds"] = float(sum(g.attrs.get("wall_seconds", 0.0) for g in groups))
    merged.attrs["devices"] = ",".join(sorted({g.attrs.get("device", "?") for g in groups}))
    return merged

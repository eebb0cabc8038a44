"""From a resolved spec to runs, datasets and vmapped training groups, each named by a content hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any, Optional

from grokrepro.registry import MODELS, OPTIMIZERS, TASKS
from grokrepro.spec.load import axis_coordinate, set_path, sweep_points, warm_start_parent
from grokrepro.spec.schema import OptimizerSettings, ResolvedSpec, Train, validate_optimizer

# Optimizer fields that may differ between the runs of one vmapped group (they change values, not shapes); a
# model kind declares its own (MODELS.per_run), a transformation its own.
OPTIMIZER_PER_RUN = ("lr", "weight_decay", "linf_penalty")

# Fields that change how a run executes but not what it computes; run ids leave them out, so changing them
# retrains nothing. (log_every, log_points, probes and early_stop change the curves and stay in.)
EXECUTION_ONLY_FIELDS = {
    "train": ("checkpoint_every", "device", "max_group_size"),
}


def content_hash(obj: Any, length: int = 12) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def run_identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """What a run's results depend on: its resolved configuration without the execution-only fields."""
    identity = dict(resolved)
    for section, fields in EXECUTION_ONLY_FIELDS.items():
        identity[section] = {k: v for k, v in identity[section].items() if k not in fields}
    return identity


@dataclass(frozen=True)
class RunConfig:
    run_id: str
    seed: int
    task: Any
    model: Any
    optimizer: OptimizerSettings
    train: Train
    coords: dict[str, Any]  # the sweep values that distinguish this run, by short name
    # The run whose final weights this one starts from (trained by its own rule), or None: from scratch.
    warm_start: Optional["RunConfig"] = None

    @property
    def split_seed(self) -> int:
        return self.seed if self.task.split_seed == "run" else self.task.split_seed

    @property
    def dataset_id(self) -> str:
        task = self.task.model_dump()
        task["split_seed"] = self.split_seed
        return "d" + content_hash(task)

    @property
    def group_key(self) -> str:
        """Runs with equal keys share shapes and so can train in one vmapped process."""
        config = self.resolved()
        per_run = {"optimizer": OPTIMIZER_PER_RUN + OPTIMIZERS.per_run(self.optimizer.kind),
                   "model": MODELS.per_run(self.model.kind)}
        for section, fields in per_run.items():
            config[section] = {k: v for k, v in config[section].items() if k not in fields}
        if config["optimizer"].get("transforms"):
            config["optimizer"]["transforms"] = [_shape_settings(t) for t in config["optimizer"]["transforms"]]
        task = dict(config["task"])
        task.pop("split_seed")
        config["task"] = task
        config.pop("seed")
        if self.warm_start is not None:
            # Parents differ by seed; children of parents that share shapes still train together.
            config["warm_start"] = self.warm_start.group_key
        return content_hash(config)

    def resolved(self) -> dict[str, Any]:
        config = {
            "seed": self.seed,
            "task": self.task.model_dump(),
            "model": self.model.model_dump(),
            "optimizer": self.optimizer.model_dump(),
            "train": self.train.model_dump(),
        }
        if self.warm_start is not None:
            config["warm_start"] = self.warm_start.run_id
        return config


def _shape_settings(transform: dict) -> dict:
    """A transformation's settings less those that may differ between the runs of one group."""
    from grokrepro.train.optim import transform_class  # only specs that list transformations import torch

    per_run = transform_class(transform["kind"]).per_run
    return {k: v for k, v in transform.items() if k not in per_run}


def expand_runs(spec: ResolvedSpec, seed_set: str = "verdict") -> list[RunConfig]:
    """Every sweep point × every seed of `seed_set`, in a stable order. A point that overlapping grids
    repeat, or a repeated seed, is one run (the spec validator refuses one run under two coordinates)."""
    seeds = getattr(spec.seeds, seed_set)
    base = {s: getattr(spec, s).model_dump() for s in ("task", "model", "optimizer", "train")}
    runs, run_ids = [], set()
    for point in sweep_points(spec.sweep):
        config = base
        for axis, value in point.items():
            config = set_path(config, axis, value)
        coords = dict(axis_coordinate(axis, value) for axis, value in point.items())
        for seed in seeds:
            parent = None
            if spec.warm_start is not None:
                parent = _run_config(warm_start_parent(config, spec.warm_start.model_dump()), seed, {})
            run = _run_config(config, seed, coords, parent)
            if run.run_id not in run_ids:
                run_ids.add(run.run_id)
                runs.append(run)
    return runs


def _run_config(config: dict, seed: int, coords: dict, parent: Optional[RunConfig] = None) -> RunConfig:
    run = RunConfig(
        run_id="",
        seed=seed,
        task=TASKS.validate(config["task"]),
        model=MODELS.validate(config["model"]),
        optimizer=validate_optimizer(config["optimizer"]),
        train=Train.model_validate(config["train"]),
        coords=coords,
        warm_start=parent,
    )
    # Hashed after validation, so that 1 and 1.0 or an omitted default name the same run; a warm-started
    # run's identity includes its parent's.
    return replace(run, run_id="r" + content_hash(run_identity(run.resolved())))


def warm_start_runs(runs: list[RunConfig]) -> list[RunConfig]:
    """The distinct parents of `runs`, in first-seen order (children of one parent share it)."""
    parents: dict[str, RunConfig] = {}
    for run in runs:
        if run.warm_start is not None:
            parents.setdefault(run.warm_start.run_id, run.warm_start)
    return list(parents.values())


def training_groups(runs: list[RunConfig]) -> dict[str, list[RunConfig]]:
    """Group runs by shape, then split groups larger than train.max_group_size. Keys are group ids."""
    by_key: dict[str, list[RunConfig]] = {}
    for run in runs:
        by_key.setdefault(run.group_key, []).append(run)
    groups = {}
    for key, members in by_key.items():
        size = members[0].train.max_group_size
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            groups["g" + content_hash([r.run_id for r in chunk])] = chunk
    return groups


def datasets(runs: list[RunConfig]) -> dict[str, RunConfig]:
    """One representative run per distinct dataset id."""
    found: dict[str, RunConfig] = {}
    for run in runs:
        found.setdefault(run.dataset_id, run)
    return found

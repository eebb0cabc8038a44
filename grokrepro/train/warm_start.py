"""Warm starts: a parent group's final weights saved by one job, read back by the groups that start from them.

Weights files are sealed (grokrepro.integrity): a child never starts from weights whose bytes changed."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from grokrepro.integrity import CorruptFileError, partial_name, read_sealed, set_aside, write_sealed


def save_weights(final: dict, path: Path) -> None:
    """Write {"run_ids", "params"} under a temporary name first: a torn file is never taken for weights."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(path)
    write_sealed(final, partial)
    os.replace(partial, path)


def _read_weights(path: Path) -> dict:
    try:
        return read_sealed(path, weights_only=True)
    except CorruptFileError as error:
        # Set aside, the file is missing at the next run, and Snakemake retrains the parents that make it.
        aside = set_aside(path)
        raise CorruptFileError(f"warm-start weights {error}; moved to {aside.name}: run the workflow again to "
                               "retrain its parents") from None


def initial_params(runs, weight_files: list[Path]) -> dict[str, torch.Tensor]:
    """Each run's parent's final weights, stacked in the order of `runs`."""
    found: dict[str, tuple[dict, int]] = {}
    for path in weight_files:
        saved = _read_weights(path)
        for index, run_id in enumerate(saved["run_ids"]):
            found[run_id] = (saved["params"], index)
    missing = sorted({r.warm_start.run_id for r in runs if r.warm_start.run_id not in found})
    if missing:
        raise FileNotFoundError(f"no saved weights for warm-start parents {missing} in "
                                f"{[str(p) for p in weight_files]}")
    names = found[runs[0].warm_start.run_id][0].keys()
    return {name: torch.stack([found[r.warm_start.run_id][0][name][found[r.warm_start.run_id][1]] for r in runs])
            for name in names}

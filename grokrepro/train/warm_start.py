"""Warm starts: a parent group's final weights saved by one job, read back by the groups that start from them."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_weights(final: dict, path: Path) -> None:
    """Write {"run_ids", "params"} under a temporary name first: a torn file is never taken for weights."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(final, partial)
    os.replace(partial, path)


def initial_params(runs, weight_files: list[Path]) -> dict[str, torch.Tensor]:
    """Each run's parent's final weights, stacked in the order of `runs`."""
    found: dict[str, tuple[dict, int]] = {}
    for path in weight_files:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        for index, run_id in enumerate(saved["run_ids"]):
            found[run_id] = (saved["params"], index)
    missing = sorted({r.warm_start.run_id for r in runs if r.warm_start.run_id not in found})
    if missing:
        raise FileNotFoundError(f"no saved weights for warm-start parents {missing} in "
                                f"{[str(p) for p in weight_files]}")
    names = found[runs[0].warm_start.run_id][0].keys()
    return {name: torch.stack([found[r.warm_start.run_id][0][name][found[r.warm_start.run_id][1]] for r in runs])
            for name in names}

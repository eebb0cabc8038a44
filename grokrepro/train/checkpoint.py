"""Atomic checkpoints with one previous generation kept, so a corrupt newest file costs one interval."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch


def save_atomic(state: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    if path.exists():
        os.replace(path, previous(path))
    os.replace(partial, path)


def previous(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".prev")


def discard(path: Path) -> None:
    """Remove a finished job's checkpoints. They exist to resume a killed job; left behind, a forced rerun
    (`snakemake --forceall`, or after a code change) would resume at the last step instead of training."""
    for candidate in (Path(path), previous(path)):
        candidate.unlink(missing_ok=True)


def load_latest(path: Path, expected_runs: list[str]) -> dict | None:
    """The newest readable checkpoint of these runs, else None. Unreadable files are reported, not fatal."""
    for candidate in (Path(path), previous(path)):
        if not candidate.exists():
            continue
        try:
            state = torch.load(candidate, map_location="cpu", weights_only=False)
        except Exception as error:  # a torn or corrupt file: fall back to the previous generation
            print(f"grokrepro: checkpoint {candidate} is unreadable ({type(error).__name__}); "
                  "falling back", file=sys.stderr)
            continue
        if state.get("run_ids") != expected_runs:
            print(f"grokrepro: checkpoint {candidate} belongs to other runs; ignoring it", file=sys.stderr)
            continue
        return state
    return None

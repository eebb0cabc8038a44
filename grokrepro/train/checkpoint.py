"""Atomic checkpoints with one previous generation kept, so a corrupt newest file costs one interval.

Each file is sealed (grokrepro.integrity): its payload's sha256 is checked before it is loaded, so a flipped bit
is reported and the previous generation used, never resumed into curves marked complete."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grokrepro.integrity import CorruptFileError, partial_name, read_sealed, write_sealed


def save_atomic(state: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(path)
    write_sealed(state, partial)
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
    """The newest intact checkpoint of these runs, else None (training starts over). A corrupt or unreadable
    file is reported and skipped, never loaded."""
    for candidate in (Path(path), previous(path)):
        if not candidate.exists():
            continue
        try:
            # Not weights_only: a checkpoint holds numpy arrays and the optimiser's state besides tensors.
            state = read_sealed(candidate, weights_only=False)
        except CorruptFileError as error:
            print(f"grokrepro: checkpoint {error}; corrupt or unreadable, not resuming from it: falling back to the "
                  "previous one",
                  file=sys.stderr)
            continue
        except Exception as error:  # a torn file: fall back to the previous generation
            print(f"grokrepro: checkpoint {candidate} is unreadable ({type(error).__name__}); "
                  "falling back to the previous one", file=sys.stderr)
            continue
        if state.get("run_ids") != expected_runs:
            print(f"grokrepro: checkpoint {candidate} belongs to other runs; ignoring it", file=sys.stderr)
            continue
        print(f"grokrepro: resuming from {candidate} at step {state['step']} (sha256 checked)", file=sys.stderr)
        return state
    if Path(path).exists() or previous(path).exists():
        print(f"grokrepro: no intact checkpoint at {path}; training from step 0", file=sys.stderr)
    return None

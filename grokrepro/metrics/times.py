"""Event times read off logged curves, with the suite's one censoring rule: a run that never reaches a
threshold within its budget gets +inf, which ranks it later than any observed time."""

from __future__ import annotations

import numpy as np


def first_step_reaching(curves: np.ndarray, steps: np.ndarray, threshold: float) -> np.ndarray:
    """For each row of (run, step) curves, the first logged step with value >= threshold, else +inf."""
    reached = np.nan_to_num(np.asarray(curves, dtype=float), nan=-np.inf) >= threshold
    first = np.where(reached.any(axis=-1), np.asarray(steps)[reached.argmax(axis=-1)], np.inf)
    return first.astype(float)


def value_at_step(curves: np.ndarray, steps: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Each run's value at its own step `at` (NaN where `at` is not a logged step, e.g. +inf)."""
    steps = np.asarray(steps)
    out = np.full(len(at), np.nan)
    for i, step in enumerate(at):
        hit = np.nonzero(steps == step)[0]
        if hit.size:
            out[i] = curves[i, hit[0]]
    return out


def measured(curves, name: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of a sparsely logged quantity (a probe) of run k, where it was measured."""
    values = curves[name].values[k]
    keep = np.isfinite(values)
    return curves["step"].values[keep], values[keep]


def measured_at(curves, name: str, k: int, step: float) -> float:
    """A sparsely logged quantity of run k, interpolated at `step` (NaN past its last measurement)."""
    steps, values = measured(curves, name, k)
    if not np.isfinite(step) or len(steps) == 0 or step > steps[-1]:
        return float("nan")
    return float(np.interp(step, steps, values))

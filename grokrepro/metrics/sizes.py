"""Quantities read off runs at the end of their budget, and where a quantity crosses a level as dataset size
varies (Varma et al.'s critical dataset size, the ungrokking transition, the from-scratch boundary)."""

from __future__ import annotations

import numpy as np


def final_values(values: np.ndarray) -> np.ndarray:
    """Each run's last logged (finite) value; NaN for a run with none."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape[0], np.nan)
    for k, row in enumerate(values):
        finite = np.nonzero(np.isfinite(row))[0]
        if finite.size:
            out[k] = row[finite[-1]]
    return out


def tail_change(values: np.ndarray, steps: np.ndarray, tail_fraction: float) -> np.ndarray:
    """Relative range (max/min − 1) of each run's values over the last `tail_fraction` of its logged steps:
    how far from converged the run still is at the end of its budget."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape[0], np.nan)
    for k, row in enumerate(values):
        finite = np.nonzero(np.isfinite(row))[0]
        if finite.size < 2:
            continue
        last = steps[finite[-1]]
        tail = row[finite[steps[finite] >= last * (1 - tail_fraction)]]
        low, high = np.min(np.abs(tail)), np.max(np.abs(tail))
        out[k] = high / low - 1 if low > 0 else np.inf
    return out


def crossing(sizes: np.ndarray, values: np.ndarray, level: float) -> float:
    """The size at which `values` (ordered by ascending `sizes`) first rises through `level`, interpolated
    linearly in log size. -inf if already at or above the level at the smallest size, +inf if it never gets
    there, NaN if any value is missing."""
    sizes, values = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    if np.isnan(values).any() or len(values) == 0:
        return float("nan")
    if values[0] >= level:
        return float("-inf")
    above = np.nonzero(values >= level)[0]
    if above.size == 0:
        return float("inf")
    j = above[0]
    x0, x1 = np.log(sizes[j - 1]), np.log(sizes[j])
    y0, y1 = values[j - 1], values[j]
    return float(np.exp(x0 + (level - y0) / (y1 - y0) * (x1 - x0)))


def log_interpolate(sizes: np.ndarray, values: np.ndarray, at: float) -> float:
    """`values` at size `at`, linear in log size and log value (times and norms are positive); +inf values
    (censored times) make the result +inf where they are involved; NaN outside the sizes."""
    sizes, values = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    if not np.isfinite(at) or at < sizes[0] or at > sizes[-1]:
        return float("nan")
    j = int(np.clip(np.searchsorted(sizes, at), 1, len(sizes) - 1))
    y0, y1 = values[j - 1], values[j]
    if np.isinf(y0) or np.isinf(y1):
        return float("inf") if (at != sizes[j] or np.isinf(y1)) else float(y1)
    w = (np.log(at) - np.log(sizes[j - 1])) / (np.log(sizes[j]) - np.log(sizes[j - 1]))
    return float(np.exp((1 - w) * np.log(y0) + w * np.log(y1)))

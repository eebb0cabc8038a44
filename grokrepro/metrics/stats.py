"""Uncertainty over seeds: bootstrap intervals, and how often a check would pass on resampled seeds."""

from __future__ import annotations

from typing import Callable

import numpy as np

BOOTSTRAP_SAMPLES = 2000


def bootstrap(seed_values: np.ndarray, statistic: Callable[[np.ndarray], float],
              samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> np.ndarray:
    """Statistic recomputed on resamples of the seed axis (axis 0 of `seed_values`)."""
    seed_values = np.asarray(seed_values)
    rng = np.random.default_rng(seed)
    n = seed_values.shape[0]
    picks = rng.integers(0, n, size=(samples, n))
    return np.array([statistic(seed_values[p]) for p in picks], dtype=float)


def interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = np.asarray(draws, dtype=float)
    # inverted_cdf never interpolates, so censored (infinite) draws stay meaningful
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(low), float(high)


def rank(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank); +inf ranks above every finite value."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2
        start = end + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (NaN where either side is constant)."""
    rx, ry = rank(np.asarray(x, float)), rank(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])

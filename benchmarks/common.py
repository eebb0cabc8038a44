"""What the benchmark scripts share: the machine's matmul peak and a robust timing of a piece of work."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def matmul_peak(size: int = 4096, repeats: int = 5) -> float:
    """FLOP/s of the best of a few large fp32 matmuls: the ceiling every utilisation figure is stated against."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best


def median_rate(work: Callable[[], object], units: int, repeats: int) -> float:
    """Units per second of `work`, the median over `repeats` timings after one untimed warm-up, so that one
    burst of load from elsewhere on the machine does not decide a ratio."""
    work()
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        rates.append(units / (time.perf_counter() - began))
    return statistics.median(rates)

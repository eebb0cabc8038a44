"""What the benchmark scripts share: the machine's matmul peak and a robust timing of a piece of work."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer


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


def median_rates(works: dict[str, tuple[Callable[[], object], int]], repeats: int) -> dict[str, float]:
    """Units per second of each piece of work `{name: (work, units)}`: one untimed warm-up each, then
    `repeats` rounds that time every piece once, in turn, and the median per piece. Taking turns means a slow
    spell of the machine (shared hosts have them) lands on every side of a ratio alike."""
    for work, _ in works.values():
        work()
    rates: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, (work, units) in works.items():
            began = time.perf_counter()
            work()
            rates[name].append(units / (time.perf_counter() - began))
    return {name: statistics.median(values) for name, values in rates.items()}


def train_for(runs, steps: int, evaluate_every: int | None = None) -> None:
    """Train `runs` as one group for exactly `steps` steps: no early stop or abort, no probes, no checkpoints;
    a full evaluation every `evaluate_every` steps (default: only at the start and the end)."""
    runs = [r.__class__(**{**r.__dict__, "train": r.train.model_copy(update={
        "steps": steps, "log_every": evaluate_every or steps, "log_points": 0, "log_every_step_until": 0,
        "probes": [], "checkpoint_every": 10**9, "stop_rules": {}})}) for r in runs]
    EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)

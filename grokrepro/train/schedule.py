"""When to log: every `log_every` steps plus log-spaced points, so early fast events are resolved too, and
optionally every single step of an early window (for spectral features of the early curve)."""

import numpy as np


def log_steps(steps: int, log_every: int, log_points: int, every_step_until: int = 0) -> np.ndarray:
    dense = np.arange(0, steps + 1, log_every)
    spaced = np.unique(np.round(np.geomspace(1, steps, log_points)).astype(int)) if log_points else []
    early = np.arange(0, min(every_step_until, steps) + 1)
    return np.unique(np.concatenate([dense, spaced, early, [steps]]).astype(np.int64))

"""When to log: every `log_every` steps plus log-spaced points, so early fast events are resolved too."""

import numpy as np


def log_steps(steps: int, log_every: int, log_points: int) -> np.ndarray:
    dense = np.arange(0, steps + 1, log_every)
    spaced = np.unique(np.round(np.geomspace(1, steps, log_points)).astype(int)) if log_points else []
    return np.unique(np.concatenate([dense, spaced, [steps]]).astype(np.int64))

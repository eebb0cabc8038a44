"""Kumar et al. 2024's regression task: x ~ N(0, I/D), y = ½(β·x)², β ~ N(0, I_D)."""

from __future__ import annotations

import numpy as np

from grokrepro.tasks.algorithmic import Dataset


def gaussian_regression(task, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    beta = rng.standard_normal(task.dim)
    n = task.n_train + task.n_test
    inputs = rng.standard_normal((n, task.dim)) / np.sqrt(task.dim)
    labels = 0.5 * (inputs @ beta) ** 2
    return Dataset(inputs.astype(np.float32), labels.astype(np.float32), np.arange(task.n_train),
                   np.arange(task.n_train, n), 0, {"beta": beta.astype(np.float32)})

"""Kumar et al. 2024's regression task: x ~ N(0, I/D), y = ½(β·x)², β ~ N(0, I_D)."""

from __future__ import annotations

from typing import ClassVar, Literal, Union

import numpy as np
from pydantic import Field

from grokrepro.registry import TASKS, Strict
from grokrepro.tasks.dataset import Dataset, DatasetSize


class GaussianRegressionTask(Strict):
    """Kumar et al. 2024: x ~ N(0, I/D), y = ½(β·x)² with β ~ N(0, I_D); P training and n_test test points."""

    kind: Literal["gaussian_regression"]
    target: Literal["quadratic"] = "quadratic"
    dim: int = Field(gt=0)
    n_train: int = Field(gt=0)
    n_test: int = Field(default=1000, gt=0)
    # draws β and the points; "run" = the run's seed
    split_seed: Union[int, Literal["run"]] = "run"
    is_regression: ClassVar[bool] = True  # known before any data is made (a spec's early stop needs test accuracy)

    def size(self) -> DatasetSize:
        return DatasetSize(self.n_train + self.n_test, self.dim, token_inputs=False, field="task.n_train")


@TASKS.register("gaussian_regression", GaussianRegressionTask, coords=("n_train",))
def gaussian_regression(task: GaussianRegressionTask, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    beta = rng.standard_normal(task.dim)
    n = task.n_train + task.n_test
    inputs = rng.standard_normal((n, task.dim)) / np.sqrt(task.dim)
    labels = 0.5 * (inputs @ beta) ** 2
    return Dataset(inputs.astype(np.float32), labels.astype(np.float32), np.arange(task.n_train),
                   np.arange(task.n_train, n), 0, {"beta": beta.astype(np.float32)})

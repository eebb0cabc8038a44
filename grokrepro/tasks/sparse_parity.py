"""The (n, k)-sparse parity of Barak, Edelman, Goel, Kakade, Malach and Zhang 2022 ("Hidden progress in deep
learning: SGD learns parities near the computational limit").

What follows the paper: inputs x uniform in {±1}^n (here float32 vectors of ±1, the form the paper's MLPs read),
and the label is the parity χ_S(x) = ∏_{i∈S} x_i of a hidden set S of k of the n bits. S is drawn uniformly
from the split seed (the paper's S is unknown to the learner; a network whose initialisation treats every bit
alike learns any S equally well, and a drawn one keeps a position-dependent model from being favoured). S is kept
in the dataset's extras as `relevant_bits`, for probes that look for it in the weights.

Where it differs: the paper's main experiments train online (a fresh batch every step) with the hinge loss on
the ±1 label; here a fixed training set of n_train examples and n_test held-out ones (the finite-sample setting
in which the paper observes grokking), and two classes (class 0 for χ_S = +1, class 1 for χ_S = −1) so the
trainer's classification loss and accuracy apply.

The examples are distinct points of the cube, so no test input is also a training input. They are one seeded
sequence of points: the first n_test test, the next n_train train, so with one seed the test set and S are the
same for every n_train and a smaller training set is nested in a larger one (as the algorithmic tasks' are).
"""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
from pydantic import Field, model_serializer, model_validator

from grokrepro.registry import TASKS, drop_if_default
from grokrepro.tasks.dataset import Dataset, DatasetSize
from grokrepro.tasks.noise import LabelNoise, with_label_noise

MAX_BITS = 4096
MAX_EXAMPLES = 2**20
# the float32 inputs of one dataset stay under 512 MiB
MAX_INPUT_VALUES = 2**27


class SparseParityTask(LabelNoise):
    kind: Literal["sparse_parity"]
    n_bits: int = Field(ge=1, le=MAX_BITS)
    k: int = Field(ge=1)
    n_train: int = Field(gt=0, le=MAX_EXAMPLES)
    n_test: int = Field(default=1000, gt=0, le=MAX_EXAMPLES)
    # draws S and the points; "run": each run's own seed; an integer: every run shares that dataset
    split_seed: Union[int, Literal["run"]] = "run"

    @model_validator(mode="after")
    def _fits(self):
        if self.k > self.n_bits:
            raise ValueError(f"k = {self.k} bits cannot be chosen from n_bits = {self.n_bits}; need 1 <= k <= n_bits")
        n = self.n_train + self.n_test
        if n > min(2**self.n_bits, MAX_EXAMPLES):
            raise ValueError(f"n_train + n_test = {n} distinct examples: at most {min(2**self.n_bits, MAX_EXAMPLES)} "
                             f"(the cube {{±1}}^{self.n_bits} has {2**self.n_bits} points)")
        if n * self.n_bits > MAX_INPUT_VALUES:
            raise ValueError(f"(n_train + n_test) x n_bits = {n * self.n_bits} input values: at most "
                             f"{MAX_INPUT_VALUES} (512 MiB of float32)")
        return self

    def size(self) -> DatasetSize:
        return DatasetSize(self.n_train + self.n_test, self.n_bits, outputs=2, token_inputs=False,
                           field="task.n_train")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return drop_if_default(handler(self), {"label_noise": 0.0})


def distinct_points(rng: np.random.Generator, n: int, n_bits: int) -> np.ndarray:
    """(n, n_bits) 0/1 rows, the first n distinct ones of a stream of uniform draws: a prefix of the stream's
    points whatever n is (so that datasets of one seed are nested)."""
    block = max(1024, min(n, 65536))
    rows, seen = [], set()
    while len(rows) < n:
        draws = rng.integers(0, 2, (block, n_bits), dtype=np.uint8)
        for row, key in zip(draws, np.packbits(draws, axis=1)):
            key = key.tobytes()
            if key not in seen:
                seen.add(key)
                rows.append(row)
                if len(rows) == n:
                    break
    return np.stack(rows)


@TASKS.register("sparse_parity", SparseParityTask, coords=("n_bits", "k", "n_train"))
def sparse_parity(task: SparseParityTask, split_seed: int) -> Dataset:
    # streams of their own, so that S stays the same when the sizes change ([seed, 3] is the label noise's)
    relevant_bits = np.sort(np.random.default_rng([split_seed, 10]).choice(task.n_bits, task.k, replace=False))
    bits = distinct_points(np.random.default_rng([split_seed, 11]), task.n_test + task.n_train, task.n_bits)
    bits = np.concatenate([bits[task.n_test :], bits[: task.n_test]])  # training rows first
    inputs = (1 - 2 * bits.astype(np.float32))  # bit 1 is x = −1
    labels = (bits[:, relevant_bits].sum(axis=1) % 2).astype(np.int64)  # odd count of −1: χ_S = −1, class 1
    train_index = np.arange(task.n_train)
    test_index = np.arange(task.n_train, task.n_train + task.n_test)
    labels = with_label_noise(labels, train_index, 2, task.label_noise, split_seed)
    return Dataset(inputs, labels, train_index, test_index, 0, {"relevant_bits": relevant_bits.astype(np.int64)},
                   n_classes=2)

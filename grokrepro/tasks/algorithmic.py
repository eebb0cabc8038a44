"""Algorithmic datasets: binary operations on Z_p and on the symmetric group S_n (Power et al.), and
bitwise XOR (Liu et al.).

A dataset is every pair (a, b) the operation is defined on, labelled a∘b. Splits come from one seeded
permutation of the pairs, so a smaller training set drawn with the same seed is nested in a larger one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


def _modular_table(operation: str, p: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = (grid.ravel() for grid in np.meshgrid(np.arange(p), np.arange(p), indexing="ij"))
    if operation in ("x/y", "x/y if y odd else x-y"):
        inverse = np.array([pow(int(v), -1, p) if v else 0 for v in range(p)])
    if operation == "x/y":
        keep = b != 0
        a, b = a[keep], b[keep]
        labels = a * inverse[b] % p
    elif operation == "x/y if y odd else x-y":
        labels = np.where(b % 2 == 1, a * inverse[b], a - b) % p
    else:
        x, y = a.astype(np.int64), b.astype(np.int64)
        values = {
            "x+y": x + y,
            "x-y": x - y,
            "x^2+y^2": x**2 + y**2,
            "x^2+xy+y^2": x**2 + x * y + y**2,
            "x^2+xy+y^2+x": x**2 + x * y + y**2 + x,
            "x^3+xy": x**3 + x * y,
            "x^3+xy^2+y": x**3 + x * y**2 + y,
        }[operation]
        labels = values % p
    return np.stack([a, b], axis=1).astype(np.int64), labels.astype(np.int64)


def permutations(degree: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(degree)))


def _permutation_table(operation: str, degree: int) -> tuple[np.ndarray, np.ndarray]:
    elements = permutations(degree)
    index = {perm: i for i, perm in enumerate(elements)}

    def compose(x, y):  # (x·y)(i) = x(y(i))
        return tuple(x[y[i]] for i in range(degree))

    def inverse(x):
        inv = [0] * degree
        for i, xi in enumerate(x):
            inv[xi] = i
        return tuple(inv)

    combine = {
        "x*y": lambda x, y: compose(x, y),
        "x*y*x^-1": lambda x, y: compose(compose(x, y), inverse(x)),
        "x*y*x": lambda x, y: compose(compose(x, y), x),
    }[operation]
    pairs, labels = [], []
    for i, x in enumerate(elements):
        for j, y in enumerate(elements):
            pairs.append((i, j))
            labels.append(index[combine(x, y)])
    return np.array(pairs, dtype=np.int64), np.array(labels, dtype=np.int64)


@dataclass(frozen=True)
class Dataset:
    inputs: np.ndarray  # (n, 2) operand indices, or (n, dim) real inputs for regression
    labels: np.ndarray  # (n,) class indices, or real targets
    train_index: np.ndarray
    test_index: np.ndarray
    # classes (operands and labels range over [0, n_symbols)); for regression on operands (Mohamadi et al.'s
    # triples) the operands' range; 0 for regression on real inputs
    n_symbols: int
    extras: dict = field(default_factory=dict)  # task facts later steps need, e.g. a regression's β

    @property
    def is_regression(self) -> bool:
        # real-valued targets (class labels are integers)
        return self.n_symbols == 0 or np.issubdtype(np.asarray(self.labels).dtype, np.floating)

    def save(self, path) -> None:
        np.savez(path, inputs=self.inputs, labels=self.labels, train_index=self.train_index,
                 test_index=self.test_index, n_symbols=self.n_symbols,
                 **{f"extra_{k}": v for k, v in self.extras.items()})

    @classmethod
    def load(cls, path) -> "Dataset":
        with np.load(path) as f:
            extras = {k[len("extra_"):]: f[k] for k in f.files if k.startswith("extra_")}
            return cls(f["inputs"], f["labels"], f["train_index"], f["test_index"], int(f["n_symbols"]), extras)


def split(n_pairs: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n_train pairs of one seeded permutation train; the rest test. Nested across n_train."""
    if not 0 < n_train <= n_pairs:
        raise ValueError(f"a training set of {n_train} pairs does not fit in a table of {n_pairs}")
    order = np.random.default_rng(seed).permutation(n_pairs)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def training_size(task, n_pairs: int) -> int:
    if task.train_size is not None:
        return task.train_size
    if getattr(task, "train_size_exponent", None) is not None:
        return int(round(task.train_size_coefficient * task.prime ** task.train_size_exponent))
    return max(1, int(round(task.train_fraction * n_pairs)))


def random_labels(n_pairs: int, n_classes: int, seed: int) -> np.ndarray:
    # A stream separate from the split's permutation, so the split is the same with true or random labels.
    return np.random.default_rng([seed, 1]).integers(0, n_classes, n_pairs).astype(np.int64)


def triples(pairs: np.ndarray, labels: np.ndarray, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """Mohamadi et al.'s regression task: every (a, b, c), target p·1[a∘b = c] (float; §2 and its footnote 2: the
    zero predictor's loss is then p, and ‖θ‖∞ stays bounded)."""
    c = np.tile(np.arange(n_symbols), len(pairs))
    inputs = np.concatenate([np.repeat(pairs, n_symbols, axis=0), c[:, None]], axis=1)
    return inputs, n_symbols * (np.repeat(labels, n_symbols) == c).astype(np.float32)


def make_dataset(task, split_seed: int) -> Dataset:
    if task.kind == "gaussian_regression":
        from grokrepro.tasks.regression import gaussian_regression

        return gaussian_regression(task, split_seed)
    if task.kind == "modular":
        inputs, labels = _modular_table(task.operation, task.prime)
        if getattr(task, "pairs", "ordered") == "unordered":  # one example per unordered pair, a <= b
            keep = inputs[:, 0] <= inputs[:, 1]
            inputs, labels = inputs[keep], labels[keep]
        n_symbols = task.prime
    elif task.kind == "bitwise":
        n_symbols = 2**task.bits
        a, b = (grid.ravel() for grid in np.meshgrid(np.arange(n_symbols), np.arange(n_symbols), indexing="ij"))
        inputs, labels = np.stack([a, b], axis=1).astype(np.int64), (a ^ b).astype(np.int64)
    else:
        inputs, labels = _permutation_table(task.operation, task.degree)
        n_symbols = len(permutations(task.degree))
    if task.labels == "random":
        labels = random_labels(len(labels), n_symbols, split_seed)
    if getattr(task, "target", "classes") == "triples":
        inputs, labels = triples(inputs, labels, n_symbols)
    train_index, test_index = split(len(labels), training_size(task, len(labels)), split_seed)
    return Dataset(inputs, labels, train_index, test_index, n_symbols)

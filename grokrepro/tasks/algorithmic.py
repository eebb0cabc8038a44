"""Algorithmic datasets: binary operations on Z_p and on the symmetric group S_n (Power et al.), and
bitwise XOR (Liu et al.).

A dataset is every pair (a, b) the operation is defined on, labelled a∘b. Splits come from one seeded
permutation of the pairs, so a smaller training set drawn with the same seed is nested in a larger one.
"""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal, Optional, Union

import numpy as np
from pydantic import Field, field_validator, model_serializer, model_validator

from grokrepro.registry import TASKS, Strict, drop_if_default
from grokrepro.tasks.dataset import Dataset, DatasetSize
from grokrepro.tasks.noise import LabelNoise, with_label_noise

MODULAR_OPERATIONS = (
    "x+y",
    "x-y",
    "x*y",
    "x/y",
    "x/y if y odd else x-y",
    "x^2+y^2",
    "x^2+xy+y^2",
    "x^2+xy+y^2+x",
    "x^3+xy",
    "x^3+xy^2+y",
)
PERMUTATION_OPERATIONS = ("x*y", "x*y*x^-1", "x*y*x")
COMMUTATIVE_OPERATIONS = ("x+y", "x*y", "x^2+y^2", "x^2+xy+y^2")
# The coordinates a split task records on each run (those it has: a size is a fraction or a count).
SPLIT_COORDS = ("train_fraction", "train_size", "labels")


class SplitTask(LabelNoise):
    """A table of all operand pairs, split into training and test pairs.

    The training set is the first `train_size` pairs (or `train_fraction` of them) of one permutation drawn
    from the split seed, so with one seed a smaller training set is nested inside every larger one.
    """

    train_fraction: Optional[float] = Field(default=None, gt=0, le=1)
    train_size: Optional[int] = Field(default=None, gt=0)
    # ... or a count that grows with the prime: round(train_size_coefficient · p^train_size_exponent)
    # (Mohamadi et al.: n = 2p^{5/3} pairs, 2p^{2.25} triples), so that a sweep over primes keeps the rule.
    train_size_exponent: Optional[float] = Field(default=None, gt=0)
    train_size_coefficient: float = Field(default=1.0, gt=0)
    # "run": each run draws its own split from its seed; an integer: every run shares that split.
    split_seed: Union[int, Literal["run"]] = "run"
    # "random": every pair gets a label drawn at random (seeded by the split seed), so a network that fits
    # the training set can only memorise it (Varma et al.'s memorisation-only networks).
    labels: Literal["true", "random"] = "true"

    @model_validator(mode="after")
    def _one_size(self):
        given = [self.train_fraction, self.train_size, self.train_size_exponent]
        if sum(v is not None for v in given) != 1:
            raise ValueError("give exactly one of train_fraction and train_size (or train_size_exponent)")
        if self.train_size_exponent is not None and getattr(self, "kind", None) != "modular":
            raise ValueError("train_size_exponent scales with the prime: modular tasks only")
        return self


class _Table(SplitTask):
    """A split task over every pair of `n_symbols()` operands."""

    def size(self) -> DatasetSize:
        symbols, field = self.n_symbols(), f"task.{self.size_field}"
        if getattr(self, "target", "classes") == "triples":
            return DatasetSize(symbols**3, 3, symbols, field=field)
        return DatasetSize(symbols**2, 2, symbols, field=field)


class ModularTask(_Table):
    size_field: ClassVar[str] = "prime"
    kind: Literal["modular"] = "modular"
    operation: Literal[MODULAR_OPERATIONS]
    prime: int = Field(ge=2)
    # "classes": pairs (a, b) labelled a∘b (classification). "triples": Mohamadi et al.'s regression task,
    # every triple (a, b, c) with target p·1[a∘b = c], squared loss on the c-th output; sizes count triples.
    target: Literal["classes", "triples"] = "classes"
    # "unordered": a commutative operation's pairs (a, b) and (b, a) are one example, a <= b (Notsawo et al.:
    # p(p+1)/2 pairs), so no test pair is the mirror image of a training pair.
    pairs: Literal["ordered", "unordered"] = "ordered"

    @property
    def is_regression(self) -> bool:
        return self.target == "triples"

    def n_symbols(self) -> int:
        return self.prime

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return drop_if_default(handler(self), {"pairs": "ordered", "label_noise": 0.0})

    @model_validator(mode="after")
    def _unordered_needs_commutative(self):
        if self.pairs == "unordered" and self.operation not in COMMUTATIVE_OPERATIONS:
            raise ValueError(f"pairs: unordered needs a commutative operation ({', '.join(COMMUTATIVE_OPERATIONS)})")
        if self.pairs == "unordered" and self.target != "classes":
            raise ValueError("pairs: unordered applies to classification tasks only")
        if self.label_noise and self.target != "classes":
            raise ValueError("label_noise applies to classification tasks only")
        return self

    @field_validator("prime")
    @classmethod
    def _is_prime(cls, prime: int) -> int:
        if any(prime % d == 0 for d in range(2, int(prime**0.5) + 1)):
            raise ValueError(f"{prime} is not a prime")
        return prime


class PermutationTask(_Table):
    size_field: ClassVar[str] = "degree"
    kind: Literal["permutation"]
    operation: Literal[PERMUTATION_OPERATIONS]
    degree: int = Field(default=5, ge=2, le=6)

    def n_symbols(self) -> int:
        return len(permutations(self.degree))

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return drop_if_default(handler(self), {"label_noise": 0.0})


class BitwiseTask(_Table):
    """Bitwise operations on `bits`-bit integers (Liu et al. 2023 use 5-bit XOR)."""

    size_field: ClassVar[str] = "bits"
    kind: Literal["bitwise"]
    operation: Literal["xor"] = "xor"
    bits: int = Field(default=5, ge=1, le=8)

    def n_symbols(self) -> int:
        return 2**self.bits

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return drop_if_default(handler(self), {"label_noise": 0.0})


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
            "x*y": x * y,
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


def _split_dataset(task, inputs, labels, n_symbols: int, split_seed: int) -> Dataset:
    """The table split by the split seed, with random or noisy labels where the task asks for them."""
    if task.labels == "random":
        labels = random_labels(len(labels), n_symbols, split_seed)
    if getattr(task, "target", "classes") == "triples":
        inputs, labels = triples(inputs, labels, n_symbols)
    train_index, test_index = split(len(labels), training_size(task, len(labels)), split_seed)
    labels = with_label_noise(labels, train_index, n_symbols, task.label_noise, split_seed)
    return Dataset(inputs, labels, train_index, test_index, n_symbols)


@TASKS.register("modular", ModularTask, coords=SPLIT_COORDS)
def modular(task: ModularTask, split_seed: int) -> Dataset:
    inputs, labels = _modular_table(task.operation, task.prime)
    if task.pairs == "unordered":  # one example per unordered pair, a <= b
        keep = inputs[:, 0] <= inputs[:, 1]
        inputs, labels = inputs[keep], labels[keep]
    return _split_dataset(task, inputs, labels, task.prime, split_seed)


@TASKS.register("bitwise", BitwiseTask, coords=SPLIT_COORDS)
def bitwise(task: BitwiseTask, split_seed: int) -> Dataset:
    n_symbols = 2**task.bits
    a, b = (grid.ravel() for grid in np.meshgrid(np.arange(n_symbols), np.arange(n_symbols), indexing="ij"))
    inputs, labels = np.stack([a, b], axis=1).astype(np.int64), (a ^ b).astype(np.int64)
    return _split_dataset(task, inputs, labels, n_symbols, split_seed)


@TASKS.register("permutation", PermutationTask, coords=SPLIT_COORDS)
def permutation(task: PermutationTask, split_seed: int) -> Dataset:
    inputs, labels = _permutation_table(task.operation, task.degree)
    return _split_dataset(task, inputs, labels, len(permutations(task.degree)), split_seed)

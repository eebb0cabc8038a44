"""What a task makes: every example's inputs and label, and which examples train and which test."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DatasetSize:
    """What a task's settings say about its dataset before it is made (for the workflow's ceilings)."""

    examples: int
    columns: int  # of each input row
    n_symbols: int = 0  # operand vocabulary (token inputs)
    outputs: int | None = None  # classes, when not the operands
    token_inputs: bool = True
    field: str = "task"  # the setting that makes it this large, named in a refusal


@dataclass(frozen=True)
class Dataset:
    inputs: np.ndarray  # (n, 2) operand indices (integers: tokens), or (n, dim) real vectors
    labels: np.ndarray  # (n,) class indices, or real targets
    train_index: np.ndarray
    test_index: np.ndarray
    # classes (operands and labels range over [0, n_symbols)); for regression on operands (Mohamadi et al.'s
    # triples) the operands' range; 0 for regression on real inputs
    n_symbols: int
    extras: dict = field(default_factory=dict)  # task facts later steps need, e.g. a regression's β
    # the classes a classifier outputs, when they are not the n_symbols operands (a parity's 2)
    n_classes: int | None = None

    @property
    def is_regression(self) -> bool:
        # real-valued targets (class labels are integers): the one place this is decided
        return np.issubdtype(np.asarray(self.labels).dtype, np.floating)

    @property
    def token_inputs(self) -> bool:
        """Integer inputs are operand tokens (a model embeds them); real ones are vectors (it reads them)."""
        return np.issubdtype(np.asarray(self.inputs).dtype, np.integer)

    @property
    def outputs(self) -> int:
        """A classifier's number of classes (for regression: the operands' range, or 0 for real inputs)."""
        return self.n_symbols if self.n_classes is None else self.n_classes

    def save(self, path) -> None:
        sizes = {} if self.n_classes is None else {"n_classes": self.n_classes}
        np.savez(path, inputs=self.inputs, labels=self.labels, train_index=self.train_index,
                 test_index=self.test_index, n_symbols=self.n_symbols, **sizes,
                 **{f"extra_{k}": v for k, v in self.extras.items()})

    @classmethod
    def load(cls, path) -> "Dataset":
        with np.load(path) as f:
            extras = {k[len("extra_"):]: f[k] for k in f.files if k.startswith("extra_")}
            n_classes = int(f["n_classes"]) if "n_classes" in f.files else None
            return cls(f["inputs"], f["labels"], f["train_index"], f["test_index"], int(f["n_symbols"]), extras,
                       n_classes)



"""Label noise: a share of the training labels replaced by another class (Doshi et al.'s corrupted labels)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from grokrepro.registry import Strict


class LabelNoise(Strict):
    """Settings every classification task can take."""

    # This share of the training examples gets a label drawn uniformly from the other classes, fixed by the split
    # seed; test labels stay clean, so test accuracy still measures the true rule.
    label_noise: float = Field(default=0.0, ge=0, lt=1)


def with_label_noise(labels: np.ndarray, train_index: np.ndarray, n_classes: int, share: float,
                     split_seed: int) -> np.ndarray:
    """`labels` with round(share · n_train) training labels moved to a uniformly drawn other class."""
    if not share:
        return labels
    # a stream of its own ([seed, 3]), so the split and any random labels stay what they are without noise
    rng = np.random.default_rng([split_seed, 3])
    flipped = rng.choice(train_index, int(round(share * len(train_index))), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes
    return noisy

"""Probes: measurements of each run's network, beyond loss and accuracy, taken at some logged steps."""

from __future__ import annotations

import numpy as np
import torch

from grokrepro.metrics.lmn import linear_mapping_number


def probe_samples(dataset, seed: int, count: int) -> torch.Tensor:
    """`count` training pairs, the same for every step of a run (drawn with the run's seed)."""
    order = np.random.default_rng(seed).permutation(dataset.train_index)
    return torch.as_tensor(dataset.inputs[order[:count]])


def lmn(model, samples: torch.Tensor) -> float:
    if not hasattr(model, "first_hidden"):
        raise TypeError(f"the LMN probe needs a model with first_hidden/from_first_hidden, not {type(model).__name__}")
    with torch.no_grad():
        return linear_mapping_number(model.first_hidden(samples), model.from_first_hidden)


PROBES = {"lmn": lmn}

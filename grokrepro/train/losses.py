"""Training losses by name: `optimizer.loss` in a spec. Each takes outputs already in the run's loss dtype and
returns per-example losses (reduction "none") or their mean.

Register a new one with `@register_loss("name")`; it must accept (outputs, labels, reduction).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

LOSSES: dict[str, Callable] = {}


def register_loss(name: str):
    def register(function):
        LOSSES[name] = function
        return function

    return register


def loss_function(name: str) -> Callable:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r} (known: auto, {', '.join(sorted(LOSSES))})")
    return LOSSES[name]


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    return per_example.mean() if reduction == "mean" else per_example


@register_loss("cross_entropy")
def cross_entropy(outputs, labels, reduction="mean"):
    return F.cross_entropy(outputs, labels, reduction=reduction)


@register_loss("mse")
def squared_error(outputs, labels, reduction="mean"):
    """Elementwise squared error (a regression target per output), as the regression claims define it."""
    return _reduce((outputs - labels.to(outputs.dtype)) ** 2, reduction)


def log_stablemax(logits: torch.Tensor) -> torch.Tensor:
    """log of StableMax (Prieto et al. 2025): s(x) = x + 1 for x >= 0 and 1/(1 - x) below, normalised over the
    classes. s grows linearly rather than exponentially, so a confident prediction does not round the other
    classes' probabilities to exactly 0 (softmax collapse)."""
    s = torch.where(logits >= 0, logits + 1, 1 / (1 - torch.where(logits >= 0, torch.zeros_like(logits), logits)))
    return s.log() - s.sum(-1, keepdim=True).log()


@register_loss("stablemax_cross_entropy")
def stablemax_cross_entropy(outputs, labels, reduction="mean"):
    per_example = -log_stablemax(outputs).gather(-1, labels[..., None]).squeeze(-1)
    return _reduce(per_example, reduction)

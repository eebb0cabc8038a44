"""Nanda et al.'s (2023) progress measures: key frequencies, restricted loss and excluded loss of the logits of a
network on modular addition.

The grokked network computes logits L(a, b, c) ≈ Σ_k α_k cos(w_k (a + b − c)), w_k = 2πk/p, for a few *key
frequencies* k. For each output c that is a combination of the two functions cos(w_k (a + b)) and
sin(w_k (a + b)) of the input pair; the authors' `get_component_cos_xpy` / `get_component_sin_xpy` project each
output's column of logits (over the p² pairs) onto these two unit directions. With them:

- restricted logits: only the key frequencies' components, plus the input-independent term (the mean over
  pairs of each output; the authors' `bias_correction`), their loss on every pair (`test_logits(..., mode='all')`);
- excluded logits: the logits with the key frequencies' components removed, their loss on the training pairs
  (mode='train');
- a frequency's energy: the squared norm of the logits' components along its two directions, summed over
  outputs, on logits centred over pairs and over outputs (neither shift is a function of the pair that softmax
  reads); the share of the logits' variance in a set of frequencies is their energy over the total.

For x−y the directions are cos/sin(w_k (a − b)). Losses are in float64 (the authors' `cross_entropy_high_precision`
casts to float32, despite its name).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

# The sign of b in the argument of the directions an operation's algorithm uses.
_SIGN_OF_B = {"x+y": 1, "x-y": -1}


def supported(operation: str) -> bool:
    return operation in _SIGN_OF_B


def n_frequencies(prime: int) -> int:
    """The frequencies k = 1 .. (p−1)/2; k and p−k give the same directions."""
    return (prime - 1) // 2


def fourier_basis(prime: int) -> torch.Tensor:
    """The authors' orthonormal 1D Fourier basis over Z_p, one row per element: the constant, then cos and sin of
    w_k x for k = 1 .. (p−1)/2 (rows 2k−1 and 2k)."""
    x = torch.arange(prime, dtype=torch.float64)
    rows = [torch.ones(prime, dtype=torch.float64)]
    for k in range(1, n_frequencies(prime) + 1):
        rows += [torch.cos(2 * math.pi * k * x / prime), torch.sin(2 * math.pi * k * x / prime)]
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)


def sum_directions(prime: int, operation: str = "x+y") -> torch.Tensor:
    """(p², 2·(p−1)/2) unit columns over the pairs (a, b) in row-major order: cos(w_k(a ± b)) then sin(w_k(a ± b))
    for each k = 1 .. (p−1)/2, in that order (columns 2(k−1) and 2(k−1)+1). They are orthonormal for a prime p."""
    if operation not in _SIGN_OF_B:
        raise ValueError(f"no key-frequency directions defined for {operation!r}; known: {sorted(_SIGN_OF_B)}")
    a, b = torch.meshgrid(torch.arange(prime, dtype=torch.float64), torch.arange(prime, dtype=torch.float64),
                          indexing="ij")
    argument = (a + _SIGN_OF_B[operation] * b).flatten() * 2 * math.pi / prime
    columns = []
    for k in range(1, n_frequencies(prime) + 1):
        columns += [torch.cos(k * argument), torch.sin(k * argument)]
    directions = torch.stack(columns, dim=1)
    return directions / directions.norm(dim=0, keepdim=True)


def _coefficients(logits: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(..., p², p) logits -> (..., 2F, p) coefficients along each direction, per output."""
    return torch.einsum("nd,...nc->...dc", directions, logits.double())


def frequency_energy(logits: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(energy per frequency (..., F), total energy (...,)) of the logits centred over pairs and over outputs."""
    centred = logits.double()
    centred = centred - centred.mean(-2, keepdim=True)
    centred = centred - centred.mean(-1, keepdim=True)
    squared = _coefficients(centred, directions).pow(2).sum(-1)
    energy = squared.unflatten(-1, (-1, 2)).sum(-1)
    return energy, centred.pow(2).flatten(-2).sum(-1)


def key_frequencies(energy: torch.Tensor, count: int) -> torch.Tensor:
    """The `count` frequencies (1-based k) with the most energy, strongest first: (..., count)."""
    if count > energy.shape[-1]:
        raise ValueError(f"{count} key frequencies asked of logits with {energy.shape[-1]} frequencies")
    return energy.topk(count, dim=-1).indices + 1


def frequencies_for_share(energy: torch.Tensor, total: torch.Tensor, share: float) -> torch.Tensor:
    """The smallest number of frequencies whose energy is >= `share` of the total (+inf where all of them are
    not: the logits have that much variance outside every frequency's directions)."""
    cumulative = energy.sort(dim=-1, descending=True).values.cumsum(-1) / total.clamp_min(1e-300)[..., None]
    reached = cumulative >= share
    count = reached.double().argmax(-1).double() + 1
    return torch.where(reached.any(-1), count, torch.full_like(count, math.inf))


def _key_columns(keys: torch.Tensor) -> torch.Tensor:
    """The direction columns (cos, sin) of 1-based frequencies: (..., 2·count)."""
    return torch.stack([2 * (keys - 1), 2 * (keys - 1) + 1], dim=-1).flatten(-2)


def key_components(logits: torch.Tensor, directions: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """The logits' projection onto the key frequencies' directions (the sum of the authors'
    get_component_cos_xpy and get_component_sin_xpy over the keys), per leading index: (..., p², p)."""
    chosen = directions[:, _key_columns(keys)]  # (p², ..., 2·count)
    chosen = chosen.movedim(0, -2)  # (..., p², 2·count)
    return chosen @ (chosen.transpose(-1, -2) @ logits.double())


def restricted_logits(logits: torch.Tensor, directions: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Only the key frequencies' components, plus each output's mean over the pairs (the constant term)."""
    return logits.double().mean(-2, keepdim=True) + key_components(logits, directions, keys)


def excluded_logits(logits: torch.Tensor, directions: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """The logits with the key frequencies' components removed."""
    return logits.double() - key_components(logits, directions, keys)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in float64 over the last-but-one axis: (..., n, p) logits, (n,) labels -> (...,)."""
    logprobs = F.log_softmax(logits.double(), dim=-1)
    return -logprobs.gather(-1, labels.expand(*logprobs.shape[:-1])[..., None]).squeeze(-1).mean(-1)

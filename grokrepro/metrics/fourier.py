"""How much of a modular-arithmetic network's logits lies in the trigonometric subspace of its algorithm.

A network that implements x+y mod p by Nanda et al.'s Fourier algorithm has logits
L(a, b, c) = Σ_k A_k cos(ω_k (a + b − c) + φ_k): over the (a, b, c) cube its discrete Fourier transform lives
on the frequencies (k, k, −k). A memorising network spreads over all frequencies. Varma et al. certify their
generalisation-only networks by the share of logit norm in that subspace (> 95 %): the norm of the logits'
projection onto it over the norm of the logits, i.e. the square root of the share of their squared norm.
"""

from __future__ import annotations

import torch

# The frequency triples (k_a, k_b, k_c) an operation's Fourier algorithm occupies, as signs of k.
_SUPPORT_SIGNS = {"x+y": (1, 1, -1), "x-y": (1, -1, -1)}


def supported(operation: str) -> bool:
    return operation in _SUPPORT_SIGNS


def trigonometric_share(logits: torch.Tensor, prime: int, operation: str = "x+y") -> torch.Tensor:
    """‖projection onto the operation's frequencies‖ / ‖logits‖, for logits of shape (..., p*p, p) listing
    every pair (a, b) in row-major order. Logits are first centred over the output class, because softmax
    ignores a shift per pair. (Parseval: the projection's norm is read off the Fourier coefficients.)"""
    if operation not in _SUPPORT_SIGNS:
        raise ValueError(f"no trigonometric subspace defined for {operation!r}; known: {sorted(_SUPPORT_SIGNS)}")
    p = prime
    cube = logits.double().reshape(*logits.shape[:-2], p, p, p)
    cube = cube - cube.mean(-1, keepdim=True)
    energy = torch.fft.fftn(cube, dim=(-3, -2, -1)).abs().pow(2)
    k = torch.arange(1, p, device=logits.device)
    sa, sb, sc = _SUPPORT_SIGNS[operation]
    on_support = energy[..., (sa * k) % p, (sb * k) % p, (sc * k) % p].sum(-1)
    total = energy.flatten(-3).sum(-1)
    return (on_support / total.clamp_min(1e-300)).sqrt()

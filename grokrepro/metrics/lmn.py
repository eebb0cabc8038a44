"""Linear mapping number (Liu, Zhong, Tegmark 2023).

For samples h_1..h_M in some layer and the map g from that layer to the logits: interpolate every pair at
21 points, h(λ) = h_i + λ(h_j − h_i); the linear connectivity L_ij is the mean over logits k of the squared
Pearson correlation between λ and g_k(h(λ)) (L_ii = 1). With λ̃ the eigenvalues of L, |λ| normalised to sum 1,
S = −Σ λ̃ log2 λ̃ and LMN = 2^S: 1 for a linear map, c for c separate linear pieces.
"""

from __future__ import annotations

from typing import Callable

import torch

LAMBDAS = torch.linspace(0, 1, 21)


def connectivity(samples: torch.Tensor, to_logits: Callable[[torch.Tensor], torch.Tensor],
                 lambdas: torch.Tensor = LAMBDAS, pair_chunk: int = 4096) -> torch.Tensor:
    """The (M, M) linear-connectivity matrix, all pairs through `to_logits` in batched forward passes."""
    m = samples.shape[0]
    lambdas = lambdas.to(samples)
    i, j = torch.triu_indices(m, m, offset=1)
    centred_lambda = lambdas - lambdas.mean()
    values = []
    for start in range(0, len(i), pair_chunk):
        a, b = samples[i[start : start + pair_chunk]], samples[j[start : start + pair_chunk]]
        path = a[:, None, :] + lambdas[None, :, None] * (b - a)[:, None, :]  # (pairs, 21, width)
        out = to_logits(path.flatten(0, 1)).view(path.shape[0], len(lambdas), -1)
        centred = out - out.mean(dim=1, keepdim=True)
        covariance = (centred * centred_lambda[None, :, None]).sum(1)
        variance = centred.pow(2).sum(1)
        # An output constant along the path has no defined correlation; count it as perfectly linear.
        r2 = torch.where(variance > 0, covariance.pow(2) / (variance * centred_lambda.pow(2).sum()).clamp_min(1e-30),
                         torch.ones_like(variance))
        values.append(r2.mean(dim=1))
    matrix = torch.eye(m, dtype=samples.dtype, device=samples.device)
    if values:
        upper = torch.cat(values)
        matrix[i, j] = upper
        matrix[j, i] = upper
    return matrix


def mapping_number(matrix: torch.Tensor) -> float:
    """2^entropy of the normalised absolute eigenvalues of a symmetric connectivity matrix."""
    eigenvalues = torch.linalg.eigvalsh(matrix.double()).abs()
    weights = eigenvalues / eigenvalues.sum()
    weights = weights[weights > 0]
    entropy = -(weights * torch.log2(weights)).sum()
    return float(2**entropy)


def linear_mapping_number(samples: torch.Tensor, to_logits: Callable[[torch.Tensor], torch.Tensor]) -> float:
    with torch.no_grad():
        return mapping_number(connectivity(samples, to_logits))

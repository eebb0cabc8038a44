"""Kumar et al.'s lazy quadratic network on Gaussian data: sufficient statistics and the exact population loss.

With x ~ N(0, I/D), y = ½(β·x)², f = α w̄·x + (αε/2) xᵀMx (w̄ = mean of the w_i, M = mean of w_i w_iᵀ; for
the centred model both minus their values at θ₀), the population loss E[(f − y)²] is exactly
  variance error ¼(|β|²/D − (αε/D) Tr M)²  +  misalignment (1/(2D²))‖αεM − ββᵀ‖²_F  +  linear power (α²/D)|w̄|².
"""

from __future__ import annotations

import torch


def lazy_quadratic_terms(weight, initial_weight, alpha, epsilon, beta, centred: bool = True) -> dict[str, torch.Tensor]:
    """All arguments carry a leading run axis: weight (R, N, D), alpha (R,), beta (R, D)."""
    width, dim = weight.shape[-2:]
    weight, beta = weight.double(), beta.double()
    alpha, epsilon = alpha.double(), epsilon.double()
    mean_w = weight.mean(-2)
    second = weight.transpose(-1, -2) @ weight / width
    if centred:
        initial = initial_weight.double()
        mean_w = mean_w - initial.mean(-2)
        second = second - initial.transpose(-1, -2) @ initial / width
    trace = second.diagonal(dim1=-2, dim2=-1).sum(-1)
    beta_sq = (beta * beta).sum(-1)
    scaled = (alpha * epsilon)[:, None, None] * second - beta[:, :, None] * beta[:, None, :]
    variance = 0.25 * (beta_sq / dim - alpha * epsilon * trace / dim) ** 2
    misalignment = scaled.pow(2).sum((-1, -2)) / (2 * dim**2)
    linear = alpha**2 * mean_w.pow(2).sum(-1) / dim
    return {"variance_error": variance, "misalignment": misalignment, "linear_power": linear,
            "population_loss": variance + misalignment + linear, "trace_m": trace,
            "mean_weight_norm": mean_w.norm(dim=-1)}

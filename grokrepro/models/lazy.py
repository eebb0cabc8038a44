"""Kumar et al. 2024's two-layer network whose output scale α sets how lazily it trains."""

from __future__ import annotations

import torch
from torch import nn


class LazyQuadratic(nn.Module):
    """f(x) = α · mean_i φ(w_i·x), φ(h) = h + (ε/2)h², readouts fixed to 1.

    α and ε are buffers rather than constructor constants so that runs differing only in them share one
    vmapped process. With `centred`, the output is α[f(θ) − f(θ₀)] and starts at exactly zero.
    """

    def __init__(self, input_dim: int, width: int, alpha: float = 1.0, epsilon: float = 0.0, centred: bool = True):
        super().__init__()
        self.centred = centred
        self.weight = nn.Parameter(torch.randn(width, input_dim))
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.register_buffer("epsilon", torch.tensor(float(epsilon)))
        self.register_buffer("initial_weight", self.weight.detach().clone())

    def remember_initial(self) -> None:
        """Take the current weights as θ₀ (after any rescaling of the initialisation)."""
        self.initial_weight.copy_(self.weight.detach())

    def unscaled(self, weight: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        h = inputs @ weight.T
        return (h + 0.5 * self.epsilon * h * h).mean(-1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.unscaled(self.weight, inputs)
        if self.centred:
            out = out - self.unscaled(self.initial_weight, inputs)
        return self.alpha * out

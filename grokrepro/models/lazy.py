"""Kumar et al. 2024's two-layer network whose output scale α sets how lazily it trains."""

from __future__ import annotations

import torch
from torch import nn


class LazyQuadratic(nn.Module):
    """f(x) = α · mean_i φ(w_i·x), φ(h) = h + (ε/2)h², readouts fixed to 1.

    α and ε are buffers rather than constructor constants so that runs differing only in them share one
    vmapped process. With `centred`, the output is α[f(θ) − f(θ₀)] and starts at exactly zero.

    `form="gram"` computes the same function through its sufficient statistics: mean_i φ(w_i·x) =
    w̄·x + (ε/2N) xᵀWᵀWx, so a step costs O(N D² + P D²) instead of O(P D N) (5x less at Fig. 1's D 100, N 500,
    P 550). Centred, it uses WᵀW − W₀ᵀW₀ = ΔᵀS with Δ = W − W₀, S = W + W₀ (xᵀΔᵀSx is that quadratic form), so
    the difference is never taken between two large Gram matrices. It rounds differently from the feature form.
    """

    def __init__(self, input_dim: int, width: int, alpha: float = 1.0, epsilon: float = 0.0, centred: bool = True,
                 form: str = "features"):
        super().__init__()
        if form not in ("features", "gram"):
            raise ValueError(f"form must be 'features' or 'gram', not {form!r}")
        self.centred = centred
        self.form = form
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

    def through_gram(self, inputs: torch.Tensor) -> torch.Tensor:
        width = self.weight.shape[0]
        if self.centred:
            step = self.weight - self.initial_weight
            linear, gram = step.mean(0), step.T @ (self.weight + self.initial_weight)
        else:
            linear, gram = self.weight.mean(0), self.weight.T @ self.weight
        quadratic = ((inputs @ gram) * inputs).sum(-1)
        return self.alpha * (inputs @ linear + (0.5 / width) * self.epsilon * quadratic)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.form == "gram":
            return self.through_gram(inputs)
        out = self.unscaled(self.weight, inputs)
        if self.centred:
            out = out - self.unscaled(self.initial_weight, inputs)
        return self.alpha * out

    def ntk(self, inputs_a: torch.Tensor, inputs_b: torch.Tensor | None = None) -> torch.Tensor:
        """Closed-form eNTK (the same with or without centring, since θ₀ is fixed): ∂f/∂w_i = (α/N)(1 + ε w_i·x) x,
        so K(x, x') = (α²/N²) (x·x') Σ_i (1 + ε w_i·x)(1 + ε w_i·x')."""
        def gains(inputs):
            with torch.no_grad():
                return 1 + self.epsilon * (inputs @ self.weight.T)

        gain_a = gains(inputs_a)
        gain_b = gain_a if inputs_b is None else gains(inputs_b)
        other = inputs_a if inputs_b is None else inputs_b
        width = self.weight.shape[0]
        return (self.alpha / width) ** 2 * (gain_a @ gain_b.T) * (inputs_a @ other.T)

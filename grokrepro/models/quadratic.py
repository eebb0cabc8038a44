"""Mohamadi et al. 2024's two-layer quadratic network f(a, b) = V (W [e_a; e_b])^{⊙2}, no biases.

On pairs (a, b) it returns the p outputs; on triples (a, b, c) (the regression task) the c-th output alone.
For this architecture the empirical NTK has a closed form (`ntk`), checked against torch.func in the tests:
a full Jacobian at p = 97 runs to gigabytes.

Init (`init`): "pytorch", the paper's (Fig. 1 caption, App. A: "default PyTorch initialization"), is what a
bias-free `nn.Linear` draws, W ~ U(±1/√(2p)) and V ~ U(±1/√width) (kaiming_uniform_ with a = √5); "normal",
this suite's earlier W ~ N(0, 1), V ~ N(0, 1/width), is kept to rerun old results. Either is then multiplied by
the spec's init_scale (the paper's α).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class QuadraticNet(nn.Module):
    def __init__(self, n_symbols: int, width: int | None = None, width_per_symbol: int | None = None,
                 init: str = "pytorch"):
        super().__init__()
        width = width if width is not None else width_per_symbol * n_symbols
        self.n_symbols = n_symbols
        if init == "pytorch":  # nn.Linear(2p, width) then nn.Linear(width, p), both bias-free: the same draws
            self.weight = nn.Parameter(torch.empty(width, 2 * n_symbols))
            self.readout = nn.Parameter(torch.empty(n_symbols, width))
            for parameter in (self.weight, self.readout):
                nn.init.kaiming_uniform_(parameter, a=math.sqrt(5))
        elif init == "normal":
            self.weight = nn.Parameter(torch.randn(width, 2 * n_symbols))
            self.readout = nn.Parameter(torch.randn(n_symbols, width) / math.sqrt(width))
        else:
            raise ValueError(f"init must be 'pytorch' or 'normal', not {init!r}")

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        """W [e_a; e_b] = W[:, a] + W[:, p + b], before squaring: (..., width)."""
        columns = self.weight.T
        return F.embedding(inputs[..., 0], columns) + F.embedding(inputs[..., 1] + self.n_symbols, columns)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        squared = self.hidden(inputs) ** 2
        if inputs.shape[-1] == 3:  # a triple (a, b, c): the c-th output only
            return (F.embedding(inputs[..., 2], self.readout) * squared).sum(-1)
        return squared @ self.readout.T

    def ntk(self, inputs_a: torch.Tensor, inputs_b: torch.Tensor | None = None) -> torch.Tensor:
        """Closed-form eNTK of the output read at each input: the c-th for a triple, the first for a pair.

        With h = W[e_a; e_b] and v = V[c]: ∂f/∂V[c] = h², ∂f/∂W[:, a] = ∂f/∂W[:, p + b] = 2 v ⊙ h, so
        K = [c = c'] ⟨h², h'²⟩ + 4 ([a = a'] + [b = b']) ⟨v ⊙ h, v' ⊙ h'⟩."""
        def parts(inputs):
            with torch.no_grad():
                h = self.hidden(inputs)
                c = inputs[..., 2] if inputs.shape[-1] == 3 else torch.zeros_like(inputs[..., 0])
                return inputs[..., 0], inputs[..., 1], c, h * h, self.readout[c] * h

        a, b, c, squared, weighted = parts(inputs_a)
        a2, b2, c2, squared2, weighted2 = (a, b, c, squared, weighted) if inputs_b is None else parts(inputs_b)
        same = lambda x, y: (x[:, None] == y[None, :]).to(squared.dtype)  # noqa: E731
        return (same(c, c2) * (squared @ squared2.T)
                + 4 * (same(a, a2) + same(b, b2)) * (weighted @ weighted2.T))

"""⊥Grad (Prieto, Barsbey, Mediano, Birdal 2025, "Grokking at the edge of numerical stability", Sec. 5): keep
only the part of the gradient orthogonal to the current weights, so that no step scales the weights along
their own direction (naive loss minimisation, which drives the logits towards softmax collapse).

As the authors' code does it (their OrthoGrad wrapper, `_orthogonalize_gradients`): for each parameter tensor
w with gradient g, both flattened,

    g⊥ = g − (w·g / (w·w + 1e-30)) w,      then      g⊥ ← g⊥ · ‖g‖ / (‖g⊥‖ + 1e-30),

i.e. per tensor (not over all parameters at once) and rescaled to the original gradient's norm; the result
goes to the base optimiser (AdamW: ⊥AdamW; SGD: ⊥SGD). Here each tensor is a stacked one (run axis first),
so the dot products and norms are taken per run over the remaining axes.
"""

from __future__ import annotations

from typing import Literal

import torch

from grokrepro.train.optim import Transformation, TransformSettings, register_transform

TINY = 1e-30  # the authors' guard against a zero weight or a gradient parallel to the weights


def orthogonal_gradient(grad: torch.Tensor, weight: torch.Tensor, rescale: bool = True) -> torch.Tensor:
    """⊥Grad for one stacked tensor (run axis first): each run's gradient with its projection on that run's
    weights removed, then (rescale) brought back to the run's original gradient norm."""
    w, g = weight.detach().flatten(1), grad.flatten(1)
    projection = (w * g).sum(1) / ((w * w).sum(1) + TINY)
    orthogonal = g - projection[:, None] * w
    if rescale:
        orthogonal = orthogonal * (g.norm(dim=1) / (orthogonal.norm(dim=1) + TINY))[:, None]
    return orthogonal.view_as(grad)


@register_transform
class OrthogonalGradient(Transformation):
    kind = "orthogonal_gradient"

    class Settings(TransformSettings):
        kind: Literal["orthogonal_gradient"] = "orthogonal_gradient"
        # The authors rescale g⊥ to ‖g‖; False keeps the plain projection (the paper's Eq. without rescaling).
        rescale: bool = True

    def update(self, grads, state, params, ctx):
        return {name: orthogonal_gradient(g, params[name], self.settings.rescale) for name, g in grads.items()}, state




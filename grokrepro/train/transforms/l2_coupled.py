"""L2 weight decay coupled to the gradient, as torch.optim.Adam(weight_decay=λ) and SGD apply it: g ← g + λ·θ
before the base optimiser sees the gradient (so Adam normalises the decay term with the loss's gradient),
unlike AdamW's decoupled θ ← θ·(1 − η·λ), which the base applies after the step.

Lee et al.'s Grokfast (the authors' main.py) trains with `torch.optim.Adam(..., weight_decay=λ)` and filters
`p.grad` before calling `step()`; Adam adds λ·θ inside `step()`, after the filter. In a spec this is therefore
placed after the filter in `optimizer.transforms`, with the base's own (decoupled) weight decay left at 0:

    transforms: [{kind: grokfast_ema, alpha: 0.98, lamb: 2.0}, {kind: l2_coupled, weight_decay: 0.005}]

`weight_decay` is per run, so arms with and without the L2 term (λ = 0 adds exactly 0) share a vmapped group.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from grokrepro.train.optim import TransformSettings, Transformation, per_run, register_transform


@register_transform
class CoupledL2(Transformation):
    kind = "l2_coupled"
    per_run = ("weight_decay",)

    class Settings(TransformSettings):
        kind: Literal["l2_coupled"] = "l2_coupled"
        # the Grokfast-EMA command's value in the authors' README (`--weight_decay 0.005`)
        weight_decay: float = Field(0.005, ge=0)

    def update(self, grads, state, params, ctx):
        decay = self.per_run_value("weight_decay")
        # torch.optim.Adam: grad = grad.add(param, alpha=weight_decay)
        return {name: grad.add(params[name].detach() * per_run(decay, grad)) for name, grad in grads.items()}, state

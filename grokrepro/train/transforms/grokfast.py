"""Lee, Kang, Kim, Lee 2024 (arXiv:2405.20233), Grokfast: amplify the slow part of the gradient before the
optimiser sees it, ĝ = g + λ·(low-pass filtered g).

Both filters follow the authors' code (ironjr/grokfast, grokfast.py: `gradfilter_ema`, `gradfilter_ma`) in its
order of floating-point operations:

- `grokfast_ema` (the paper's Algorithm 2, "Grokfast"): μ ← α·μ + (1 − α)·g, then ĝ = g + λ·μ. μ starts at the
  first gradient, as the code does (`grads = p.grad` on the first call, then the same update, so μ₁ = α·g₁ +
  (1 − α)·g₁); the paper's Algorithm 2 line 3 writes μ ← θ₀, which the code does not follow.
- `grokfast_ma` (Algorithm 1, "Grokfast-MA"): the last `window` gradients in a queue (the current one
  included); ĝ = g + λ·mean(queue) (`filter_type: sum`: the sum). With `warmup` (the code's default) the
  gradient passes unchanged until the queue is full. The queue is a ring of `window` slots, each one flat
  buffer of every parameter of every run: a step writes one slot and adds the slots oldest first (the
  additions of the authors' `sum(deque)`, in its order), instead of shifting the whole queue and adding
  tensor by tensor (about 6,900 ops per step for a transformer at window 100; about 170 now).

λ = 0 gives g + 0·μ = g: the unfiltered optimiser, to the bit, in the same vmapped group.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from grokrepro.train.optim import TransformSettings, Transformation, per_run, register_transform, stacked


def _count(params) -> torch.Tensor:
    """(run,) number of gradients a filter has seen."""
    first = next(iter(params.values()))
    return torch.zeros(first.shape[0], device=first.device)


@register_transform
class GrokfastEMA(Transformation):
    kind = "grokfast_ema"
    per_run = ("alpha", "lamb")

    class Settings(TransformSettings):
        kind: Literal["grokfast_ema"] = "grokfast_ema"
        # the paper's algorithmic-data setting (Fig. 8; README command `--alpha 0.98 --lamb 2.0`)
        alpha: float = Field(0.98, ge=0, lt=1)
        lamb: float = Field(2.0, ge=0)

    def __init__(self, settings, device):
        super().__init__(settings, device)
        # 1 − α in double, then float32, as the authors' `p.grad * (1 - alpha)` has it
        self.one_minus_alpha = stacked(settings, lambda s: 1 - s.alpha, device)

    def init(self, params):
        return {"ema": {k: torch.zeros_like(v) for k, v in params.items()}, "count": _count(params)}

    def update(self, grads, state, params, ctx):
        alpha, lamb = self.per_run_value("alpha"), self.per_run_value("lamb")
        fresh = state["count"] == 0
        out, ema = {}, {}
        for name, grad in grads.items():
            previous = torch.where(per_run(fresh, grad), grad, state["ema"][name])
            ema[name] = previous * per_run(alpha, grad) + grad * per_run(self.one_minus_alpha, grad)
            out[name] = grad + ema[name] * per_run(lamb, grad)
        return out, {"ema": ema, "count": state["count"] + 1}


@register_transform
class GrokfastMA(Transformation):
    kind = "grokfast_ma"
    per_run = ("lamb",)

    class Settings(TransformSettings):
        kind: Literal["grokfast_ma"] = "grokfast_ma"
        # the paper's algorithmic-data setting (§2.2: λ = 5, w = 100)
        window: int = Field(100, ge=1)
        lamb: float = Field(5.0, ge=0)
        filter_type: Literal["mean", "sum"] = "mean"
        warmup: bool = True

    def init(self, params):
        first = next(iter(params.values()))
        size = sum(v[0].numel() for v in params.values())
        # ring[:, i] holds each run's gradient of the steps i (mod window), flat; the run axis first, as every
        # state tensor has it
        return {"ring": torch.zeros((first.shape[0], self.settings.window, size), dtype=first.dtype,
                                    device=first.device),
                "count": _count(params)}

    def update(self, grads, state, params, ctx):
        w, lamb = self.settings.window, self.per_run_value("lamb")
        count = state["count"] + 1  # gradients in the queue once this one is in (capped at w below)
        filled = count.clamp(max=w)
        apply = (count >= w) if self.settings.warmup else torch.ones_like(count, dtype=torch.bool)
        ring = state["ring"]
        flat = torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], dim=1)
        # A run that takes this step has taken every step so far (a run leaves for good), so its count is the
        # step and its newest slot is step mod w; runs that do not take it keep their slot as it was.
        newest = ctx.step % w
        if ctx.active is None:
            ring[:, newest].copy_(flat)
        else:
            ring[:, newest] = torch.where(ctx.active[:, None], flat, ring[:, newest])
        # oldest first, the current gradient last; slots not yet written are zeros, which add nothing
        slots = ring.unbind(1)
        total = slots[(newest + 1) % w]
        for i in range(2, w + 1):  # the authors' sum(deque): one gradient at a time, oldest first
            total = total + slots[(newest + i) % w]
        if self.settings.filter_type == "mean":
            total = total / filled[:, None]
        filtered = torch.where(apply[:, None], flat + total * lamb[:, None], flat)
        out, offset = {}, 0
        for name, grad in grads.items():
            size = grad[0].numel()
            out[name] = filtered[:, offset : offset + size].view(grad.shape)
            offset += size
        return out, {"ring": ring, "count": count}

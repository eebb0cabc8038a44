"""`optimizer.kind: adamw` (the default): Adam with decoupled weight decay, in torch.optim.AdamW's order of
operations; `betas` and `eps` are its settings."""

from __future__ import annotations

from typing import Literal

from grokrepro.registry import OPTIMIZERS
from grokrepro.spec.schema import OptimizerSettings


class AdamWSettings(OptimizerSettings):
    kind: Literal["adamw"] = "adamw"

    @classmethod
    def hint_for(cls, key: str) -> str:
        return "adamw's momentum is betas[0]" if key in ("momentum", "nesterov", "dampening") else ""


OPTIMIZERS.register("adamw", AdamWSettings, "grokrepro.train.optim:AdamW")

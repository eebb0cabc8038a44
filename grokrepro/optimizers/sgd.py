"""`optimizer.kind: sgd`: gradient descent, with torch.optim.SGD's momentum, dampening and Nesterov. Weight decay
stays decoupled: θ·(1 − lr·λ)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from grokrepro.registry import OPTIMIZERS
from grokrepro.spec.schema import OptimizerSettings


class SGDSettings(OptimizerSettings):
    kind: Literal["sgd"] = "sgd"
    # torch.optim.SGD's rule: buf ← g at the first step, then momentum·buf + (1 − dampening)·g; the step is
    # lr·buf, or lr·(g + momentum·buf) with nesterov.
    momentum: float = Field(default=0.0, ge=0, lt=1)
    dampening: float = Field(default=0.0, ge=0, le=1)
    nesterov: bool = False

    left_out_at: ClassVar[dict[str, Any]] = {"momentum": 0.0, "dampening": 0.0, "nesterov": False}

    @model_validator(mode="after")
    def _nesterov_as_torch(self):
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening 0 (as torch.optim.SGD)")
        return self


OPTIMIZERS.register("sgd", SGDSettings, "grokrepro.train.optim:SGD")

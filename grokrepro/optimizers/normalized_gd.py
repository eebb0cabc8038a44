"""`optimizer.kind: normalized_gd`: θ ← θ − lr · g/‖g‖₂, the norm over all of a run's parameters (Mohamadi et
al. 2024). It differentiates its own rescaled cross-entropy or squared error, so those are its only losses."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from grokrepro.registry import OPTIMIZERS
from grokrepro.spec.schema import OptimizerSettings


class NormalisedGDSettings(OptimizerSettings):
    kind: Literal["normalized_gd"] = "normalized_gd"

    @model_validator(mode="after")
    def _knows_its_loss(self):
        if self.loss not in ("auto", "cross_entropy", "mse"):
            raise ValueError(f"normalized_gd differentiates its own rescaled cross-entropy or squared error; "
                             f"loss {self.loss!r} is not one of them")
        return self


OPTIMIZERS.register("normalized_gd", NormalisedGDSettings, "grokrepro.train.optim:NormalisedGD")

"""Mohamadi et al. 2024: f(a, b) = V (W [e_a; e_b])^{⊙2}, no biases. Init "pytorch" (the paper's): a bias-free
nn.Linear's W ~ U(±1/√(2p)), V ~ U(±1/√width); "normal": W ~ N(0, 1), V ~ N(0, 1/width); times init_scale."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from grokrepro.models.kinds._base import ModelSettings
from grokrepro.registry import MODELS


class Quadratic(ModelSettings):
    kind: Literal["quadratic"]
    init: Literal["pytorch", "normal"] = "pytorch"
    # the hidden width, or a multiple of p (Mohamadi et al.: 8p <= h = O(p)), so that a sweep over primes keeps it
    width: Optional[int] = Field(default=None, gt=0)
    width_per_symbol: Optional[int] = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_width(self):
        if (self.width is None) == (self.width_per_symbol is None):
            raise ValueError("give exactly one of width and width_per_symbol")
        return self


@MODELS.register("quadratic", Quadratic, per_run=("init_scale",), coords=("init_scale",))
def build(settings: Quadratic, shape):
    from grokrepro.models.quadratic import QuadraticNet

    return QuadraticNet(shape.n_symbols, width=settings.width, width_per_symbol=settings.width_per_symbol,
                        init=settings.init)

"""Kumar et al. 2024: f = (α/N) Σ φ(w_i·x), φ(h) = h + (ε/2)h², readouts fixed to 1, W ~ N(0, 1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_serializer

from grokrepro.models.kinds._base import ModelSettings
from grokrepro.registry import MODELS, drop_if_default


class LazyQuadratic(ModelSettings):
    kind: Literal["lazy_quadratic"]
    width: int = Field(gt=0)
    alpha: float = Field(default=1.0, gt=0)
    epsilon: float = Field(default=0.0, ge=0)
    # Train α[f(θ) − f(θ₀)], so that the output starts at zero whatever α is.
    centred: bool = True
    # "gram": the same function through WᵀW (cheaper when P, N >> D; rounds differently, see models/lazy.py).
    form: Literal["features", "gram"] = "features"

    @model_serializer(mode="wrap")
    def _dump(self, handler):  # left out at its default, so no existing run id changes
        return drop_if_default(handler(self), {"form": "features"})


@MODELS.register("lazy_quadratic", LazyQuadratic, per_run=("init_scale", "alpha", "epsilon"),
                 coords=("init_scale", "alpha", "epsilon"))
def build(settings: LazyQuadratic, shape):
    from grokrepro.models.lazy import LazyQuadratic as Network

    return Network(shape.input_dim, settings.width, settings.alpha, settings.epsilon, settings.centred,
                   settings.form)

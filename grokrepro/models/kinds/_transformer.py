"""What the transformers' Settings share."""

from __future__ import annotations

from pydantic import Field, model_validator

from grokrepro.models.kinds._base import ModelSettings


class TransformerSettings(ModelSettings):
    d_model: int = Field(default=128, gt=0)
    n_heads: int = Field(default=4, gt=0)

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        return self

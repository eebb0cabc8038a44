"""Power et al. 2022: decoder-only transformer over the tokens [a, op, b, =]."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_serializer

from grokrepro.models.kinds._transformer import TransformerSettings
from grokrepro.registry import MODELS, drop_if_default


class PowerTransformer(TransformerSettings):
    kind: Literal["power_transformer"]
    n_layers: int = Field(default=2, gt=0)
    # The operand embeddings are the read-out weights (Notsawo et al.: "the embedding weights are used as weights
    # for the output linear classification layer").
    tied_readout: bool = False

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return drop_if_default(handler(self), {"tied_readout": False})


@MODELS.register("power_transformer", PowerTransformer, per_run=("init_scale",), coords=("init_scale",))
def build(settings: PowerTransformer, shape):
    from grokrepro.models.networks import PowerTransformer as Network

    return Network(shape.n_symbols, settings.d_model, settings.n_heads, settings.n_layers, settings.tied_readout)

"""Nanda et al. 2023: one layer, no LayerNorm, read out at the last position only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from grokrepro.models.kinds._transformer import TransformerSettings
from grokrepro.registry import MODELS


class NandaTransformer(TransformerSettings):
    kind: Literal["nanda_transformer"]
    d_mlp: int = Field(default=512, gt=0)


@MODELS.register("nanda_transformer", NandaTransformer, per_run=("init_scale",), coords=("init_scale",))
def build(settings: NandaTransformer, shape):
    from grokrepro.models.networks import NandaTransformer as Network

    return Network(shape.n_symbols, settings.d_model, settings.n_heads, settings.d_mlp)

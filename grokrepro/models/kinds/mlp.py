"""An MLP over two operand tokens (embedded, or one-hot) or over a real input vector (e.g. a parity's bits)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_serializer, model_validator

from grokrepro.models.kinds._base import ModelSettings
from grokrepro.registry import MODELS, drop_if_default


class MLP(ModelSettings):
    kind: Literal["mlp"]
    # the width of each operand's embedding (token inputs); unused for vector inputs
    embed_dim: Optional[int] = Field(default=None, gt=0)
    hidden: int = Field(gt=0)
    hidden_layers: int = Field(default=1, ge=1)
    activation: Literal["relu", "silu", "gelu"] = "relu"
    # "shared": one embedding table for both operands; "untied": a table per operand; "one_hot": no embedding, the
    # first layer reads [one-hot(a); one-hot(b)] (Prieto et al.'s network: with bias: false, bias-free throughout)
    tables: Literal["shared", "untied", "one_hot"] = "shared"
    bias: bool = True

    @model_validator(mode="after")
    def _embedding_width(self):
        if self.tables == "one_hot" and self.embed_dim is not None:
            raise ValueError("tables: one_hot has no embedding; leave embed_dim out")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler):  # left out at their defaults, so no existing run id changes
        return drop_if_default(handler(self), {"tables": "shared", "bias": True, "embed_dim": None})


@MODELS.register("mlp", MLP, per_run=("init_scale",), coords=("init_scale",))
def build(settings: MLP, shape):
    from grokrepro.models.networks import EmbeddingMLP, VectorMLP

    if not shape.token_inputs:
        return VectorMLP(shape.input_dim, shape.outputs, settings.hidden, settings.hidden_layers,
                         settings.activation, settings.bias)
    if settings.tables != "one_hot" and settings.embed_dim is None:
        raise ValueError("an mlp over operand tokens needs embed_dim (or tables: one_hot)")
    return EmbeddingMLP(shape.n_symbols, settings.embed_dim, settings.hidden, settings.hidden_layers,
                        settings.activation, tables=settings.tables, bias=settings.bias, n_classes=shape.outputs)

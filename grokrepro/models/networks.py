"""Plain modules for the algorithmic tasks. Each maps operand pairs (batch, 2) to logits (batch, n_symbols).

They know nothing of training: the trainer stacks their parameters and calls them functionally under vmap,
so everything here is written with ops that vmap supports (no nn.MultiheadAttention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"relu": F.relu, "silu": F.silu, "gelu": F.gelu}


class EmbeddingMLP(nn.Module):
    """Embed both operands, concatenate, then `hidden_layers` hidden layers and a linear read-out.

    `tables`: "shared" (one embedding for both operands), "untied" (one per operand) or "one_hot" (no embedding:
    the first layer reads [one-hot(a); one-hot(b)]); `bias` False drops every bias (Prieto et al.'s network is
    one-hot and bias-free)."""

    def __init__(self, n_symbols: int, embed_dim: int | None, hidden: int, hidden_layers: int = 1,
                 activation: str = "relu", tables: str = "shared", bias: bool = True, n_classes: int | None = None):
        super().__init__()
        self.tables, self.n_symbols = tables, n_symbols
        if tables != "one_hot":
            self.embed = nn.Embedding(n_symbols, embed_dim)
        if tables == "untied":
            self.embed_second = nn.Embedding(n_symbols, embed_dim)
        width = n_symbols if tables == "one_hot" else embed_dim
        widths = [2 * width] + [hidden] * hidden_layers
        self.hidden = nn.ModuleList(nn.Linear(i, o, bias=bias) for i, o in zip(widths[:-1], widths[1:]))
        self.readout = nn.Linear(hidden, n_symbols if n_classes is None else n_classes, bias=bias)
        self.activation = ACTIVATIONS[activation]

    def _operand_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer's pre-activation as one table per operand over the vocabulary (bias in the second)."""
        layer = self.hidden[0]
        if self.tables == "one_hot":
            first, second = layer.weight[:, : self.n_symbols].T, layer.weight[:, self.n_symbols :].T
        else:
            width = self.embed.embedding_dim
            other = self.embed if self.tables == "shared" else self.embed_second
            first = self.embed.weight @ layer.weight[:, :width].T
            second = other.weight @ layer.weight[:, width:].T
        if layer.bias is not None:
            second = second + layer.bias
        return first, second

    def first_hidden(self, pairs: torch.Tensor) -> torch.Tensor:
        """Activations of the first hidden layer (where the LMN probe starts).

        The first layer sees [e_a; e_b], so its pre-activation is W_a e_a + W_b e_b + bias: one table per operand
        over the vocabulary, then a lookup per pair. A step then multiplies n_symbols rows instead of one row per
        training pair, which removes most of this model's FLOPs (the first layer holds most of them)."""
        first, second = self._operand_tables()
        # F.embedding, not indexing: its backward is fast, and under vmap it becomes one lookup in the runs'
        # tables laid end to end instead of a gather
        return self.activation(F.embedding(pairs[..., 0], first) + F.embedding(pairs[..., 1], second))

    def from_first_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The map from first-hidden-layer activations to the logits."""
        for layer in self.hidden[1:]:
            x = self.activation(layer(x))
        return self.readout(x)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.from_first_hidden(self.first_hidden(pairs))


class VectorMLP(nn.Module):
    """An MLP over real input vectors (e.g. a sparse parity's ±1 bits): hidden layers, then a linear read-out."""

    def __init__(self, input_dim: int, outputs: int, hidden: int, hidden_layers: int = 1, activation: str = "relu",
                 bias: bool = True):
        super().__init__()
        widths = [input_dim] + [hidden] * hidden_layers
        self.hidden = nn.ModuleList(nn.Linear(i, o, bias=bias) for i, o in zip(widths[:-1], widths[1:]))
        self.readout = nn.Linear(hidden, outputs, bias=bias)
        self.activation = ACTIVATIONS[activation]

    def first_hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(self.hidden[0](inputs))

    def from_first_hidden(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden[1:]:
            x = self.activation(layer(x))
        return self.readout(x)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.from_first_hidden(self.first_hidden(inputs))


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    *batch, seq, d = x.shape
    return x.view(*batch, seq, n_heads, d // n_heads).transpose(-2, -3)


def attention(q, k, v, n_heads: int, causal: bool) -> torch.Tensor:
    """Multi-head scaled dot-product attention; q may cover only the last positions of k and v."""
    q, k, v = (_split_heads(t, n_heads) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        n_q, n_k = scores.shape[-2:]
        mask = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(n_k - n_q)
        scores = scores.masked_fill(~mask, float("-inf"))
    out = scores.softmax(-1) @ v
    return out.transpose(-2, -3).flatten(-2)


class NandaTransformer(nn.Module):
    """Nanda et al. 2023: tokens [a, b, =], one attention layer and one MLP, no LayerNorm.

    Only the '=' position is read out, and in a single layer nothing else feeds it, so the query, the MLP
    and the unembedding run on that position alone.
    """

    def __init__(self, n_symbols: int, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512):
        super().__init__()
        self.n_symbols, self.n_heads = n_symbols, n_heads
        self.embed = nn.Parameter(torch.randn(n_symbols + 1, d_model) / math.sqrt(d_model))
        self.position = nn.Parameter(torch.randn(3, d_model) / math.sqrt(d_model))
        self.qkv = nn.Parameter(torch.randn(3, d_model, d_model) / math.sqrt(d_model))
        self.out = nn.Parameter(torch.randn(d_model, d_model) / math.sqrt(d_model))
        self.mlp_in = nn.Linear(d_model, d_mlp)
        self.mlp_out = nn.Linear(d_mlp, d_model)
        self.unembed = nn.Parameter(torch.randn(d_model, n_symbols) / math.sqrt(n_symbols + 1))
        # Nanda et al.'s code draws both MLP matrices as randn(.)/sqrt(d_model) (std 0.088 at d_model 128), not
        # nn.Linear's uniform default (std 0.051 for W_in, 0.026 for W_out): the initial norm sets grokking time.
        for layer in (self.mlp_in, self.mlp_out):
            nn.init.normal_(layer.weight, std=1 / math.sqrt(d_model))
            nn.init.zeros_(layer.bias)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        equals = torch.full_like(pairs[..., :1], self.n_symbols)
        tokens = torch.cat([pairs, equals], dim=-1)
        x = self.embed[tokens] + self.position
        q = x[..., -1:, :] @ self.qkv[0]
        k, v = x @ self.qkv[1], x @ self.qkv[2]
        residual = x[..., -1, :] + attention(q, k, v, self.n_heads, causal=False)[..., 0, :] @ self.out
        residual = residual + self.mlp_out(F.relu(self.mlp_in(residual)))
        return residual @ self.unembed


class DecoderBlock(nn.Module):
    """Post-LayerNorm decoder block (as in Vaswani et al. and the Power et al. reimplementations)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm_attention = nn.LayerNorm(d_model)
        self.mlp_in = nn.Linear(d_model, 4 * d_model)
        self.mlp_out = nn.Linear(4 * d_model, d_model)
        self.norm_mlp = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, last_only: bool, qkv: torch.Tensor | None = None) -> torch.Tensor:
        """`qkv` may be given when the caller has a cheaper way to compute the projection of `x`."""
        q, k, v = (self.qkv(x) if qkv is None else qkv).chunk(3, dim=-1)
        if last_only:  # the model reads only the last position, and nothing later depends on the others
            q, x = q[..., -1:, :], x[..., -1:, :]
        x = self.norm_attention(x + self.out(attention(q, k, v, self.n_heads, causal=True)))
        return self.norm_mlp(x + self.mlp_out(F.gelu(self.mlp_in(x))))


class PowerTransformer(nn.Module):
    """Power et al. 2022: decoder-only transformer over [a, op, b, =], predicting a∘b at '='."""

    def __init__(self, n_symbols: int, d_model: int = 128, n_heads: int = 4, n_layers: int = 2,
                 tied_readout: bool = False):
        super().__init__()
        self.n_symbols, self.d_model = n_symbols, d_model
        self.embed = nn.Embedding(n_symbols + 2, d_model)
        self.position = nn.Parameter(torch.randn(4, d_model) * 0.02)
        self.blocks = nn.ModuleList(DecoderBlock(d_model, n_heads) for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(d_model)  # as the public reimplementation calibrated against has
        # Tied: the operand tokens' embeddings are the read-out weights (no bias).
        self.readout = None if tied_readout else nn.Linear(d_model, n_symbols)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        op = torch.full_like(pairs[..., :1], self.n_symbols)
        tokens = torch.cat([pairs[..., :1], op, pairs[..., 1:], op + 1], dim=-1)
        x = self.embed(tokens) + self.position
        # The first block projects embeddings, so its projection is a table over the vocabulary plus one row per
        # position: (V + 2) rows multiplied per step instead of 4 per example.
        projection = self.blocks[0].qkv
        token_table = self.embed.weight @ projection.weight.T
        qkv = F.embedding(tokens, token_table) + F.linear(self.position, projection.weight, projection.bias)
        for i, block in enumerate(self.blocks):
            x = block(x, last_only=i == len(self.blocks) - 1, qkv=qkv if i == 0 else None)
        last = self.final_norm(x[..., -1, :])
        if self.readout is None:
            return last @ self.embed.weight[: self.n_symbols].T
        return self.readout(last)


@dataclass(frozen=True)
class ModelShape:
    """What a model's size depends on in its data."""

    n_symbols: int = 0  # the operand vocabulary (token inputs)
    input_dim: int = 0  # the width of a real input vector (vector inputs)
    outputs: int | None = None  # a classifier's classes (regression on operands: the operands' range); n_symbols
    token_inputs: bool = True

    def __post_init__(self):
        if self.outputs is None:
            object.__setattr__(self, "outputs", self.n_symbols)

    @classmethod
    def of(cls, dataset) -> "ModelShape":
        return cls(dataset.n_symbols, dataset.inputs.shape[-1], dataset.outputs, dataset.token_inputs)


def build_model(config, shape: ModelShape) -> nn.Module:
    """Build from a spec's model section by its registered kind; init_scale multiplies every initial parameter."""
    from grokrepro.registry import MODELS

    model = MODELS[config.kind].load()(config, shape)
    init_scale = getattr(config, "init_scale", 1.0)
    if init_scale != 1.0:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(init_scale)
    if hasattr(model, "remember_initial"):
        model.remember_initial()
    return model


def matmul_flops_per_example(model: nn.Module) -> int:
    """Forward multiply-adds ×2 of the dense layers for one example; used for utilisation figures."""
    if isinstance(model, (EmbeddingMLP, VectorMLP)):
        return 2 * sum(layer.in_features * layer.out_features for layer in [*model.hidden, model.readout])
    if isinstance(model, NandaTransformer):
        d, d_mlp = model.out.shape[0], model.mlp_in.out_features
        attention_flops = 2 * (d * d + 2 * 3 * d * d + d * d) + 2 * 2 * 3 * d
        return attention_flops + 2 * 2 * d * d_mlp + 2 * d * model.n_symbols
    if isinstance(model, PowerTransformer):
        d = model.d_model
        total = 0
        for i, _ in enumerate(model.blocks):
            positions = 1 if i == len(model.blocks) - 1 else 4
            total += 2 * (4 * 3 * d * d + positions * d * d + positions * 8 * d * d) + 2 * 2 * positions * 4 * d
        return total + 2 * d * model.n_symbols
    raise TypeError(type(model))

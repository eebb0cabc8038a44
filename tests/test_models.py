"""The models' shortcuts compute the same functions as the straightforward layers they replace."""

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from grokrepro.models.networks import EmbeddingMLP, PowerTransformer


def plain_mlp(model: EmbeddingMLP, pairs: torch.Tensor) -> torch.Tensor:
    x = model.activation(model.hidden[0](model.embed(pairs).flatten(-2)))
    return model.from_first_hidden(x)


def plain_power(model: PowerTransformer, pairs: torch.Tensor) -> torch.Tensor:
    op = torch.full_like(pairs[..., :1], model.n_symbols)
    x = model.embed(torch.cat([pairs[..., :1], op, pairs[..., 1:], op + 1], dim=-1)) + model.position
    for i, block in enumerate(model.blocks):
        x = block(x, last_only=i == len(model.blocks) - 1)
    return model.readout(model.final_norm(x[..., -1, :]))


def test_mlp_first_layer_table_equals_the_dense_layer_with_gradients():
    torch.manual_seed(0)
    model = EmbeddingMLP(13, embed_dim=8, hidden=16, hidden_layers=2)
    pairs = torch.randint(0, 13, (40, 2))
    labels = torch.randint(0, 13, (40,))
    shortcut = torch.autograd.grad(F.cross_entropy(model(pairs), labels), list(model.parameters()))
    plain = torch.autograd.grad(F.cross_entropy(plain_mlp(model, pairs), labels), list(model.parameters()))
    torch.testing.assert_close(model(pairs), plain_mlp(model, pairs))
    for got, expected in zip(shortcut, plain):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_power_transformer_projection_table_equals_the_dense_projection_with_gradients():
    torch.manual_seed(0)
    model = PowerTransformer(11, d_model=16, n_heads=2, n_layers=2)
    pairs = torch.randint(0, 11, (24, 2))
    labels = torch.randint(0, 11, (24,))
    torch.testing.assert_close(model(pairs), plain_power(model, pairs), rtol=1e-5, atol=1e-5)
    shortcut = torch.autograd.grad(F.cross_entropy(model(pairs), labels), list(model.parameters()))
    plain = torch.autograd.grad(F.cross_entropy(plain_power(model, pairs), labels), list(model.parameters()))
    for got, expected in zip(shortcut, plain):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_table_lookups_under_vmap_match_each_run_alone():
    """Under vmap the lookups become one lookup into the runs' tables end to end; each run must still read
    its own table."""
    torch.manual_seed(0)
    models = [EmbeddingMLP(7, embed_dim=4, hidden=8) for _ in range(3)]
    params, buffers = stack_module_state(models)
    pairs = torch.randint(0, 7, (3, 10, 2))
    template = EmbeddingMLP(7, embed_dim=4, hidden=8).to("meta")
    batched = vmap(lambda p, b, x: functional_call(template, (p, b), (x,)))(params, buffers, pairs)
    for k, model in enumerate(models):
        torch.testing.assert_close(batched[k], model(pairs[k]))

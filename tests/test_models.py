"""The models' shortcuts compute the same functions as the straightforward layers they replace."""

import math

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from grokrepro.models import ModelShape, build_model
from grokrepro.models.networks import EmbeddingMLP, NandaTransformer, PowerTransformer, VectorMLP
from grokrepro.registry import MODELS


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


def test_nanda_transformer_initialises_as_nanda_et_al():
    """Nanda et al.'s code: W_in and W_out randn/sqrt(d_model), zero biases; embeddings and attention
    randn/sqrt(d_model); unembed randn/sqrt(d_vocab). nn.Linear's default would give W_in std 0.051 and W_out 0.026."""
    torch.manual_seed(0)
    p, d_model, d_mlp = 113, 128, 512
    model = NandaTransformer(p, d_model=d_model, n_heads=4, d_mlp=d_mlp)
    expected = {"mlp_in.weight": 1 / math.sqrt(d_model), "mlp_out.weight": 1 / math.sqrt(d_model),
                "embed": 1 / math.sqrt(d_model), "qkv": 1 / math.sqrt(d_model), "out": 1 / math.sqrt(d_model),
                "unembed": 1 / math.sqrt(p + 1)}
    parameters = dict(model.named_parameters())
    for name, std in expected.items():
        assert abs(parameters[name].std().item() / std - 1) < 0.03, (name, parameters[name].std().item(), std)
        assert abs(parameters[name].mean().item()) < 0.1 * std, name
    assert model.mlp_in.weight.shape == (d_mlp, d_model) and model.mlp_out.weight.shape == (d_model, d_mlp)
    assert not model.mlp_in.bias.any() and not model.mlp_out.bias.any()


def mlp_settings(**changes):
    return MODELS.validate({"kind": "mlp", "hidden": 16, "hidden_layers": 2, **changes})


def copied_linear(layer: torch.nn.Linear) -> torch.nn.Linear:
    plain = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    plain.load_state_dict(layer.state_dict())
    return plain


def plain_layers(model, x: torch.Tensor) -> torch.Tensor:
    """The hidden layers and read-out as fresh nn.Linear layers holding the model's weights."""
    for layer in model.hidden:
        x = F.relu(copied_linear(layer)(x))
    return copied_linear(model.readout)(x)


def test_untied_tables_equal_two_embeddings_concatenated():
    torch.manual_seed(0)
    model = build_model(mlp_settings(embed_dim=6, tables="untied"), ModelShape(n_symbols=7))
    first, second = torch.nn.Embedding(7, 6), torch.nn.Embedding(7, 6)
    first.load_state_dict(model.embed.state_dict())
    second.load_state_dict(model.embed_second.state_dict())
    pairs = torch.randint(0, 7, (50, 2))
    plain = plain_layers(model, torch.cat([first(pairs[:, 0]), second(pairs[:, 1])], dim=-1))
    torch.testing.assert_close(model(pairs), plain)
    # the operands read different tables: one table for both would compute something else
    shared = plain_layers(model, torch.cat([first(pairs[:, 0]), first(pairs[:, 1])], dim=-1))
    assert not torch.allclose(model(pairs), shared, atol=1e-3)


def test_one_hot_without_bias_equals_linear_layers_on_concatenated_one_hots():
    torch.manual_seed(0)
    model = build_model(mlp_settings(tables="one_hot", bias=False), ModelShape(n_symbols=7, outputs=5))
    assert not hasattr(model, "embed")
    assert all(layer.bias is None for layer in [*model.hidden, model.readout])
    pairs = torch.randint(0, 7, (50, 2))
    one_hots = torch.cat([F.one_hot(pairs[:, 0], 7), F.one_hot(pairs[:, 1], 7)], dim=-1).float()
    plain = plain_layers(model, one_hots)
    assert model(pairs).shape == (50, 5)
    torch.testing.assert_close(model(pairs), plain)
    labels = torch.randint(0, 5, (50,))
    shortcut = torch.autograd.grad(F.cross_entropy(model(pairs), labels), list(model.parameters()))
    dense = torch.autograd.grad(F.cross_entropy(model.from_first_hidden(F.relu(model.hidden[0](one_hots))), labels),
                                list(model.parameters()))
    for got, expected in zip(shortcut, dense):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_vector_mlp_reads_real_vectors():
    torch.manual_seed(0)
    model = build_model(mlp_settings(), ModelShape(input_dim=10, outputs=2, token_inputs=False))
    assert isinstance(model, VectorMLP)
    vectors = torch.randn(5, 10)
    assert model(vectors).shape == (5, 2)
    assert model(torch.randn(3, 5, 10)).shape == (3, 5, 2)
    torch.testing.assert_close(model(vectors), plain_layers(model, vectors))
    bias_free = build_model(mlp_settings(bias=False), ModelShape(input_dim=10, outputs=2, token_inputs=False))
    assert all(layer.bias is None for layer in [*bias_free.hidden, bias_free.readout])

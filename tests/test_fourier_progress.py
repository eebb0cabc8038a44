"""The fourier_progress probe (Nanda et al. 2023): key frequencies, restricted and excluded loss, checked against
the authors' helpers.py formulas on logit tables built from known frequencies, and logged by a real trainer."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from grokrepro.metrics import key_frequencies as kf
from grokrepro.registry import PROBES
from grokrepro.spec import expand_runs
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.fourier_probes import fourier_progress
from helpers import resolved, tiny_spec

P = 13


# -- the authors' formulas (helpers.py of mechanistic-interpretability-grokking/progress-measures-paper), as written
def authors_basis(p):
    # theirs computes in float32 and casts; the same formula in float64 here, so that tolerances stay tight
    basis = [torch.ones(p, dtype=torch.float64)]
    for i in range(1, p // 2 + 1):
        basis.append(torch.cos(2 * torch.pi * torch.arange(p, dtype=torch.float64) * i / p))
        basis.append(torch.sin(2 * torch.pi * torch.arange(p, dtype=torch.float64) * i / p))
    basis = torch.stack(basis)
    return basis / basis.norm(dim=-1, keepdim=True)


def fourier_2d_basis_term(x_index, y_index, fourier_basis):
    return (fourier_basis[x_index][:, None] * fourier_basis[y_index][None, :]).flatten()


def get_component_cos_xpy(tensor, freq, fourier_basis):
    cosx_cosy_direction = fourier_2d_basis_term(2 * freq - 1, 2 * freq - 1, fourier_basis).flatten()
    sinx_siny_direction = fourier_2d_basis_term(2 * freq, 2 * freq, fourier_basis).flatten()
    cos_xpy_direction = (cosx_cosy_direction - sinx_siny_direction) / np.sqrt(2)
    return cos_xpy_direction[:, None] @ (cos_xpy_direction[None, :] @ tensor)


def get_component_sin_xpy(tensor, freq, fourier_basis):
    sinx_cosy_direction = fourier_2d_basis_term(2 * freq, 2 * freq - 1, fourier_basis).flatten()
    cosx_siny_direction = fourier_2d_basis_term(2 * freq - 1, 2 * freq, fourier_basis).flatten()
    sin_xpy_direction = (sinx_cosy_direction + cosx_siny_direction) / np.sqrt(2)
    return sin_xpy_direction[:, None] @ (sin_xpy_direction[None, :] @ tensor)


def authors_loss(logits, labels, bias_correction=False, original_logits=None):
    """test_logits' loss: bias correction adds back the mean over pairs of what the ablation removed."""
    if bias_correction:
        logits = (original_logits - logits).mean(0) + logits
    logprobs = F.log_softmax(logits.double(), dim=-1)
    return -logprobs.gather(-1, labels[:, None]).mean()


# -- hand-made logit tables ----------------------------------------------------------------------------------
def pairs(p=P):
    a, b = np.divmod(np.arange(p * p), p)
    return torch.as_tensor(a), torch.as_tensor(b)


def fourier_table(amplitudes: dict, p=P, bias=True, noise=0.0, seed=0):
    """L(a, b, c) = Σ_k A_k cos(w_k (a + b − c)) + a per-class bias + Gaussian noise: (p², p)."""
    a, b = pairs(p)
    c = torch.arange(p)
    logits = torch.zeros(p * p, p, dtype=torch.float64)
    for k, amplitude in amplitudes.items():
        logits += amplitude * torch.cos(2 * math.pi * k * ((a + b)[:, None] - c[None, :]) / p)
    if bias:
        logits += torch.linspace(-1, 1, p, dtype=torch.float64)[None, :]
    generator = torch.Generator().manual_seed(seed)
    return logits + noise * torch.randn(p * p, p, generator=generator, dtype=torch.float64)


def labels_of(p=P):
    a, b = pairs(p)
    return (a + b) % p


def test_the_directions_are_the_authors_cos_and_sin_of_a_plus_b():
    directions = kf.sum_directions(P)
    basis = authors_basis(P)
    torch.testing.assert_close(kf.fourier_basis(P), basis)
    identity = torch.eye(P * P, dtype=torch.float64)
    for k in range(1, P // 2 + 1):
        theirs = get_component_cos_xpy(identity, k, basis) + get_component_sin_xpy(identity, k, basis)
        ours = directions[:, 2 * (k - 1):2 * k] @ directions[:, 2 * (k - 1):2 * k].T
        torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(directions.T @ directions, torch.eye(P - 1, dtype=torch.float64))


def test_key_frequencies_restricted_and_excluded_logits_match_the_authors():
    logits = fourier_table({3: 4.0, 5: 2.0}, noise=0.3)
    energy, total = kf.frequency_energy(logits, kf.sum_directions(P))
    keys = kf.key_frequencies(energy, 2)
    assert keys.tolist() == [3, 5]  # strongest first
    basis, labels = authors_basis(P), labels_of()
    approx = sum(get_component_cos_xpy(logits, k, basis) + get_component_sin_xpy(logits, k, basis) for k in (3, 5))
    restricted = kf.restricted_logits(logits, kf.sum_directions(P), keys)
    torch.testing.assert_close(restricted, (logits - approx).mean(0) + approx)
    torch.testing.assert_close(kf.cross_entropy(restricted, labels),
                               authors_loss(approx, labels, bias_correction=True, original_logits=logits))
    excluded = kf.excluded_logits(logits, kf.sum_directions(P), keys)
    train = torch.arange(0, P * P, 3)
    torch.testing.assert_close(kf.cross_entropy(excluded[train], labels[train]),
                               authors_loss((logits - approx)[train], labels[train]))


def test_a_fourier_network_is_restricted_well_and_excluded_badly():
    logits, labels = fourier_table({3: 6.0, 5: 5.0}, noise=0.05), labels_of()
    directions = kf.sum_directions(P)
    energy, total = kf.frequency_energy(logits, directions)
    keys = kf.key_frequencies(energy, 2)
    restricted = kf.cross_entropy(kf.restricted_logits(logits, directions, keys), labels)
    excluded = kf.cross_entropy(kf.excluded_logits(logits, directions, keys), labels)
    assert restricted < 0.5 < math.log(P) < excluded  # removing the key frequencies is worse than chance
    assert kf.frequencies_for_share(energy, total, 0.9) == 2
    assert (energy.gather(-1, keys - 1).sum() / total) > 0.99


def test_memorisation_spreads_over_every_frequency():
    logits = fourier_table({}, bias=False, noise=1.0, seed=3)  # a lookup table: no frequency stands out
    energy, total = kf.frequency_energy(logits, kf.sum_directions(P))
    assert kf.frequencies_for_share(energy, total, 0.9).item() == math.inf  # most variance is off a+b
    share_of_two = energy.sort(descending=True).values[:2].sum() / total
    assert share_of_two < 0.1


def test_shifts_that_softmax_ignores_carry_no_variance():
    logits = fourier_table({4: 3.0})
    energy, total = kf.frequency_energy(logits, kf.sum_directions(P))
    # a per-class bias and a per-pair shift (here one that varies as cos(w_4 (a + b))) change nothing
    a, b = pairs()
    shifted = logits + 7.0 * torch.cos(2 * math.pi * 4 * (a + b) / P).double()[:, None] + 2.0
    energy_shifted, total_shifted = kf.frequency_energy(shifted, kf.sum_directions(P))
    torch.testing.assert_close(energy_shifted, energy)
    torch.testing.assert_close(total_shifted, total)
    assert kf.frequencies_for_share(energy, total, 0.999) == 1


def test_frequencies_for_share_counts_the_strongest_first_and_is_batched():
    tables = torch.stack([fourier_table({1: 5.0, 2: 4.0, 6: 3.0}), fourier_table({2: 5.0})])
    energy, total = kf.frequency_energy(tables, kf.sum_directions(P))
    # shares 25/50, 16/50, 9/50: two reach 0.82, three are needed for 0.9
    np.testing.assert_allclose(kf.frequencies_for_share(energy, total, 0.8).numpy(), [2, 1])
    np.testing.assert_allclose(kf.frequencies_for_share(energy, total, 0.9).numpy(), [3, 1])
    keys = kf.key_frequencies(energy, 1)
    assert keys[:, 0].tolist() == [1, 2]
    restricted = kf.restricted_logits(tables, kf.sum_directions(P), keys)
    torch.testing.assert_close(restricted[1], kf.restricted_logits(tables[1], kf.sum_directions(P), keys[1]))


def test_subtraction_uses_a_minus_b():
    a, b = pairs()
    c = torch.arange(P)
    logits = 3.0 * torch.cos(2 * math.pi * 2 * ((a - b)[:, None] - c[None, :]) / P).double()
    for operation, share in (("x-y", 1.0), ("x+y", 0.0)):
        energy, total = kf.frequency_energy(logits, kf.sum_directions(P, operation))
        assert float(energy.sum() / total) == pytest.approx(share, abs=1e-9)
    with pytest.raises(ValueError, match="x\\*y"):
        kf.sum_directions(P, "x*y")


# -- the probe ----------------------------------------------------------------------------------------------
def _fake_trainer(logits: torch.Tensor, p=P, train_fraction=0.5):
    """What the probe reads of a trainer, with each run's network replaced by a fixed logit table."""
    a, b = pairs(p)
    inputs = np.stack([a.numpy(), b.numpy()], 1)
    order = np.random.default_rng(0).permutation(p * p)
    n_train = int(train_fraction * p * p)
    dataset = SimpleNamespace(inputs=inputs, labels=((a + b) % p).numpy(), train_index=np.sort(order[:n_train]),
                              test_index=np.sort(order[n_train:]))
    task = SimpleNamespace(kind="modular", operation="x+y", prime=p)
    return SimpleNamespace(runs=[SimpleNamespace(task=task)] * len(logits), datasets=[dataset] * len(logits),
                           device=torch.device("cpu"), params={}, buffers={},
                           _forward=lambda params, buffers, x: logits)


def test_the_probe_reads_each_runs_logits_over_every_pair():
    logits = torch.stack([fourier_table({3: 6.0, 5: 5.0}, noise=0.05), fourier_table({}, noise=1.0)])
    probe = PROBES["fourier_progress"].settings(kind="fourier_progress", every=10, key_frequencies=2)
    trainer = _fake_trainer(logits)
    values = fourier_progress(trainer, probe, np.array([True, True]))
    assert set(values) == set(PROBES["fourier_progress"].outputs)
    data, labels = trainer.datasets[0], labels_of()
    keys = torch.tensor([3, 5])
    restricted = kf.restricted_logits(logits[0], kf.sum_directions(P), keys)
    excluded = kf.excluded_logits(logits[0], kf.sum_directions(P), keys)
    train, test = torch.as_tensor(data.train_index), torch.as_tensor(data.test_index)
    assert values["restricted_loss"][0] == pytest.approx(float(kf.cross_entropy(restricted, labels)))
    assert values["restricted_test_loss"][0] == pytest.approx(float(kf.cross_entropy(restricted[test],
                                                                                      labels[test])))
    assert values["excluded_loss"][0] == pytest.approx(float(kf.cross_entropy(excluded[train], labels[train])))
    assert values["frequencies_for_share"].tolist() == [2, math.inf]
    assert values["top_frequency"][0] == 3
    assert values["key_frequency_share"][0] > 0.99 > 0.5 > values["key_frequency_share"][1]
    assert values["restricted_loss"][1] > values["restricted_loss"][0]
    masked = fourier_progress(trainer, probe, np.array([False, True]))
    assert np.isnan(masked["excluded_loss"][0]) and np.isfinite(masked["excluded_loss"][1])


def test_the_probe_refuses_tasks_without_its_directions():
    trainer = _fake_trainer(torch.zeros(1, P * P, P))
    probe = PROBES["fourier_progress"].settings(kind="fourier_progress", every=10, key_frequencies=7)
    with pytest.raises(ValueError, match="only 6"):
        fourier_progress(trainer, probe, np.array([True]))
    trainer.runs[0].task.operation = "x*y"
    with pytest.raises(TypeError, match="x\\+y or x-y"):
        fourier_progress(trainer, probe, np.array([True]))


def test_the_probe_is_logged_by_a_real_trainer_on_nanda_transformer():
    runs = expand_runs(resolved(tiny_spec(
        model={"kind": "nanda_transformer", "d_model": 16, "n_heads": 2, "d_mlp": 32},
        train={"steps": 20, "log_every": 5, "log_points": 0, "checkpoint_every": 10,
               "probes": [{"kind": "fourier_progress", "every": 10, "key_frequencies": 2}]})))
    result = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)
    measured = np.isin(result.steps, [0, 10, 20])
    for name in PROBES["fourier_progress"].outputs:
        values = result.metrics[name]
        assert values.shape == (len(runs), len(result.steps))
        assert not np.isnan(values[:, measured]).any() and np.isnan(values[:, ~measured]).all()
    # an untrained network's logits vary mostly off every frequency's directions: no count reaches 0.9
    assert np.isinf(result.metrics["frequencies_for_share"][:, measured]).all()
    assert (result.metrics["restricted_loss"][:, measured] > 0).all()

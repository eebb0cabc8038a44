"""The fourier_progress probe's measurement (its kind, settings and outputs: grokrepro/probes/fourier_progress.py)."""

from __future__ import annotations

import numpy as np
import torch

from grokrepro.metrics import key_frequencies as kf


def _pair_table(trainer, prime: int) -> torch.Tensor:
    """Every pair (a, b) in row-major order, as the Fourier directions list them; refused otherwise."""
    inputs = np.asarray(trainer.datasets[0].inputs)
    a, b = np.divmod(np.arange(prime * prime), prime)
    if inputs.shape != (prime * prime, 2) or not np.array_equal(inputs, np.stack([a, b], 1)):
        raise TypeError("the fourier_progress probe needs a modular task listing every ordered pair (a, b) "
                        "(not `pairs: unordered`)")
    return torch.as_tensor(inputs, device=trainer.device)


def fourier_progress(trainer, probe, logged) -> dict[str, np.ndarray]:
    """Restricted, restricted-test and excluded loss, the key frequencies' share of the variance, the fewest
    frequencies carrying `share` of it and the strongest frequency, for every run, from its logits on every pair."""
    task = trainer.runs[0].task
    if getattr(task, "kind", None) != "modular" or not kf.supported(task.operation):
        raise TypeError(f"the fourier_progress probe needs a modular x+y or x-y task, not {task}")
    prime = task.prime
    if probe.key_frequencies > kf.n_frequencies(prime):
        raise ValueError(f"the fourier_progress probe keeps {probe.key_frequencies} key frequencies, but p = {prime} "
                         f"has only {kf.n_frequencies(prime)}")
    cache = trainer.__dict__.setdefault("_fourier_progress", {})
    if prime not in cache:
        cache[prime] = (_pair_table(trainer, prime), kf.sum_directions(prime, task.operation).to(trainer.device))
    table, directions = cache[prime]
    with torch.no_grad():
        logits = trainer._forward(trainer.params, trainer.buffers, table.expand(len(trainer.runs), *table.shape))
    logits = logits.double()
    energy, total = kf.frequency_energy(logits, directions)
    keys = kf.key_frequencies(energy, probe.key_frequencies)
    restricted = kf.restricted_logits(logits, directions, keys)
    excluded = kf.excluded_logits(logits, directions, keys)
    out = {name: np.full(len(trainer.runs), np.nan) for name in
           ("restricted_loss", "restricted_test_loss", "excluded_loss")}
    for k, data in enumerate(trainer.datasets):
        labels = torch.as_tensor(data.labels, device=trainer.device)
        train, test = (torch.as_tensor(i, device=trainer.device) for i in (data.train_index, data.test_index))
        out["restricted_loss"][k] = float(kf.cross_entropy(restricted[k], labels))
        out["restricted_test_loss"][k] = float(kf.cross_entropy(restricted[k][test], labels[test]))
        out["excluded_loss"][k] = float(kf.cross_entropy(excluded[k][train], labels[train]))
    key_energy = energy.gather(-1, keys - 1).sum(-1)
    out["key_frequency_share"] = (key_energy / total.clamp_min(1e-300)).cpu().numpy()
    out["frequencies_for_share"] = kf.frequencies_for_share(energy, total, probe.share).cpu().numpy()
    out["top_frequency"] = keys[..., 0].double().cpu().numpy()
    return {name: np.where(logged, value, np.nan) for name, value in out.items()}

"""The relevant_weights probe's measurement (its kind, settings and outputs: grokrepro/probes/relevant_weights.py)."""

from __future__ import annotations

import numpy as np
import torch

FIRST_LAYER = "hidden.0.weight"


def relevant_weight_measures(weight: torch.Tensor, initial: torch.Tensor, relevant: torch.Tensor
                             ) -> dict[str, torch.Tensor]:
    """The four measures for stacked first layers `weight` and `initial` (run, hidden, n_bits) and the relevant
    columns as a (run, n_bits) boolean mask; each a (run,) tensor."""
    weight, initial = weight.double(), initial.double()
    relevant = relevant.to(torch.bool)
    columns = weight.pow(2).sum(1)  # (run, n_bits): each input coordinate's squared norm over the neurons
    moved = (weight - initial).pow(2).sum(1)
    total_moved = moved.sum(1)

    def share(per_column: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        return torch.where(relevant, per_column, 0).sum(1) / total

    norms = columns.sqrt()
    smallest_relevant = torch.where(relevant, norms, torch.inf).amin(1)
    largest_irrelevant = torch.where(relevant, -torch.inf, norms).amax(1)
    ratio = torch.where(torch.isfinite(largest_irrelevant), smallest_relevant / largest_irrelevant, torch.nan)
    return {
        "relevant_weight_share": share(columns, columns.sum(1)),
        "relevant_movement_share": torch.where(total_moved > 0, share(moved, total_moved.clamp_min(1e-300)),
                                               torch.nan),
        "relevant_weight_ratio": ratio,
        "max_weight_movement": (weight - initial).abs().flatten(1).amax(1),
    }


def relevant_weights(trainer, probe, logged) -> dict[str, np.ndarray]:
    """The measures for every run of the group, from its first layer and its dataset's `relevant_bits`."""
    if FIRST_LAYER not in trainer.params:
        raise TypeError(f"the relevant_weights probe reads the first layer {FIRST_LAYER!r} of an mlp over bit "
                        f"vectors; this model has {sorted(trainer.params)}")
    weight = trainer.params[FIRST_LAYER]
    cache = trainer.__dict__.setdefault("_relevant_bits", {})
    if "mask" not in cache:
        mask = np.zeros((len(trainer.runs), weight.shape[-1]), dtype=bool)
        for k, data in enumerate(trainer.datasets):
            if "relevant_bits" not in data.extras:
                raise TypeError("the relevant_weights probe needs a task that names its relevant input bits "
                                "(sparse_parity's `relevant_bits`)")
            mask[k, np.asarray(data.extras["relevant_bits"])] = True
        cache["mask"] = torch.as_tensor(mask, device=weight.device)
    with torch.no_grad():
        measures = relevant_weight_measures(weight, trainer.initial_params[FIRST_LAYER], cache["mask"])
    return {name: np.where(logged, value.cpu().numpy(), np.nan) for name, value in measures.items()}

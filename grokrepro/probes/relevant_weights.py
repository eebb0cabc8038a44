"""The relevant_weights probe: Barak et al.'s (2022) hidden progress on a sparse parity, read in the first layer's
weights. Their Fig. 3 (left, centre) and Fig. 13 watch the weights on the k relevant coordinates grow while loss
and accuracy stay flat, "progress only becomes visible in the loss once the relevant weights become larger than
all of the irrelevant weights" (App. C.3), and their single-number measure is ρ = ||W_t − W_0||_∞.

Columns of the first layer's weight matrix W (hidden × n_bits) are the input coordinates; S is the task's
`relevant_bits` (the dataset extras). At initialisation every share below is about k/n; a network that has found
S puts most of its first-layer weight (and most of its movement) on S's columns."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import ProbeSettings
from grokrepro.registry import PROBES


class RelevantWeights(ProbeSettings):
    kind: Literal["relevant_weights"]


OUTPUTS = {
    "relevant_weight_share": ("1", "share of the first layer's squared weight norm on the relevant input bits' "
                                   "columns (about k/n at initialisation)"),
    "relevant_movement_share": ("1", "share of the first layer's squared movement from initialisation, W − W0, "
                                     "on the relevant columns (NaN before any movement)"),
    "relevant_weight_ratio": ("1", "smallest relevant column norm over the largest irrelevant one (> 1: every "
                                   "relevant bit outweighs every other; NaN when k = n)"),
    "max_weight_movement": ("1", "the paper's ρ: the largest |entry| of the first layer's W − W0"),
}
PROBES.register("relevant_weights", RelevantWeights, "grokrepro.train.parity_probes:relevant_weights",
                outputs=OUTPUTS)

"""The fourier_progress probe: Nanda et al.'s (2023) progress measures for modular addition, read from the
logits over every pair (grokrepro/metrics/key_frequencies.py has the definitions)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from grokrepro.probes._base import ProbeSettings
from grokrepro.registry import PROBES


class FourierProgress(ProbeSettings):
    kind: Literal["fourier_progress"]
    # How many key frequencies the restricted and excluded logits keep or remove (the paper's network uses 5).
    # They are the frequencies carrying the most of the logits' variance at the step measured: the paper fixes
    # those of the final network, which a probe taken during training cannot know yet.
    key_frequencies: int = Field(default=5, gt=0)
    # frequencies_for_share counts the strongest frequencies needed to carry this share of the variance.
    share: float = Field(default=0.9, gt=0, le=1)


OUTPUTS = {
    "restricted_loss": ("nats", "loss on every pair of the logits kept to the key frequencies and the constant"),
    "restricted_test_loss": ("nats", "loss on the test pairs of the logits kept to the key frequencies"),
    "excluded_loss": ("nats", "loss on the training pairs of the logits with the key frequencies removed"),
    "key_frequency_share": ("1", "share of the centred logits' variance in the key frequencies"),
    "frequencies_for_share": ("1", "fewest frequencies carrying the probe's share of the logits' variance "
                                   "(inf: not reached)"),
    "top_frequency": ("1", "the frequency k carrying the most of the logits' variance"),
}
PROBES.register("fourier_progress", FourierProgress, "grokrepro.train.fourier_probes:fourier_progress",
                outputs=OUTPUTS)

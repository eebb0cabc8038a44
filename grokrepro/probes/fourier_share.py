"""The fourier_share probe: share of the logits in the operation's trigonometric subspace."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class FourierShare(BuiltInProbe):
    kind: Literal["fourier_share"]


OUTPUTS = {
    "fourier_share": ('1', "share of the centred logits' norm in the task's Fourier subspace"),
}
PROBES.register("fourier_share", FourierShare, "grokrepro.train.probes:fourier_share", outputs=OUTPUTS)

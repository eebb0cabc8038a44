"""The softmax_collapse probe: share of training examples whose loss is exactly 0 in the loss dtype (Prieto et al. 2025)."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class SoftmaxCollapse(BuiltInProbe):
    kind: Literal["softmax_collapse"]


OUTPUTS = {
    "softmax_collapse": ("1", "share of training examples with loss exactly 0"),
}
PROBES.register("softmax_collapse", SoftmaxCollapse, "grokrepro.train.probes:softmax_collapse", outputs=OUTPUTS)

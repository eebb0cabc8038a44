"""The lmn probe: linear mapping number of the first hidden layer to the logits (Liu et al. 2023)."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class Lmn(BuiltInProbe):
    kind: Literal["lmn"]


OUTPUTS = {
    "lmn": ("1", "linear mapping number, first hidden layer to logits"),
}
PROBES.register("lmn", Lmn, "grokrepro.train.probes:lmn", outputs=OUTPUTS)

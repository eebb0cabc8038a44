"""The ntk_alignment probe: centred alignment of the current eNTK with the test labels."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class NtkAlignment(BuiltInProbe):
    kind: Literal["ntk_alignment"]


OUTPUTS = {
    "ntk_alignment": ("1", "centred alignment of the eNTK with the test labels"),
}
PROBES.register("ntk_alignment", NtkAlignment, "grokrepro.train.probes:ntk_alignment", outputs=OUTPUTS)

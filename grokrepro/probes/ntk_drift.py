"""The ntk_drift probe: how far the eNTK has moved from its start, scale-free and raw, with an independent init's distance as unit."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class NtkDrift(BuiltInProbe):
    kind: Literal["ntk_drift"]


OUTPUTS = {
    "ntk_drift": ("1", "scale-free eNTK distance from its start"),
    "ntk_drift_raw": ("1", "relative eNTK distance from its start"),
    "ntk_drift_ref": ("1", "scale-free eNTK distance between two independent inits"),
}
PROBES.register("ntk_drift", NtkDrift, "grokrepro.train.probes:ntk_drift", outputs=OUTPUTS)

"""The linearised_curve probe: train and test loss of the network's linearisation around its init, trained alike."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class LinearisedCurve(BuiltInProbe):
    kind: Literal["linearised_curve"]


OUTPUTS = {
    "linearised_train_loss": ("1", "training loss of the linearised network"),
    "linearised_test_loss": ("1", "test loss of the linearised network"),
}
PROBES.register("linearised_curve", LinearisedCurve, "grokrepro.train.probes:linearised_curve", outputs=OUTPUTS)

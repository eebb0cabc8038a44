"""The kernel_regression probe: test loss of kernel regression with the current eNTK (at step 0: the lazy baseline)."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class KernelRegression(BuiltInProbe):
    kind: Literal["kernel_regression"]


OUTPUTS = {
    "kernel_test_loss": ("1", "test loss of kernel regression with the current eNTK"),
    "kernel_test_acc": ("1", "test accuracy of kernel regression with the current eNTK"),
}
PROBES.register("kernel_regression", KernelRegression, "grokrepro.train.probes:kernel_regression", outputs=OUTPUTS)

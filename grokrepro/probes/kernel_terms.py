"""The kernel_terms probe: Kumar et al.'s sufficient statistics and exact population-loss terms of the lazy quadratic network."""

from __future__ import annotations

from typing import Literal

from grokrepro.probes._base import BuiltInProbe
from grokrepro.registry import PROBES


class KernelTerms(BuiltInProbe):
    kind: Literal["kernel_terms"]


OUTPUTS = {
    "variance_error": ("1", "population loss: variance error term"),
    "misalignment": ("1", "population loss: misalignment term"),
    "linear_power": ("1", "population loss: linear power term"),
    "population_loss": ("1", "exact population loss"),
    "trace_m": ("1", "trace of the second-moment matrix M (less its initial value when centred)"),
    "mean_weight_norm": ("1", "norm of the mean first-layer weight (less its initial value when centred)"),
}
PROBES.register("kernel_terms", KernelTerms, "grokrepro.train.probes:kernel_terms", outputs=OUTPUTS)

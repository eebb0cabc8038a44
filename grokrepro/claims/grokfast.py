"""Lee et al. 2024 (Grokfast): amplifying the slow part of the gradient brings the step at which test accuracy
reaches 0.95 forward many times over, against the same optimiser (same learning rate, same weight decay)
without the filter."""

from __future__ import annotations

import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

# The general kind `generalises_sooner` computes it; this kind keeps the claim's names and defaults. (Read as
# `general.speedup_result` when called: importing the registry imports every claim module, general's too.)
from grokrepro.claims import general
from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import CheckResult


class SpeedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # the sweep axis whose values name the arms (named optimizer variants: coordinate `optimizer`)
    axis: str = "optimizer"
    treated: str = "ema"
    baseline: str = "plain"
    gen_acc: float = Field(0.95, gt=0, le=1)
    min_speedup: float = Field(5.0, gt=1)
    min_seeds: int = Field(2, ge=1)


@check("speedup_to_generalise", SpeedupParams,
       requires=Requires(axes={"{axis}": "any"}, arms={"{axis}": ("{treated}", "{baseline}")}, metrics=("test_acc",)))
def speedup_to_generalise(curves: xr.Dataset, spec_check, params: SpeedupParams) -> CheckResult:
    """Median over seeds of the baseline's t_gen over the treated arm's (t_gen: first logged step with test
    accuracy >= gen_acc) is >= min_speedup, seeds paired; bootstrap interval over seeds."""
    return general.speedup_result(curves, spec_check, params.axis, params.treated, params.baseline, "test_acc",
                                  params.gen_acc, params.min_speedup, params.min_seeds)

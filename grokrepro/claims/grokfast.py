"""Lee, Kang, Kim, Lee 2024 (Grokfast, arXiv:2405.20233).

What the paper says, in its words:
- Abstract: "This analysis allows us to accelerate the grokking phenomenon more than ×50 with only a few lines of
  code that amplifies the slow-varying components of gradients."
- Hypothesis (p. 2): "amplifying this low-frequency component of G(ω) accelerates the speed of generalization
  under the grokking phenomenon". Grokfast-MA (Algorithm 1) adds λ times the mean of the last w gradients,
  Grokfast-EMA (Algorithm 2) λ times their exponential moving average, to the gradient before the optimiser.
- Sec. 2.2: Grokfast-MA with w = 100, λ = 5 reaches 0.95 validation accuracy ×13.57 sooner than the baseline,
  both without weight decay, the one filter-only figure at the same weight decay.
- p. 5: "We choose this result of ×50.49 faster grokking to be our main demonstration" (MA with weight decay
  0.01), ×3.72 faster "than Grokfast-MA with no weight decay"; Fig. 7: "applying the same weight decay with no
  Grokfast-MA (brown) makes the training unstable". The EMA result (α 0.98, λ 2) is ×43.84 with weight decay
  0.005, against the same baseline without weight decay (the authors' README commands).
- Sec. 5.1: Algorithm 2 resembles momentum, but the smoothed gradient is "added to the gradient before it is fed
  into the optimizer".

The authors' optimiser is torch.optim.Adam, whose weight decay is an L2 term added to the gradient inside
step(), after the filter has changed p.grad (the transformation `l2_coupled`, after the filter). So the printed
×43.84 and ×50.49 compare the filter *and* the L2 term against neither; the check below compares the filter
against the same optimiser, learning rate and weight decay without it, and its controls ask whether a larger
step (Adam cancels a constant gain, so the filter's step gain is measured, not 1 + λ) or Adam's momentum at the
filter's α gives the same.
"""

from __future__ import annotations

import xarray as xr
from pydantic import Field

# The general kind `generalises_sooner` computes it; this kind keeps the claim's names and defaults. (Read as
# `general.speedup_result` when called: importing the registry imports every claim module, general's too.)
from grokrepro.claims import general
from grokrepro.claims.kit import Generalises
from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import CheckResult


class SpeedupParams(Generalises):
    # the sweep axis whose values name the arms (named optimizer variants: coordinate `optimizer`)
    axis: str = "optimizer"
    treated: str = "ema"
    baseline: str = "plain"
    min_speedup: float = Field(5.0, gt=1)
    min_seeds: int = Field(2, ge=1)


@check("speedup_to_generalise", SpeedupParams,
       requires=Requires(axes={"{axis}": "any"}, arms={"{axis}": ("{treated}", "{baseline}")}, metrics=("test_acc",)))
def speedup_to_generalise(curves: xr.Dataset, spec_check, params: SpeedupParams) -> CheckResult:
    """Median over seeds of the baseline's t_gen over the treated arm's (t_gen: first logged step with test
    accuracy >= gen_acc) is >= min_speedup, seeds paired; bootstrap interval over seeds."""
    return general.speedup_result(curves, spec_check, params.axis, params.treated, params.baseline, "test_acc",
                                  params.gen_acc, params.min_speedup, params.min_seeds)
